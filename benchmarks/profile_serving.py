"""Where an InferenceModel's time goes: the warm (back-to-back) latency of the model cut after
each layer, so each line's increase is what that layer adds.

    python benchmarks/profile_serving.py [--net fmnist-cnn|cifar-cnn] [--batch 1] [--threads 2]

Prefixes compile on their own (a pooling layer fused into its convolution shows up as the
difference of the two cuts).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import pyconvnet  # noqa: E402
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet  # noqa: E402
import bench_model as bm  # noqa: E402


def warm_median(fn, calls=200):
    for _ in range(20):
        fn()
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", choices=list(bm.NETS), default="fmnist-cnn")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = p.parse_args(argv)
    pyconvnet.set_num_threads(args.threads)
    model, x, _ = bm.make(args.net)
    x = np.ascontiguousarray(np.resize(x, (args.batch,) + x.shape[1:]))
    print(f"{args.net}, batch {args.batch}, {args.threads} threads, {args.precision}, ISA {pyconvnet._C.isa()}: "
          "warm median latency of the model cut after each layer")
    before = 0.0
    for k in range(1, len(model.layers) + 1):
        im = pyconvnet.InferenceModel(model[:k], precision=args.precision)
        t = warm_median(lambda: im.predict(x))
        print(f"  {k:2d} {type(model.layers[k - 1]).__name__:12s} {t * 1e6:9.1f} us  (+{(t - before) * 1e6:8.1f})")
        before = t


if __name__ == "__main__":
    main()
