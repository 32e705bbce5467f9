"""Winograd F(4x4, 3x3) (_C.WinogradConv2d, filters transformed once as in serving) against the
direct convolution (_C.conv2d_forward) on 3x3 stride-1 pad-1 layers, timed alternately in one
process.

    python benchmarks/compare_winograd.py [--threads 2] [--reps 21] [--batch 1 64] [--rule]

Each repetition times one call of each path back to back (the order alternating), with a pause
of --pause seconds before every call, so drift and the other tenants of the machine hit both
paths alike. After the pause one untimed call of the same path runs first: on this VM, waking
the second thread of the OpenMP team after 50 ms idle takes about 5.7 ms (0.1 ms after 10 ms),
which would otherwise be most of every figure; the report gives the median time per path, the direct/Winograd ratio (> 1:
Winograd faster), both as GFLOP/s of the direct convolution's 2*N*K*C*9*OH*OW, the worst
error of Winograd relative to the output scale of the direct result, and what
_C.winograd_pays says. --rule adds the smaller shapes the rule in winograd.cpp was set from.
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
RULE_CASES = [(16, 16, 32), (16, 32, 16), (32, 32, 8), (64, 64, 8), (128, 128, 8),
              (16, 16, 8), (8, 16, 32), (3, 32, 32), (256, 256, 8), (32, 32, 64)]
PAD = (1, 1, 1, 1)


def timed(fn, pause):
    time.sleep(pause)
    fn()  # wakes the parked thread team (see the module docstring)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare(c, k, size, batch, reps, pause, rng):
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
            tw.append(timed(winograd, pause)); td.append(timed(direct, pause))
        else:
            td.append(timed(direct, pause)); tw.append(timed(winograd, pause))
    md, mw = statistics.median(td), statistics.median(tw)
    flops = 2.0 * batch * k * c * 9 * size * size
    pays = _C.winograd_pays((batch, c, size, size), (k, c, 3, 3), 1, PAD, 1, 1)
    return md, mw, flops, err, pays


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--rule", action="store_true", help="also the shapes behind the rule")
    args = ap.parse_args()
    pyconvnet.set_num_threads(args.threads)
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"tier {_C.isa()}; {args.threads} threads; {args.reps} reps, median; "
          f"pause {args.pause} s")
    print(f"{'layer':>22} {'batch':>5} {'direct ms':>10} {'wino ms':>9} {'ratio':>6} "
          f"{'direct GF/s':>11} {'wino GF/s':>9} {'rel err':>8} pays")
    rng = np.random.default_rng(0)
    cases = CASES + (RULE_CASES if args.rule else [])
    for batch in args.batch:
        for c, k, size in cases:
            md, mw, flops, err, pays = compare(c, k, size, batch, args.reps, args.pause, rng)
            print(f"{f'3x3 {c}->{k} {size}x{size}':>22} {batch:>5} {md * 1e3:>10.3f} "
                  f"{mw * 1e3:>9.3f} {md / mw:>6.2f} {flops / md / 1e9:>11.1f} "
                  f"{flops / mw / 1e9:>9.1f} {err:>8.1e} {pays}", flush=True)


if __name__ == "__main__":
    main()
