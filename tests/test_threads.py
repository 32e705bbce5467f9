"""Thread-count control, determinism across thread counts and concurrent callers."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C
from conftest import run_python, threads


def test_set_and_get():
    with threads(3):
        assert pyconvnet.get_num_threads() == 3
    with threads(1):
        assert pyconvnet.get_num_threads() == 1


@pytest.mark.parametrize("bad,exc,pattern", [
    (0, ValueError, "n must be >= 1, got 0"),
    (-2, ValueError, "n must be >= 1"),
    (1.5, TypeError, "n must be an int"),
    ("2", TypeError, "n must be an int"),
    (True, TypeError, "n must be an int, got bool"),
])
def test_set_rejects_bad_values(bad, exc, pattern):
    with pytest.raises(exc, match=pattern):
        pyconvnet.set_num_threads(bad)


def _run(code: str, **env):
    e = dict(os.environ)
    e.pop("OMP_NUM_THREADS", None)
    e.update(env)
    out = run_python(["-c", code], env=e)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_default_is_omp_num_threads_or_usable_cores():
    assert _run("import pyconvnet; print(pyconvnet.get_num_threads())", OMP_NUM_THREADS="3") == "3"
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert _run("import pyconvnet; print(pyconvnet.get_num_threads())") == str(expected)


def test_value_set_in_one_python_thread_reaches_kernels_in_another():
    with threads(3):
        seen = []
        t = threading.Thread(target=lambda: seen.append(pyconvnet.get_num_threads()))
        t.start()
        t.join()
        assert seen == [3]


def test_many_python_threads_get_serial_answers():
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(12):
        x = rng.standard_normal((2, 8, 16, 16)).astype(np.float32)
        w = rng.standard_normal((12, 8, 3, 3)).astype(np.float32)
        jobs.append((x, w))
    with threads(2):
        serial = [F.conv2d(x, w, padding=1) for x, w in jobs]
        serial_gemm = [_C.sgemm(x.reshape(64, -1), np.ascontiguousarray(w.reshape(-1, 72)[:, :64].T)) for x, w in jobs]

        def work(i):
            x, w = jobs[i]
            return F.conv2d(x, w, padding=1), _C.sgemm(x.reshape(64, -1), np.ascontiguousarray(w.reshape(-1, 72)[:, :64].T))

        with ThreadPoolExecutor(max_workers=6) as pool:
            for _ in range(3):
                results = list(pool.map(work, range(len(jobs)), timeout=120))
                for (conv, gemm), s_conv, s_gemm in zip(results, serial, serial_gemm):
                    assert conv.tobytes() == s_conv.tobytes()
                    assert gemm.tobytes() == s_gemm.tobytes()


def test_show_config_reports_isa_openmp_and_threads(capsys):
    pyconvnet.show_config()
    out = capsys.readouterr().out
    assert "isa" in out and _C.isa() in out
    assert "openmp" in out and "num_threads" in out
    assert str(pyconvnet.get_num_threads()) in out
