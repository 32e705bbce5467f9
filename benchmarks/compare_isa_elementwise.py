"""avx512 vs avx2 tier (and torch) for the element-wise kernels, timed alternately in one process.

    python benchmarks/compare_isa_elementwise.py [--threads 1 2] [--reps 41]

For each op and size, every repetition times one call on the avx2 tier, one on the avx512 tier
and one in torch, back to back, so drift and the other tenants of the machine hit all three alike;
the report gives medians (and the best) per path and the avx2/avx512 and torch/avx512 time ratios
(> 1: avx512 faster). Outputs are allocated per call on every path (as the public API does).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import pyconvnet
from pyconvnet import _C

try:
    import torch
except ImportError:  # torch is optional
    torch = None


def timed(fn, inner):
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


def cases(n):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 3).astype(np.float32)
    gy = rng.standard_normal(n).astype(np.float32)
    y = {k: getattr(_C, k + "_forward")(x) for k in ("relu", "sigmoid", "tanh")}
    ours = {
        "relu fwd": lambda: _C.relu_forward(x),
        "relu bwd": lambda: _C.relu_backward(gy, y["relu"]),
        "sigmoid fwd": lambda: _C.sigmoid_forward(x),
        "sigmoid bwd": lambda: _C.sigmoid_backward(gy, y["sigmoid"]),
        "tanh fwd": lambda: _C.tanh_forward(x),
        "tanh bwd": lambda: _C.tanh_backward(gy, y["tanh"]),
        "elu fwd": lambda: _C.elu_forward(x, 1.0),
        "elu bwd": lambda: _C.elu_backward(gy, x, 1.0),
    }
    theirs = {}
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(gy)
        ty = {k: torch.from_numpy(v) for k, v in y.items()}
        A = torch.ops.aten
        theirs = {
            "relu fwd": lambda: torch.relu(tx),
            "relu bwd": lambda: A.threshold_backward(tg, ty["relu"], 0.0),
            "sigmoid fwd": lambda: torch.sigmoid(tx),
            "sigmoid bwd": lambda: A.sigmoid_backward(tg, ty["sigmoid"]),
            "tanh fwd": lambda: torch.tanh(tx),
            "tanh bwd": lambda: A.tanh_backward(tg, ty["tanh"]),
            "elu fwd": lambda: torch.nn.functional.elu(tx, 1.0),
            "elu bwd": lambda: A.elu_backward(tg, 1.0, 1.0, 1.0, False, tx),
        }
    return ours, theirs


def dropout_case(n):
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    ours = {"dropout p=0.5": lambda: _C.dropout_forward(x, 0.5, 1234)}
    theirs = {}
    if torch is not None:
        tx = torch.from_numpy(x)
        theirs = {"dropout p=0.5": lambda: torch.nn.functional.dropout(tx, 0.5, training=True)}
    return ours, theirs


def adam_case(n):
    rng = np.random.default_rng(2)
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
    kw = dict(beta1=0.9, beta2=0.999, eps=1e-8, step_size=1e-3, bias_correction2_sqrt=0.0316)
    ours = {"adam step": lambda: _C.adam_step(p, g, m, v, **kw)}
    theirs = {}
    if torch is not None:
        tp = torch.from_numpy(p.copy()).requires_grad_(True)
        tp.grad = torch.from_numpy(g.copy())
        opt = torch.optim.Adam([tp], lr=1e-3, fused=True)
        theirs = {"adam step": opt.step}
    return ours, theirs


def run(label, ours, theirs, reps, inner):
    for name, fn in ours.items():
        t = {"avx2": [], "avx512": [], "torch": []}
        tf = theirs.get(name)
        for isa in ("avx2", "avx512"):  # warm-up
            _C.set_isa(isa)
            fn()
        for _ in range(reps):
            for isa in ("avx2", "avx512"):
                _C.set_isa(isa)
                t[isa].append(timed(fn, inner))
            if tf is not None:
                t["torch"].append(timed(tf, inner))
        med = {k: np.median(v) for k, v in t.items() if v}
        best = {k: min(v) for k, v in t.items() if v}
        line = (f"{label:>10} {name:<14} avx2 {med['avx2']*1e6:9.1f} us  avx512 {med['avx512']*1e6:9.1f} us"
                f"  avx2/avx512 {med['avx2']/med['avx512']:5.2f} (best {best['avx2']/best['avx512']:5.2f})")
        if "torch" in med:
            line += f"  torch {med['torch']*1e6:9.1f} us  torch/avx512 {med['torch']/med['avx512']:5.2f}"
        print(line, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=41)
    a = ap.parse_args()
    if _C.isa_missing("avx512"):
        raise SystemExit(f"CPU lacks the avx512 tier: {_C.isa_missing('avx512')}")
    for t in a.threads:
        pyconvnet.set_num_threads(t)
        if torch is not None:
            torch.set_num_threads(t)
        print(f"--- {t} thread(s); torch {torch.__version__ if torch else 'absent'}")
        run("64K", *cases(1 << 16), a.reps, 20)
        run("4M", *cases(1 << 22), a.reps, 1)
        run("4M", *dropout_case(1 << 22), a.reps, 1)
        run("1M", *adam_case(1 << 20), a.reps, 2)


if __name__ == "__main__":
    main()
