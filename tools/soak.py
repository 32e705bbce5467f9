"""Soak test: many predict and fit calls, with the resident memory measured along the way.

    PYTHONPATH=. python tools/soak.py                      # 10,000 predict and 10,000 fit calls
    PYTHONPATH=. python tools/soak.py --predict 2000 --fit 500 --threads 2

Memory must stay flat: the resident set size after the warm-up (the first tenth of the calls,
at least 100, when buffers, thread pools and allocator arenas have reached their working size)
and at the end may differ by at most --tolerance (5%). Prints one line per phase and exits 1 when
a phase grows more than that. tests/test_soak.py runs a short version.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys

import numpy as np


def rss_bytes() -> int:
    """Resident set size now (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _model():
    import pyconvnet
    from pyconvnet import layers as L

    pyconvnet.manual_seed(0)
    return pyconvnet.Sequential([
        L.Conv2d(1, 8, 3, padding=1), L.BatchNorm2d(8), L.ReLU(), L.MaxPool2d(2),
        L.Conv2d(8, 16, 3, padding=1), L.ReLU(), L.GlobalAvgPool2d(), L.Flatten(),
        L.Dropout(0.1), L.Linear(16, 4),
    ])


def soak(name: str, calls: int, step) -> dict:
    """Runs step(i) `calls` times; returns the RSS after the warm-up and at the end."""
    warm = min(calls, max(100, calls // 10))
    for i in range(warm):
        step(i)
    gc.collect()
    start = rss_bytes()
    peak = start
    for i in range(warm, calls):
        step(i)
        if i % 100 == 0:
            peak = max(peak, rss_bytes())
    gc.collect()
    end = rss_bytes()
    return {"phase": name, "calls": calls, "warm_up": warm, "rss_after_warm_up": start,
            "rss_end": end, "rss_peak": max(peak, end), "growth": end / start - 1.0}


def run(predict_calls: int, fit_calls: int, batch: int = 16) -> list:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    model = _model()
    model.eval()
    results = []
    if predict_calls:
        results.append(soak("predict", predict_calls, lambda i: model.predict(x[i % 48:i % 48 + batch])))
    if fit_calls:
        model.train()
        results.append(soak("fit", fit_calls, lambda i: model.fit(
            x[:2 * batch], y[:2 * batch], epochs=1, batch_size=batch, seed=i, verbose=0)))
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predict", type=int, default=10_000, help="predict calls (default 10,000)")
    ap.add_argument("--fit", type=int, default=10_000, help="fit calls of 2 steps each (default 10,000)")
    ap.add_argument("--threads", type=int, default=None, help="kernel threads (default: pyconvnet's)")
    ap.add_argument("--tolerance", type=float, default=0.05, help="largest RSS growth allowed (0.05)")
    args = ap.parse_args(argv)
    import pyconvnet

    if args.threads:
        pyconvnet.set_num_threads(args.threads)
    failed = False
    for r in run(args.predict, args.fit):
        ok = r["growth"] <= args.tolerance
        failed |= not ok
        print(f"{r['phase']:8s} {r['calls']:6d} calls on {pyconvnet.get_num_threads()} thread(s): "
              f"RSS {r['rss_after_warm_up'] / 2**20:.1f} MiB after {r['warm_up']} warm-up calls, "
              f"{r['rss_end'] / 2**20:.1f} MiB at the end ({r['growth']:+.2%}), "
              f"peak {r['rss_peak'] / 2**20:.1f} MiB: {'ok' if ok else 'GROWS'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
