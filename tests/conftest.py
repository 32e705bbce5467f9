"""Shared fixtures: run a test on each kernel ISA and with a given thread count.

Hypothesis runs under the profile named by the environment variable PYCONVNET_HYPOTHESIS_PROFILE:
  ci (default)  derandomised: the same examples on every run, so a failure in CI reproduces and
                does not come and go between runs; no example database is read or written.
  dev           random examples on each run (a new search every time; failures are saved in
                .hypothesis/ and replayed first), for looking for new bugs locally.
Both keep each test's own @settings(max_examples=...), so the suite takes the same time.
Example: PYCONVNET_HYPOTHESIS_PROFILE=dev python -m pytest tests/test_conv2d.py
"""

from __future__ import annotations

import contextlib
import os

import pytest

import pyconvnet
from pyconvnet import _C

try:
    from hypothesis import settings as _hyp_settings
except ImportError:  # hypothesis is a test extra; the tests that use it import it themselves
    _hyp_settings = None

if _hyp_settings is not None:
    _hyp_settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
    _hyp_settings.register_profile("dev", deadline=None)
    _hyp_settings.load_profile(os.environ.get("PYCONVNET_HYPOTHESIS_PROFILE", "ci"))

ISAS = ["ref", "avx2", "avx512"]  # every tier; supported_isas() is what this CPU can run


def supported_isas() -> list[str]:
    """The tiers this build and CPU can run, lowest first."""
    return list(_C.supported_isas())


@pytest.fixture(params=ISAS)
def isa(request):
    """Runs the test once per kernel ISA; a tier the CPU lacks is skipped naming what is missing."""
    missing = _C.isa_missing(request.param)
    if missing:
        pytest.skip(f"CPU cannot run the {request.param} tier (missing: {missing})")
    with use_isa(request.param):
        yield request.param


@contextlib.contextmanager
def use_isa(name: str):
    before = _C.isa()
    _C.set_isa(name)
    try:
        yield
    finally:
        _C.set_isa(before)


@contextlib.contextmanager
def threads(n: int):
    before = pyconvnet.get_num_threads()
    pyconvnet.set_num_threads(n)
    try:
        yield
    finally:
        pyconvnet.set_num_threads(before)


def same_for_thread_counts(fn, counts=(1, 2, 3)):
    """Calls fn() under each thread count; asserts every result is bit-identical; returns it."""
    results = []
    for n in counts:
        with threads(n):
            results.append(fn())
    first = results[0]
    for n, r in zip(counts[1:], results[1:]):
        a = first if isinstance(first, tuple) else (first,)
        b = r if isinstance(r, tuple) else (r,)
        for x, y in zip(a, b):
            if x is None:
                assert y is None
                continue
            assert x.tobytes() == y.tobytes(), f"result with {n} threads differs from 1 thread"
    return first


def call_from_threads(fn, work):
    """fn(item) for every item of work[t] from len(work) Python threads released together, each
    thread taking its items in order; returns the results as got[t][r]. An exception in any
    thread fails the caller's test here (an assert inside a thread would be lost)."""
    import threading

    got = [[None] * len(items) for items in work]
    errors = []
    start = threading.Barrier(len(work))

    def worker(t):
        try:
            start.wait()
            for r, item in enumerate(work[t]):
                got[t][r] = fn(item)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(len(work))]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    assert not errors, errors
    return got


def run_python(args, timeout=120, env=None, **kwargs):
    """Runs a Python subprocess that imports the same pyconvnet as this test session."""
    import os
    import pathlib
    import subprocess
    import sys

    e = dict(os.environ if env is None else env)
    root = str(pathlib.Path(pyconvnet.__file__).resolve().parent.parent)
    e["PYTHONPATH"] = root + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    # `-c`/`-m` put the working directory first on sys.path: run where the tested package lives,
    # so a source checkout without the compiled _C never shadows an installed pyconvnet.
    kwargs.setdefault("cwd", root)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          env=e, **kwargs)


def load_example(name: str):
    """Imports examples/<name>.py (the examples are scripts, not a package)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
