"""Served 3x3 stride-1 pad-1 layers run by each algorithm serving has for them: Winograd
F(2x2, 3x3), Winograd F(4x4, 3x3) and the direct path (split by output-channel panels where
serving splits it so), timed alternately in one process.

    python benchmarks/compare_served_3x3.py [--threads 2] [--rounds 9] [--batch 1 2]
                                            [--shapes 256x14 512x7] [--tier avx2]

Shapes are CxS: C -> C channels on SxS maps (default: the ResNets' 64x56, 128x28, 256x14,
512x7). Each algorithm runs a chain of --layers copies of the layer (each with its own weights,
ReLU after each) as one _C.Network with that algorithm named for every convolution, so it runs
in the serving runtime (its thread pool and drivers) and, as in a served network, each layer's
weights come from memory: the chains hold at least 3x the L3 (32 MB here) of direct weights
where --layers allows (default: enough for that, 4 to 48). Each round runs every algorithm in
turn (the order rotating), each after a pause of --pause seconds and one untimed call (which
brings the parked thread pool back), then --calls timed calls. The table gives per layer the
median over rounds of each algorithm's median call divided by the chain length, the ratios
to F(2x2, 3x3) (above 1: F(2x2, 3x3) faster), and what the serving plan picks at that batch.
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

SHAPES = [(64, 56), (128, 28), (256, 14), (512, 7)]
ALGOS = ("winograd_f2", "winograd", "direct")
PAD = (1, 1, 1, 1)
L3_BYTES = 32 << 20


def chain(c, size, layers, algo, rng):
    net = _C.Network((c, size, size))
    for _ in range(layers):
        w = (rng.standard_normal((c, c, 3, 3)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
        b = (0.01 * rng.standard_normal(c)).astype(np.float32)
        net.add_conv(w, b, (1, 1), PAD, (1, 1), 1, "relu", 0.0, algorithm=algo)
    return net


def kernel_of(net):
    return net.describe()[0][0]


def time_chains(nets, x, rounds, calls, pause):
    per = {name: [] for name in nets}
    names = list(nets)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            net = nets[name]
            time.sleep(pause)
            net.run(x)  # wakes the thread pool
            ts = []
            for _ in range(calls):
                t0 = time.perf_counter()
                net.run(x)
                ts.append(time.perf_counter() - t0)
            per[name].append(statistics.median(ts))
    return {name: statistics.median(v) for name, v in per.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.05)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", nargs="+", default=None, help="CxS, e.g. 256x14")
    ap.add_argument("--layers", type=int, default=None, help="chain length (default: see above)")
    ap.add_argument("--tier", default=None, help="kernel tier (default: best)")
    args = ap.parse_args(argv)
    pyconvnet.set_num_threads(args.threads)
    if args.tier:
        _C.set_isa(args.tier)
    shapes = SHAPES if not args.shapes else [tuple(int(v) for v in s.split("x")) for s in args.shapes]
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; tier {_C.isa()}; "
          f"{args.threads} threads; {args.rounds} rounds x {args.calls} calls, median; pause {args.pause} s")
    print(f"{'layer':>18} {'batch':>5} {'chain':>5} {'f2 ms':>7} {'f4 ms':>7} {'direct ms':>9} "
          f"{'f4/f2':>6} {'dir/f2':>6}  plan")
    rng = np.random.default_rng(0)
    for c, size in shapes:
        direct_bytes = c * c * 9 * 4
        layers = args.layers or int(np.clip(-(-3 * L3_BYTES // direct_bytes), 4, 48))
        nets = {a: chain(c, size, layers, a, rng) for a in ALGOS}
        kernels = {a: kernel_of(n) for a, n in nets.items()}
        for batch in args.batch:
            x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
            t = time_chains(nets, x, args.rounds, args.calls, args.pause)
            ms = {a: t[a] / layers * 1e3 for a in ALGOS}
            plan = _C.conv_algorithm((batch, c, size, size), (c, c, 3, 3), 1, PAD, 1, 1, "serve_fp32")
            print(f"{f'3x3 {c}->{c} {size}x{size}':>18} {batch:>5} {layers:>5} {ms['winograd_f2']:>7.3f} "
                  f"{ms['winograd']:>7.3f} {ms['direct']:>9.3f} {ms['winograd'] / ms['winograd_f2']:>6.2f} "
                  f"{ms['direct'] / ms['winograd_f2']:>6.2f}  {plan}", flush=True)
        print(f"{'':>18} kernels: " + "; ".join(kernels.values()), flush=True)


if __name__ == "__main__":
    main()
