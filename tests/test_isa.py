"""ISA selection: CPU detection, the PYCONVNET_ISA override and run-time switching."""

from __future__ import annotations

import os

import pytest

from pyconvnet import _C
from conftest import run_python


def _isa_in_subprocess(value):
    env = dict(os.environ)
    env.pop("PYCONVNET_ISA", None)
    if value is not None:
        env["PYCONVNET_ISA"] = value
    out = run_python(["-c", "import pyconvnet; print(pyconvnet._C.isa())"], env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_env_var_forces_portable_path():
    assert _isa_in_subprocess("ref") == "ref"


def test_default_follows_cpu_detection():
    assert _isa_in_subprocess(None) == ("avx2" if _C.cpu_has_avx2_fma() else "ref")


def test_set_isa_validates():
    with pytest.raises(ValueError, match="isa must be 'ref' or 'avx2'"):
        _C.set_isa("sse9")


def test_switching_changes_the_reported_isa(isa):
    assert _C.isa() == isa


def test_import_keeps_subnormals_working():
    # Built without -ffast-math: loading the extension must not set flush-to-zero/DAZ.
    import numpy as np

    tiny = np.finfo(np.float32).tiny
    half = np.float32(tiny) / np.float32(2)
    assert half > 0
    assert np.float32(half) * np.float32(2) == tiny
