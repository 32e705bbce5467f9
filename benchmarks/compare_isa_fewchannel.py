"""Tier comparison for the layers that run as im2col + GEMM (few input or output channels)
and for Linear: avx2 and avx512 tiers and torch, timed alternately in one process.

    python benchmarks/compare_isa_fewchannel.py [threads ...]

Per case: GFLOP/s, best and median of many alternating rounds, and avx512 / other ratios.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C

try:
    import torch
except ImportError:
    torch = None

# name: (batch, in, out, kernel, pad, size)
CONVS = {
    "5x5 3->6 32x32 b64": (64, 3, 6, 5, 0, 32),
    "5x5 3->6 32x32 b1": (1, 3, 6, 5, 0, 32),
    "cifar 3x3 3->32 pad1 32x32 b64": (64, 3, 32, 3, 1, 32),
    "fmnist 5x5 1->32 pad2 28x28 b64": (64, 1, 32, 5, 2, 28),
}
# name: (batch, in, out)
LINEARS = {
    "linear 4096->256 b64": (64, 4096, 256),
    "linear 3136->1024 b64": (64, 3136, 1024),
    "linear 4096->256 b1": (1, 4096, 256),
    "linear 3136->1024 b1": (1, 3136, 1024),
}


def run(fns, flops, rounds=25):
    times = {k: [] for k in fns}
    for name, (fn, isa) in fns.items():  # warm up
        if isa:
            _C.set_isa(isa)
        fn()
    for _ in range(rounds):
        for name, (fn, isa) in fns.items():
            if isa:
                _C.set_isa(isa)
            reps = max(1, int(3e8 / flops))
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            times[name].append((time.perf_counter() - t0) / reps)
    _C.set_isa("avx512")
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    parts = [f"{k} {flops / best[k] / 1e9:6.1f}/{flops / med[k] / 1e9:6.1f}" for k in fns]
    ratios = [f"x{best[k] / best['avx512']:.2f}/{med[k] / med['avx512']:.2f} vs {k}"
              for k in fns if k != "avx512"]
    return "  ".join(parts) + "   avx512 " + " ".join(ratios)


def main():
    counts = [int(a) for a in sys.argv[1:]] or [2, 1]
    rng = np.random.default_rng(0)
    for nt in counts:
        pyconvnet.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        print(f"{nt} threads: GFLOP/s best/median")
        for name, (n, c, oc, k, pad, size) in CONVS.items():
            x = rng.standard_normal((n, c, size, size)).astype(np.float32)
            w = rng.standard_normal((oc, c, k, k)).astype(np.float32)
            b = rng.standard_normal(oc).astype(np.float32)
            o = size + 2 * pad - k + 1
            flops = 2 * n * oc * o * o * c * k * k
            fns = {t: (lambda: F.conv2d(x, w, b, padding=pad), t) for t in ("avx2", "avx512")}
            if torch is not None:
                xt, wt, bt = map(torch.from_numpy, (x, w, b))
                fns["torch"] = (lambda: torch.nn.functional.conv2d(xt, wt, bt, padding=pad), None)
            print(f"  {name:34s}", run(fns, flops), flush=True)
        for name, (n, i, o) in LINEARS.items():
            x = rng.standard_normal((n, i)).astype(np.float32)
            w = rng.standard_normal((o, i)).astype(np.float32)
            b = rng.standard_normal(o).astype(np.float32)
            flops = 2 * n * i * o
            fns = {t: (lambda: F.linear(x, w, b), t) for t in ("avx2", "avx512")}
            if torch is not None:
                xt, wt, bt = map(torch.from_numpy, (x, w, b))
                fns["torch"] = (lambda: torch.nn.functional.linear(xt, wt, bt), None)
            print(f"  {name:34s}", run(fns, flops), flush=True)
        a = rng.standard_normal((1024, 1024)).astype(np.float32)
        bb = rng.standard_normal((1024, 1024)).astype(np.float32)
        out = np.empty((1024, 1024), np.float32)
        fns = {t: (lambda: _C.sgemm(a, bb, out=out), t) for t in ("avx2", "avx512")}
        print(f"  {'sgemm 1024^3':34s}", run(fns, 2 * 1024**3, rounds=10), flush=True)


if __name__ == "__main__":
    main()
