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


# --- defaults from the affinity mask and the cgroup quota (pyconvnet/_threads.py) ---------------

from pyconvnet import _threads  # noqa: E402


def _tree(tmp_path, files, proc="0::/\n"):
    for rel, text in files.items():
        p = tmp_path / "cg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "cg").mkdir(exist_ok=True)
    (tmp_path / "proc_cgroup").write_text(proc)
    return str(tmp_path / "cg"), str(tmp_path / "proc_cgroup")


@pytest.mark.parametrize("files,proc,expected", [
    ({"cpu.max": "150000 100000\n"}, "0::/\n", 2),            # v2: ceil(1.5)
    ({"cpu.max": "max 100000\n"}, "0::/\n", None),             # v2: no quota
    ({"cpu.max": "20000 100000\n"}, "0::/\n", 1),             # a fraction of a CPU: at least 1
    # v2 nested: the tightest quota on the way up to the root counts
    ({"cpu.max": "800000 100000\n", "a/b/cpu.max": "max 100000\n", "a/cpu.max": "300000 100000\n"},
     "0::/a/b\n", 3),
    ({"cpu/cpu.cfs_quota_us": "250000\n", "cpu/cpu.cfs_period_us": "100000\n"},
     "4:cpu,cpuacct:/\n0::/\n", 3),                            # v1
    ({"cpu/svc/cpu.cfs_quota_us": "-1\n", "cpu/svc/cpu.cfs_period_us": "100000\n",
      "cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
     "4:cpu,cpuacct:/svc\n", None),                            # v1: -1 means no quota
    ({"cpu.max": "garbage\n"}, "0::/\n", None),
    ({}, "", None),                                            # no cgroup files at all
])
def test_cgroup_cpu_limit_reads_v1_and_v2(tmp_path, files, proc, expected):
    root, proc_path = _tree(tmp_path, files, proc)
    assert _threads.cgroup_cpu_limit(root, proc_path) == expected


def test_usable_cores_is_the_smaller_of_affinity_and_quota(tmp_path):
    affinity = len(os.sched_getaffinity(0))
    root, proc = _tree(tmp_path, {"cpu.max": "100000 100000\n"})
    assert _threads.usable_cores(root, proc) == 1
    root, proc = _tree(tmp_path, {"cpu.max": f"{100000 * (affinity + 5)} 100000\n"})
    assert _threads.usable_cores(root, proc) == affinity


def test_default_follows_a_narrowed_affinity_mask():
    cpu = sorted(os.sched_getaffinity(0))[0]
    code = (f"import os; os.sched_setaffinity(0, {{{cpu}}}); import pyconvnet; "
            "print(pyconvnet.get_num_threads(), pyconvnet._threads.max_threads())")
    assert _run(code) == "1 4"


@pytest.mark.parametrize("value,expected,warns", [
    ("99999999999", "cap", True),
    ("abc", "cores", True),
    ("0", "cores", True),
    ("1,2", "1", False),
])
def test_omp_num_threads_is_validated_and_capped(value, expected, warns):
    e = dict(os.environ, OMP_NUM_THREADS=value)
    out = run_python(["-W", "always", "-c", "import pyconvnet; print(pyconvnet.get_num_threads())"], env=e)
    assert out.returncode == 0, out.stderr
    want = {"cap": str(_threads.max_threads()), "cores": str(_threads.usable_cores())}.get(expected, expected)
    assert out.stdout.strip() == want
    assert ("RuntimeWarning" in out.stderr and "OMP_NUM_THREADS" in out.stderr) == warns


def test_set_num_threads_clamps_to_the_cap_with_a_warning():
    with threads(1):
        with pytest.warns(RuntimeWarning, match="asks for 1000000000 threads; using"):
            pyconvnet.set_num_threads(10**9)
        assert pyconvnet.get_num_threads() == _threads.max_threads()


def test_no_more_threads_than_cap_or_work_units():
    # A depthwise conv over 4,000 planes with the count asked at 10**9: the threads alive after it
    # are at most the cap (OpenMP team) plus the serving pool, not one per plane.
    code = (
        "import os, warnings, numpy as np, pyconvnet, pyconvnet.functional as F\n"
        "warnings.simplefilter('ignore')\n"
        "base = len(os.listdir('/proc/self/task'))\n"
        "pyconvnet.set_num_threads(10**9)\n"
        "x = np.ones((1, 4000, 6, 6), np.float32); w = np.ones((4000, 1, 3, 3), np.float32)\n"
        "F.conv2d(x, w, padding=1, groups=4000)\n"
        "F.conv2d(x[:, :3], w[:3], padding=1, groups=3)\n"
        "print(len(os.listdir('/proc/self/task')) - base, pyconvnet.get_num_threads())\n"
    )
    extra, nt = map(int, _run(code).split())
    assert nt == _threads.max_threads()
    assert 0 <= extra <= nt - 1


_REFUSED_THREADS = """
import resource, sys, numpy as np, pyconvnet, pyconvnet.functional as F
from pyconvnet import layers as L
x = np.random.default_rng(0).standard_normal((2, 400, 8, 8)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((400, 1, 3, 3)).astype(np.float32)
model = pyconvnet.Sequential([L.Conv2d(400, 8, 3, padding=1), L.ReLU(), L.Flatten(), L.Linear(512, 3)])
model.eval()
pyconvnet.set_num_threads(1)
ref = F.conv2d(x, w, padding=1, groups=400), model.predict(x)
pyconvnet.set_num_threads(pyconvnet._threads.max_threads())
size = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')) * 1024
# Address space for about one more thread stack: the system refuses the rest of a team.
resource.setrlimit(resource.RLIMIT_AS, (size + (12 << 20),) * 2)
out = F.conv2d(x, w, padding=1, groups=400), model.predict(x)
print(all(a.tobytes() == b.tobytes() for a, b in zip(out, ref)))
"""


def test_refused_threads_fall_back_instead_of_ending_the_process():
    # libgomp exits the process when pthread_create fails; the team is checked first.
    assert _run(_REFUSED_THREADS) == "True"


# --- threadpool_limits -----------------------------------------------------------------------

def test_threadpool_limits_sets_and_restores_and_nests():
    with threads(2):
        with pyconvnet.threadpool_limits(1) as lim:
            assert pyconvnet.get_num_threads() == 1 and lim.n == 1
            with pyconvnet.threadpool_limits(3):
                assert pyconvnet.get_num_threads() == 3
            assert pyconvnet.get_num_threads() == 1
        assert pyconvnet.get_num_threads() == 2


def test_threadpool_limits_restores_after_an_exception():
    with threads(2):
        with pytest.raises(RuntimeError):
            with pyconvnet.threadpool_limits(1):
                raise RuntimeError("boom")
        assert pyconvnet.get_num_threads() == 2


def test_threadpool_limits_overlapping_in_two_threads_restore_the_first_value():
    # A enters, B enters, A exits (B's limit stays in effect), B exits (the value before A returns).
    with threads(2):
        a, b = pyconvnet.threadpool_limits(1), pyconvnet.threadpool_limits(3)
        seen = []
        a.__enter__()
        t = threading.Thread(target=b.__enter__)
        t.start(); t.join()
        a.__exit__(None, None, None)
        seen.append(pyconvnet.get_num_threads())
        t = threading.Thread(target=b.__exit__, args=(None, None, None))
        t.start(); t.join()
        seen.append(pyconvnet.get_num_threads())
        assert seen == [3, 2]


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (2.0, TypeError), (True, TypeError), (None, TypeError)])
def test_threadpool_limits_rejects_bad_values(bad, exc):
    with pytest.raises(exc, match="n must be"):
        pyconvnet.threadpool_limits(bad)


def test_threadpoolctl_sees_and_limits_the_pool():
    threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3")
    info = [d for d in threadpoolctl.threadpool_info() if d["user_api"] == "pyconvnet"]
    assert len(info) == 1
    assert info[0]["num_threads"] == pyconvnet.get_num_threads()
    assert os.path.basename(info[0]["filepath"]) == os.path.basename(_C.__file__)
    with threads(2):
        with threadpoolctl.threadpool_limits(1):
            assert pyconvnet.get_num_threads() == 1
        assert pyconvnet.get_num_threads() == 2
        with threadpoolctl.threadpool_limits({"pyconvnet": 1}):
            assert pyconvnet.get_num_threads() == 1
        assert pyconvnet.get_num_threads() == 2


# --- another OpenMP runtime in the same process ------------------------------------------------

_CO_IMPORT = """
import importlib, sys
import numpy as np
first, others = sys.argv[1], sys.argv[2:]
mods = {}
order = [first] + [m for m in ["pyconvnet"] + others if m != first]
for name in order:
    mods[name] = importlib.import_module(name)
import pyconvnet, pyconvnet.functional as F
x = np.random.default_rng(0).standard_normal((4, 16, 20, 20)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((16, 1, 3, 3)).astype(np.float32)
w2 = np.random.default_rng(2).standard_normal((32, 16, 3, 3)).astype(np.float32)
with pyconvnet.threadpool_limits(1):
    ref = F.conv2d(x, w2, padding=1), F.conv2d(x, w, padding=1, groups=16)
pyconvnet.set_num_threads(2)
for round in range(3):
    ours = F.conv2d(x, w2, padding=1), F.conv2d(x, w, padding=1, groups=16)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(ours, ref))
    if "torch" in mods:
        torch = mods["torch"]
        torch.set_num_threads(2)
        t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w2), padding=1).numpy()
        assert np.allclose(t, ref[0], rtol=1e-4, atol=1e-3)
    if "sklearn" in mods:
        from sklearn.cluster import KMeans
        KMeans(n_clusters=3, n_init=2, random_state=0).fit(x.reshape(64, -1))
print("ok", " ".join(order))
"""


@pytest.mark.parametrize("first", ["pyconvnet", "other"])
def test_import_with_torch_and_sklearn_openmp_runtimes(first):
    import importlib.util

    others = [m for m in ("torch", "sklearn") if importlib.util.find_spec(m) is not None]
    if not others:
        pytest.skip("neither torch nor scikit-learn is installed")
    lead = "pyconvnet" if first == "pyconvnet" else others[0]
    out = run_python(["-c", _CO_IMPORT, lead, *others], timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
