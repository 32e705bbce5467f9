"""The hypothesis profile from tests/conftest.py is in force: CI examples are derandomised."""

from __future__ import annotations

import os

import pytest

hypothesis = pytest.importorskip("hypothesis")


def test_default_profile_is_derandomised():
    name = os.environ.get("PYCONVNET_HYPOTHESIS_PROFILE", "ci")
    if name != "ci":
        pytest.skip(f"profile {name!r} chosen by PYCONVNET_HYPOTHESIS_PROFILE")
    current = hypothesis.settings.default
    assert current.derandomize, "the ci profile must fix the examples so a failure reproduces"
    assert current.database is None
    assert current.deadline is None


def test_per_test_settings_inherit_the_profile():
    # @settings(max_examples=...) on a test keeps its count and inherits derandomize from the profile
    if os.environ.get("PYCONVNET_HYPOTHESIS_PROFILE", "ci") != "ci":
        pytest.skip("non-default profile")
    s = hypothesis.settings(max_examples=40)
    assert s.max_examples == 40 and s.derandomize
