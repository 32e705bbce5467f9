"""Side-by-side timing of the ISA tiers (and numpy/torch) on SGEMM and convolution shapes.

    python benchmarks/compare_isa_gemm.py [threads ...]

Each case is timed alternately under each tier in one process (best of many rounds), so the
ratios hold on a busy machine better than separate runs would. Prints GFLOP/s.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import pyconvnet
from pyconvnet import _C

try:
    import torch
except ImportError:  # torch is only a reference point
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # numpy's BLAS then keeps its own thread count
    threadpool_limits = None

GEMMS = [(1024, 1024, 1024), (64, 16384, 576), (256, 196, 2304)]  # m, n, k


def best(fn, rounds, reps=1):
    t = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        t = min(t, (time.perf_counter() - t0) / reps)
    return t


def timed_tiers(fns, rounds):
    """fns: name -> (callable, isa or None). Alternates between them round by round."""
    times = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for name, (fn, isa) in fns.items():
            if isa:
                _C.set_isa(isa)
            t0 = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - t0)
    return times


def main():
    counts = [int(a) for a in sys.argv[1:]] or [1, 2]
    tiers = [t for t in ("avx2", "avx512") if not _C.isa_missing(t)]
    rng = np.random.default_rng(0)
    for nt in counts:
        if threadpool_limits is not None:
            threadpool_limits(limits=nt, user_api="blas")
        pyconvnet.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for m, n, k in GEMMS:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            out = np.empty((m, n), np.float32)
            fns = {t: (lambda: _C.sgemm(a, b, out=out), t) for t in tiers}
            if (m, n, k) == (1024, 1024, 1024):
                fns["numpy"] = (lambda: np.matmul(a, b), None)
                if torch is not None:
                    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                    fns["torch"] = (lambda: torch.mm(ta, tb), None)
            for f, isa in fns.values():  # warm up
                if isa:
                    _C.set_isa(isa)
                f()
            times = timed_tiers(fns, 40)
            flops = 2 * m * n * k
            line = "  ".join(f"{name} {flops / t / 1e9:7.1f}" for name, t in times.items())
            ratio = times["avx2"] / times["avx512"] if "avx512" in times else float("nan")
            print(f"threads={nt} sgemm m={m} n={n} k={k}: GFLOP/s {line}  avx512/avx2 {ratio:.2f}x", flush=True)
        # conv2d 3x3 64->64 on 14x14, batch 64, stride 1, pad 1
        x = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
        w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32) * 0.05
        bias = np.zeros(64, np.float32)
        gy = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
        flops = 2 * 64 * 64 * 64 * 9 * 14 * 14
        cases = {
            "3x3 fwd": lambda: _C.conv2d_forward(x, w, bias, (1, 1), (1, 1, 1, 1), (1, 1), 1, False),
            "3x3 bwd dx": lambda: _C.conv2d_backward(x, w, gy, (1, 1), (1, 1, 1, 1), (1, 1), 1, True, False, False),
            "3x3 bwd dw": lambda: _C.conv2d_backward(x, w, gy, (1, 1), (1, 1, 1, 1), (1, 1), 1, False, True, False),
        }
        # 1x1 256->64 (pointwise: the GEMM path in forward, dx and dW)
        xp = rng.standard_normal((64, 256, 14, 14)).astype(np.float32)
        wp = rng.standard_normal((64, 256, 1, 1)).astype(np.float32) * 0.05
        gp = rng.standard_normal((64, 64, 14, 14)).astype(np.float32)
        pw_flops = 2 * 64 * 256 * 64 * 14 * 14
        cases["1x1 fwd"] = lambda: _C.conv2d_forward(xp, wp, bias, (1, 1), (0, 0, 0, 0), (1, 1), 1, False)
        cases["1x1 bwd dx"] = lambda: _C.conv2d_backward(xp, wp, gp, (1, 1), (0, 0, 0, 0), (1, 1), 1, True, False, False)
        cases["1x1 bwd dw"] = lambda: _C.conv2d_backward(xp, wp, gp, (1, 1), (0, 0, 0, 0), (1, 1), 1, False, True, False)
        for name, fn in cases.items():
            shape = "256->64 14x14 batch 64" if name.startswith("1x1") else "3x3 64->64 14x14 batch 64"
            fl = pw_flops if name.startswith("1x1") else flops
            fns = {t: (fn, t) for t in tiers}
            for f, isa in fns.values():
                _C.set_isa(isa)
                f()
            times = timed_tiers(fns, 40)
            line = "  ".join(f"{t} {fl / s / 1e9:7.1f}" for t, s in times.items())
            ratio = times["avx2"] / times["avx512"] if "avx512" in times else float("nan")
            print(f"threads={nt} conv {name} {shape}: GFLOP/s {line}  avx512/avx2 {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
