"""conv2d forward per kernel tier: the avx2 and avx512 tiers alternated in one process, against
torch.nn.functional.conv2d, on the layers of bench_conv2d.py, and as a fraction of the AVX-512
FMA peak measured in the same rounds (24 independent zmm FMA chains per thread, compiled with
the system C compiler when there is one).

    python benchmarks/compare_isa_conv2d.py [threads] [rounds] [case substring] [batches, e.g. 64,1]

With 1 thread every library computes on the calling thread, so the time is that thread's CPU
time (time.thread_time): on a machine shared with other processes, time spent preempted does
not count. With more threads it is wall time.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pyconvnet  # noqa: E402
import pyconvnet.functional as F  # noqa: E402
from pyconvnet import _C  # noqa: E402
from bench_conv2d import CASES  # noqa: E402

PEAK_C = r"""
#include <immintrin.h>
float fma_chains(long iters) {
  __m512 a[24];
  const __m512 m = _mm512_set1_ps(0.999999f), ad = _mm512_set1_ps(1e-7f);
  for (int i = 0; i < 24; ++i) a[i] = _mm512_set1_ps((float)i);
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) a[i] = _mm512_fmadd_ps(a[i], m, ad);
  }
  __m512 s = a[0];
  for (int i = 1; i < 24; ++i) s = _mm512_add_ps(s, a[i]);
  return _mm512_reduce_add_ps(s);
}
"""


def clock_for(threads: int):
    return time.thread_time if threads == 1 else time.perf_counter


def peak_probe(threads: int):
    """A function returning the FMA peak (GFLOP/s) of `threads` threads, or None without a compiler."""
    d = tempfile.mkdtemp()
    src, lib = os.path.join(d, "peak.c"), os.path.join(d, "peak.so")
    with open(src, "w") as f:
        f.write(PEAK_C)
    try:
        subprocess.run(["cc", "-O2", "-mavx512f", "-shared", "-fPIC", src, "-o", lib], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    fn = ctypes.CDLL(lib).fma_chains
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_long]

    clock = clock_for(threads)

    def probe(iters=2_000_000, tries=4):
        best = 0.0
        for _ in range(tries):
            ts = [threading.Thread(target=fn, args=(iters,)) for _ in range(threads - 1)]
            t0 = clock()
            for t in ts:
                t.start()
            fn(iters)
            for t in ts:
                t.join()
            best = max(best, threads * iters * 24 * 32 / (clock() - t0) / 1e9)
        return best
    return probe


def main(threads=1, rounds=7, only="", batches=(64, 1)):
    import torch

    pyconvnet.set_num_threads(threads)
    torch.set_num_threads(threads)
    probe = peak_probe(threads) if "avx512" in _C.supported_isas() else None
    clock = clock_for(threads)
    peak = 0.0
    print(f"conv2d forward, {threads} threads, best of {rounds} rounds (GFLOP/s)")
    for case, (c, oc, k, stride, pad, size) in CASES.items():
        if only not in case:
            continue
        for batch in batches:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
            w = rng.standard_normal((oc, c, k, k)).astype(np.float32)
            b = rng.standard_normal(oc).astype(np.float32)
            o = (size + 2 * pad - k) // stride + 1
            flops = 2 * batch * oc * o * o * c * k * k
            xt, wt, bt = map(torch.from_numpy, (x, w, b))

            def tier(isa):
                def run():
                    _C.set_isa(isa)
                    return F.conv2d(x, w, b, stride=stride, padding=pad)
                return run
            fns = {isa: tier(isa) for isa in ("avx2", "avx512") if isa in _C.supported_isas()}
            fns["torch"] = lambda: torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)
            reps = max(3, int(1e9 / flops))
            best = {name: float("inf") for name in fns}
            for _ in range(rounds):
                if probe:
                    peak = max(peak, probe())
                for name, fn in fns.items():
                    time.sleep(0.05)  # let the previous library's workers stop spinning
                    fn()
                    t0 = clock()
                    for _ in range(reps):
                        fn()
                    best[name] = min(best[name], (clock() - t0) / reps)
            g = {name: flops / t / 1e9 for name, t in best.items()}
            line = f"{case:26s} batch {batch:2d}  " + "  ".join(f"{n} {v:6.1f}" for n, v in g.items())
            if "avx512" in g:
                line += f"  avx512/avx2 x{g['avx512'] / g['avx2']:.2f}  avx512/torch x{g['avx512'] / g['torch']:.2f}"
                if peak:
                    line += f"  avx512 {g['avx512'] / peak:.0%} of peak {peak:.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 1, int(a[1]) if len(a) > 1 else 7, a[2] if len(a) > 2 else "",
         tuple(int(v) for v in a[3].split(",")) if len(a) > 3 else (64, 1))
