"""avx512 vs avx2 tier (and torch) for SGD, BatchNorm2d, global average pooling and depthwise
convolution, timed alternately in one process.

    python benchmarks/compare_isa_misc.py [--threads 1 2] [--reps 21] [--only sgd bn gap depthwise]

Every repetition times one batch of calls on the avx2 tier, one on the avx512 tier and one in
torch, back to back, so drift and the other tenants of the machine hit all paths alike; the report
gives medians (and the best) per path and the avx2/avx512 and torch/avx512 time ratios (> 1:
avx512 faster). For these four families the avx2 tier runs the portable kernels (none has an AVX2
variant), so the avx2 column is the baseline code.
"""

from __future__ import annotations

import argparse
import time

import os
import sys

import numpy as np

try:
    import pyconvnet
except ImportError:  # run from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet
from pyconvnet import _C
from tiers import at_tier

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # torch is optional
    torch = None


def sgd_cases(rng):
    out = {}
    for n in (65536, 3_200_000):
        p = rng.standard_normal(n).astype(np.float32)
        g = rng.standard_normal(n).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        ours = lambda p=p, g=g, b=b: _C.sgd_step(p, g, b, lr=1e-6, momentum=0.9,
                                                         weight_decay=1e-4, nesterov=True)
        theirs = None
        if torch is not None:
            tp, tg, tb = (torch.from_numpy(a.copy()) for a in (p, g, b))

            def theirs(tp=tp, tg=tg, tb=tb):  # torch's foreach SGD step, same options
                torch.optim._functional.sgd([tp], [tg], [tb], weight_decay=1e-4, momentum=0.9,
                                            lr=1e-6, dampening=0.0, nesterov=True,
                                            maximize=False, foreach=False)
        out[f"sgd mom+wd+nesterov n={n}"] = (ours, theirs)
    return out


def bn_cases(rng):
    out = {}
    for shape in ((64, 64, 32, 32), (32, 256, 8, 8), (8, 32, 56, 56)):
        x = rng.standard_normal(shape).astype(np.float32)
        c = shape[1]
        w = rng.standard_normal(c).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        gy = rng.standard_normal(shape).astype(np.float32)
        y, mean, inv, var = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
        rm, rv = mean.copy(), var.copy()
        out[f"bn train fwd {shape}"] = (lambda x=x, w=w, b=b: _C.batch_norm2d_forward_train(
            x, w, b, 1e-5), None)
        out[f"bn eval fwd {shape}"] = (lambda x=x, w=w, b=b, rm=rm, rv=rv:
                                       _C.batch_norm2d_forward_eval(x, w, b, rm, rv, 1e-5), None)
        out[f"bn backward {shape}"] = (lambda x=x, gy=gy, w=w, mean=mean, inv=inv:
                                       _C.batch_norm2d_backward(x, gy, w, mean, inv), None)
        if torch is not None:
            tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
            trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
            out[f"bn train fwd {shape}"] = (out[f"bn train fwd {shape}"][0],
                                            lambda: torch.batch_norm(tx, tw, tb, trm.clone(),
                                                                     trv.clone(), True, 0.1, 1e-5,
                                                                     False))
            out[f"bn eval fwd {shape}"] = (out[f"bn eval fwd {shape}"][0],
                                           lambda tx=tx, tw=tw, tb=tb, trm=trm, trv=trv:
                                           torch.batch_norm(tx, tw, tb, trm, trv, False, 0.1,
                                                            1e-5, False))
    return out


def gap_cases(rng):
    out = {}
    for shape in ((64, 64, 32, 32), (64, 512, 7, 7), (32, 256, 14, 14)):
        x = rng.standard_normal(shape).astype(np.float32)
        theirs = None
        if torch is not None:
            tx = torch.from_numpy(x)
            theirs = lambda tx=tx: TF.adaptive_avg_pool2d(tx, 1)
        out[f"gap fwd {shape}"] = (lambda x=x: _C.global_avg_pool2d_forward(x), theirs)
    return out


def depthwise_cases(rng):
    out = {}
    for shape, k, stride in (((32, 64, 56, 56), 3, 1), ((32, 128, 28, 28), 3, 2),
                             ((64, 256, 14, 14), 3, 1), ((32, 96, 28, 28), 5, 1),
                             ((64, 512, 7, 7), 3, 1)):
        x = rng.standard_normal(shape).astype(np.float32)
        c = shape[1]
        w = rng.standard_normal((c, 1, k, k)).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        pad = k // 2
        ours = lambda x=x, w=w, b=b, s=stride, p=pad, c=c: pyconvnet.functional.conv2d(
            x, w, b, stride=s, padding=p, groups=c)
        theirs = None
        if torch is not None:
            tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
            theirs = lambda tx=tx, tw=tw, tb=tb, s=stride, p=pad, c=c: TF.conv2d(
                tx, tw, tb, stride=s, padding=p, groups=c)
        out[f"depthwise fwd {shape} k{k} s{stride}"] = (ours, theirs)
    return out


def timed(fn, inner):
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--only", nargs="+", default=["sgd", "bn", "gap", "depthwise"])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    makers = {"sgd": sgd_cases, "bn": bn_cases, "gap": gap_cases, "depthwise": depthwise_cases}
    cases = {}
    for k in args.only:
        cases.update(makers[k](rng))
    for nt in args.threads:
        pyconvnet.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        print(f"--- {nt} thread(s); times in ms: median (best)")
        for name, (ours, theirs) in cases.items():
            paths = {"avx2": at_tier(ours, "avx2"), "avx512": at_tier(ours, "avx512")}
            if theirs is not None:
                paths["torch"] = theirs
            for f in paths.values():
                f()
            t0 = time.perf_counter()
            paths["avx2"]()
            inner = max(1, int(0.005 / max(time.perf_counter() - t0, 1e-7)))
            times = {k: [] for k in paths}
            for _ in range(args.reps):
                for k, f in paths.items():
                    times[k].append(timed(f, inner))
            med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
            best = {k: float(np.min(v)) * 1e3 for k, v in times.items()}
            line = f"{name:40s} " + " ".join(f"{k} {med[k]:.3f} ({best[k]:.3f})" for k in paths)
            line += f" | avx2/avx512 {med['avx2'] / med['avx512']:.2f}x"
            if "torch" in paths:
                line += f" torch/avx512 {med['torch'] / med['avx512']:.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
