"""Winograd F(4x4, 3x3) (_C.WinogradConv2d, filters transformed once as in serving) against the
direct convolution (_C.conv2d_forward) on 3x3 stride-1 pad-1 layers, timed alternately in one
process.

    python benchmarks/compare_winograd.py [--threads 2] [--reps 21] [--batch 1 64] [--warm 1]
                                          [--rule] [--tier avx2]

Each repetition times one call of each path back to back (the order alternating), with a pause
of --pause seconds before every call, so drift and the other tenants of the machine hit both
paths alike. After the pause, --warm untimed calls of the same path run first: a thread that
slept through the pause has given its core away, and on this shared 2-core VM getting it back
took 4-8 ms whenever another process was runnable there (a scheduler slice), which is not the
kernel's time and would otherwise be most of every batch-1 figure. The report gives the median
time per path, the direct/Winograd ratio of the medians (> 1: Winograd faster) and of the best
times, both as GFLOP/s of the direct convolution's 2*N*K*C*9*OH*OW, the worst error of
Winograd relative to the output scale of the direct result, and what _C.winograd_pays says.
--rule runs the shapes the rule in winograd.cpp was set from instead.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

try:
    import pyconvnet
except ImportError:  # run from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet
from pyconvnet import _C

# (in_channels, out_channels, size): cifar-cnn's 3x3 layers, then two larger ones.
CASES = [(32, 32, 32), (32, 64, 16), (64, 64, 16), (64, 64, 32), (128, 128, 16)]
# The shapes behind winograd_pays (winograd.cpp): channels 3-256, maps 4x4 to 64x64.
RULE_CASES = [(3, 32, 32), (3, 32, 64), (4, 16, 32), (4, 16, 24), (8, 16, 64), (8, 16, 32),
              (8, 32, 48), (8, 32, 24), (8, 16, 8), (16, 16, 56), (16, 16, 40), (16, 16, 32),
              (16, 16, 16), (16, 16, 14), (16, 16, 12), (16, 16, 8), (32, 32, 14), (32, 32, 12),
              (32, 32, 9), (32, 32, 8), (64, 64, 12), (64, 64, 9), (64, 64, 8), (64, 64, 6),
              (64, 64, 4), (128, 128, 8), (256, 256, 8), (256, 256, 4)]
PAD = (1, 1, 1, 1)


def timed(fn, pause, warm):
    time.sleep(pause)
    for _ in range(warm):
        fn()  # brings the parked thread team back (see the module docstring)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(c, k, size, batch, reps, pause, warm, rng):
    x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
    w = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    wino = _C.WinogradConv2d(w, b)
    direct = lambda: _C.conv2d_forward(x, w, b, (1, 1), PAD, (1, 1), 1, True)  # noqa: E731
    winograd = lambda: wino.forward(x, PAD, True)  # noqa: E731
    ref = _C.conv2d_forward(x, w, b, (1, 1), PAD, (1, 1), 1, False)
    err = float(np.abs(wino.forward(x, PAD, False) - ref).max() / np.abs(ref).max())
    for _ in range(3):  # warm up both (thread pool, scratch buffers, caches)
        direct(), winograd()
    td, tw = [], []
    for r in range(reps):
        if r % 2:
            tw.append(timed(winograd, pause, warm)); td.append(timed(direct, pause, warm))
        else:
            td.append(timed(direct, pause, warm)); tw.append(timed(winograd, pause, warm))
    md, mw = statistics.median(td), statistics.median(tw)
    flops = 2.0 * batch * k * c * 9 * size * size
    pays = _C.winograd_pays((batch, c, size, size), (k, c, 3, 3), 1, PAD, 1, 1)
    return md, mw, min(td) / min(tw), flops, err, pays


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--warm", type=int, default=1, help="untimed calls after each pause")
    ap.add_argument("--rule", action="store_true", help="also the shapes behind the rule")
    ap.add_argument("--tier", default=None, help="kernel tier for both paths (default: best)")
    args = ap.parse_args()
    pyconvnet.set_num_threads(args.threads)
    if args.tier:
        _C.set_isa(args.tier)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"tier {_C.isa()}; {args.threads} threads; {args.reps} reps, median; "
          f"pause {args.pause} s")
    print(f"{'layer':>22} {'batch':>5} {'direct ms':>10} {'wino ms':>9} {'ratio':>6} "
          f"{'(best)':>6} {'direct GF/s':>11} {'wino GF/s':>9} {'rel err':>8} pays")
    rng = np.random.default_rng(0)
    cases = RULE_CASES if args.rule else CASES
    for batch in args.batch:
        for c, k, size in cases:
            md, mw, best, flops, err, pays = compare(c, k, size, batch, args.reps, args.pause,
                                                     args.warm, rng)
            print(f"{f'3x3 {c}->{k} {size}x{size}':>22} {batch:>5} {md * 1e3:>10.3f} "
                  f"{mw * 1e3:>9.3f} {md / mw:>6.2f} {best:>6.2f} {flops / md / 1e9:>11.1f} "
                  f"{flops / mw / 1e9:>9.1f} {err:>8.1e} {pays}", flush=True)


if __name__ == "__main__":
    main()

# Results on the AVX-512 host (2-core AMD Zen 5 VM, 2 threads), 2026-11-30:
#   python benchmarks/compare_winograd.py --reps 31 --warm 3               (load average 1.5)
#              layer batch  direct ms   wino ms  ratio (best) direct GF/s wino GF/s  rel err pays
#   3x3 32->32 32x32     1      0.065     0.024   2.71   2.64       290.7     787.9  1.2e-06 True
#   3x3 32->64 16x16     1      0.040     0.018   2.24   2.17       236.2     528.8  1.3e-06 True
#   3x3 64->64 16x16     1      0.074     0.030   2.45   2.44       254.4     623.6  1.6e-06 True
#   3x3 64->64 32x32     1      0.209     0.071   2.95   3.27       362.0    1068.8  2.1e-06 True
# 3x3 128->128 16x16     1      0.254     0.087   2.94   2.91       297.0     872.4  2.2e-06 True
#   3x3 32->32 32x32    64      2.929     1.121   2.61   2.68       412.4    1077.3  1.6e-06 True
#   3x3 32->64 16x16    64      1.313     0.519   2.53   2.61       460.1    1163.7  1.6e-06 True
#   3x3 64->64 16x16    64      2.509     0.914   2.75   2.84       481.5    1322.1  2.1e-06 True
#   3x3 64->64 32x32    64     10.918     4.216   2.59   2.59       442.5    1146.0  2.3e-06 True
# 3x3 128->128 16x16    64     10.821     3.604   3.00   3.04       446.5    1340.8  3.4e-06 True
#   python benchmarks/compare_winograd.py --reps 31 --warm 3 --tier avx2   (load average 1.1)
#              layer batch  direct ms   wino ms  ratio (best) direct GF/s wino GF/s  rel err pays
#   3x3 32->32 32x32     1      0.094     0.038   2.46   2.67       201.3     494.3  1.2e-06 True
#   3x3 32->64 16x16     1      0.053     0.025   2.11   2.42       177.4     373.5  1.3e-06 True
#   3x3 64->64 16x16     1      0.090     0.033   2.70   2.77       209.2     565.1  1.6e-06 True
#   3x3 64->64 32x32     1      0.351     0.113   3.10   3.26       215.3     666.6  2.1e-06 True
# 3x3 128->128 16x16     1      0.362     0.108   3.36   3.35       208.6     700.9  2.2e-06 True
#   3x3 32->32 32x32    64      5.363     2.023   2.65   2.65       225.2     597.2  1.6e-06 True
#   3x3 32->64 16x16    64      2.656     0.863   3.08   3.12       227.4     699.7  1.6e-06 True
#   3x3 64->64 16x16    64      5.398     1.591   3.39   3.47       223.8     759.1  2.1e-06 True
#   3x3 64->64 32x32    64     20.303     7.428   2.73   2.79       238.0     650.5  2.3e-06 True
# 3x3 128->128 16x16    64     44.434    13.962   3.18   3.60       108.7     346.1  3.4e-06 True

# The rule's tables (winograd_pays in csrc/conv/winograd.cpp), from
#   python benchmarks/compare_winograd.py --rule --batch 1 16 --reps 25 --pause 0 --warm 0 \
#       [--tier avx2]
# on the AVX-512 host (2 threads, load average 1.3, 2026-11-30 08:27 UTC); without the pause
# the threads keep their cores, so these are kernel times. Direct/Winograd ratio of the
# medians (> 1: Winograd faster) on each tier against that tier's direct path; + where
# winograd_pays picks Winograd:
#                      avx512: batch 1  batch 16    avx2: batch 1  batch 16
#   3x3   3->32  32x32     1.07      1.13            1.28      1.30
#   3x3   3->32  64x64     1.05      1.07            1.25      1.32
#   3x3   4->16  32x32     1.77 +    1.85 +          1.58 +    1.58 +
#   3x3   4->16  24x24     0.91      0.97            0.76      0.86
#   3x3   8->16  64x64     1.91 +    2.06 +          1.66 +    1.81 +
#   3x3   8->16  32x32     1.99 +    2.14 +          1.68 +    1.83 +
#   3x3   8->32  48x48     1.11      1.19            1.49      1.56
#   3x3   8->32  24x24     1.01      1.22            0.98      1.35
#   3x3   8->16   8x8      1.05      1.35            0.89      1.20
#   3x3  16->16  56x56     1.40 +    1.65 +          1.48 +    1.70 +
#   3x3  16->16  40x40     1.29 +    1.40 +          1.30 +    1.53 +
#   3x3  16->16  32x32     2.32 +    2.41 +          2.02 +    2.12 +
#   3x3  16->16  16x16     1.50 +    2.03 +          1.45 +    2.08 +
#   3x3  16->16  14x14     1.30 +    1.55 +          1.22 +    1.57 +
#   3x3  16->16  12x12     1.16      1.28 +          0.96      1.47 +
#   3x3  16->16   8x8      1.00      1.45 +          0.90      1.40 +
#   3x3  32->32  14x14     1.39 +    1.82 +          1.51 +    2.03 +
#   3x3  32->32  12x12     1.11      1.57 +          1.06      2.00 +
#   3x3  32->32   9x9      0.86      0.98            0.82      1.35
#   3x3  32->32   8x8      0.82      1.64 +          0.88      1.91 +
#   3x3  64->64  12x12     1.49 +    2.10 +          1.47 +    2.58 +
#   3x3  64->64   9x9      1.10      1.19 +          1.15      1.68 +
#   3x3  64->64   8x8      1.00      2.16 +          1.17      2.50 +
#   3x3  64->64   6x6      0.86      1.47 +          0.92      1.51 +
#   3x3  64->64   4x4      0.80      1.70 +          0.78      2.06 +
#   3x3 128->128  8x8      1.02      2.57 +          1.20      2.93 +
#   3x3 256->256  8x8      1.19      2.22 +          1.27      2.97 +
#   3x3 256->256  4x4      0.79      2.94 +          0.74      2.67 +
