"""Pooling forward: the avx512 tier against the avx2 tier and torch, timed alternately in one run.

The machine is shared and noisy, so each round times every variant once in turn and the
ratios come from the per-variant medians and minima over many rounds (with 2 threads on a
busy 2-core host the median mostly measures how late the second worker gets a core). Run::

    python benchmarks/compare_isa_pool.py [--threads 1 2] [--rounds 200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C

SHAPES = [(64, 32, 28, 28), (64, 64, 14, 14), (1, 64, 56, 56)]
OPS = {
    "max2x2s2": (lambda x: F.max_pool2d(x, 2, 2), lambda TF, t: TF.max_pool2d(t, 2, 2)),
    "max3x3s2p1": (lambda x: F.max_pool2d(x, 3, 2, 1), lambda TF, t: TF.max_pool2d(t, 3, 2, 1)),
    "avg2x2s2": (lambda x: F.avg_pool2d(x, 2, 2), lambda TF, t: TF.avg_pool2d(t, 2, 2)),
}


def _time(fn, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        torch = None
    tiers = [t for t in ("avx2", "avx512") if t in _C.supported_isas()]
    before = _C.isa()
    print(f"tiers {tiers}; torch {torch.__version__ if torch else 'absent'}")
    print(f"{'thr':>3} {'op':<11} {'shape':<16} {'   '} " + " ".join(f"{t + ' us':>10}" for t in tiers)
          + f" {'torch us':>9} {'512/avx2':>9} {'torch/512':>9}")
    for nt in args.threads:
        pyconvnet.set_num_threads(nt)
        if torch is not None:
            torch.set_num_threads(nt)
        for name, (pcn, tf) in OPS.items():
            for shape in SHAPES:
                x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
                # about 1 ms per timed call so timer overhead does not matter
                _C.set_isa(tiers[0])
                one = _time(lambda: pcn(x), 5)
                reps = max(1, int(1e-3 / max(one, 1e-7)))
                tx = torch.from_numpy(x) if torch is not None else None
                samples = {k: [] for k in tiers + (["torch"] if torch is not None else [])}
                for _ in range(args.rounds):
                    for k in samples:
                        if k == "torch":
                            samples[k].append(_time(lambda: tf(torch.nn.functional, tx), reps))
                        else:
                            _C.set_isa(k)
                            samples[k].append(_time(lambda: pcn(x), reps))
                med = {k: float(np.median(v)) * 1e6 for k, v in samples.items()}
                low = {k: float(np.min(v)) * 1e6 for k, v in samples.items()}
                for tag, m in (("med", med), ("min", low)):
                    r512 = m["avx2"] / m["avx512"] if "avx512" in m else float("nan")
                    rt = m["torch"] / m["avx512"] if "torch" in m and "avx512" in m else float("nan")
                    print(f"{nt:>3} {name:<11} {str(shape):<16} {tag} "
                          + " ".join(f"{m[t]:>10.1f}" for t in tiers)
                          + f" {m.get('torch', float('nan')):>9.1f} {r512:>9.2f} {rt:>9.2f}", flush=True)
    _C.set_isa(before)


if __name__ == "__main__":
    main()
