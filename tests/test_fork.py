"""A process forked after kernels ran threads must not hang (libgomp's pool is not fork-safe)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from conftest import run_python

CHILD_AFTER_THREADS = textwrap.dedent("""
    import os, warnings
    import numpy as np
    import pyconvnet, pyconvnet.functional as F
    pyconvnet.set_num_threads(2)
    x = np.random.default_rng(0).standard_normal((4, 16, 24, 24)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((32, 16, 3, 3)).astype(np.float32)
    parent = F.conv2d(x, w, padding=1)
    pid = os.fork()
    if pid == 0:
        ok = F.conv2d(x, w, padding=1).tobytes() == parent.tobytes()
        ok = ok and pyconvnet.get_num_threads() == 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pyconvnet.set_num_threads(2)
        ok = ok and any("forked" in str(c.message) for c in caught)
        ok = ok and F.conv2d(x, w, padding=1).tobytes() == parent.tobytes()
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, status
    print("ok")
""")

SERVING_CHILD = textwrap.dedent("""
    import os
    import numpy as np
    import pyconvnet
    from pyconvnet.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
    pyconvnet.set_num_threads(2)
    pyconvnet.manual_seed(0)
    model = pyconvnet.Sequential([Conv2d(3, 16, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(),
                                  Linear(16 * 8 * 8, 10)], input_shape=(3, 16, 16))
    serving = pyconvnet.InferenceModel(model)
    x = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    parent = serving.predict(x)     # starts the serving pool's worker threads
    pid = os.fork()
    if pid == 0:                    # the workers do not exist here
        ok = serving.predict(x).tobytes() == parent.tobytes()
        os._exit(0 if ok else 3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, status
    assert serving.predict(x).tobytes() == parent.tobytes()
    print("ok")
""")

POOL = textwrap.dedent("""
    import multiprocessing as mp
    import numpy as np
    import pyconvnet, pyconvnet.functional as F

    def work(seed):
        x = np.random.default_rng(seed).standard_normal((2, 8, 16, 16)).astype(np.float32)
        w = np.ones((4, 8, 3, 3), np.float32)
        return F.conv2d(x, w, padding=1).sum()

    if __name__ == "__main__":
        pyconvnet.set_num_threads(2)
        expected = [work(s) for s in range(4)]
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, range(4))
        assert np.allclose(got, expected)
        print("ok")
""")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
@pytest.mark.parametrize("script", [CHILD_AFTER_THREADS, SERVING_CHILD, POOL],
                         ids=["os.fork", "serving-pool", "multiprocessing-fork"])
def test_forked_child_finishes(tmp_path, script):
    path = tmp_path / "child.py"
    path.write_text(script)
    out = run_python([str(path)])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_child_without_parent_threads_keeps_its_thread_count(tmp_path):
    script = textwrap.dedent("""
        import os
        import pyconvnet
        pyconvnet.set_num_threads(2)   # no kernel ran yet: the OpenMP pool does not exist
        pid = os.fork()
        if pid == 0:
            os._exit(0 if pyconvnet.get_num_threads() == 2 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
        print("ok")
    """)
    path = tmp_path / "child.py"
    path.write_text(script)
    out = run_python([str(path)])
    assert out.returncode == 0, out.stderr


PRE_FORK = textwrap.dedent("""
    import os, sys, threading
    import numpy as np
    import pyconvnet
    from pyconvnet.layers import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU
    pyconvnet.set_num_threads(2)
    pyconvnet.manual_seed(0)
    model = pyconvnet.Sequential([Conv2d(3, 16, 3, padding=1), BatchNorm2d(16), ReLU(), MaxPool2d(2),
                                  Flatten(), Linear(16 * 8 * 8, 10)], input_shape=(3, 16, 16))
    model.eval()
    serving = pyconvnet.InferenceModel(model)
    x = np.random.default_rng(0).standard_normal((7, 3, 16, 16)).astype(np.float32)
    # The parent serves first (OpenMP teams and the serving pool start), then forks its workers.
    parent = model.predict(x), serving.predict(x)
    workers = []
    for k in range(3):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                      # a worker: answers requests on two threads, then exits
            os.close(r)
            got = []
            def handle():
                got.append((model.predict(x), serving.predict(x)))
            ts = [threading.Thread(target=handle) for _ in range(2)]
            [t.start() for t in ts]
            [t.join() for t in ts]
            handle()
            ok = len(got) == 3 and all(a.tobytes() == parent[0].tobytes() and b.tobytes() == parent[1].tobytes()
                                       for a, b in got)
            os.write(w, b"1" if ok else b"0")
            os.close(w)
            sys.exit(0)                   # a normal interpreter exit, as gunicorn's workers do
        os.close(w)
        workers.append((pid, r))
    for pid, r in workers:
        answer = os.read(r, 1)
        _, status = os.waitpid(pid, 0)
        assert answer == b"1" and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (answer, status)
    # The parent still serves with its threads, the same bits.
    assert model.predict(x).tobytes() == parent[0].tobytes() and serving.predict(x).tobytes() == parent[1].tobytes()
    print("ok")
""")


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_pre_fork_workers_after_the_parent_served(tmp_path):
    path = tmp_path / "prefork.py"
    path.write_text(PRE_FORK)
    out = run_python([str(path)], timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")
