"""Dropout throughput at batch 64 (64x64x32x32 float32,
4.2 M elements), p = 0.5; threads: PYCONVNET_BENCH_THREADS, default 2.

pyconvnet (counter-based mask, no mask stored), a NumPy reference (random mask, then multiply)
and torch (bernoulli mask, then multiply) in one group; G elements/s in the session summary.
Target: >= 10x torch (torch does ~0.04 G elements/s here; memory bandwidth allows ~1.7). Run::

    pytest benchmarks/bench_dropout.py --benchmark-only
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyconvnet.functional as F
from conftest import record_work
from pyconvnet import _C

SHAPE = (64, 64, 32, 32)
N = int(np.prod(SHAPE))
P = 0.5


@pytest.fixture(scope="module")
def x():
    # strictly non-zero inputs, so a zero output means "dropped"
    return (np.random.default_rng(0).uniform(0.5, 1.5, SHAPE)).astype(np.float32)


def check(benchmark, y, x):
    """Inverted dropout: kept values exactly x * 1/(1-p), kept fraction within 5 sigma of 1-p."""
    assert y.shape == SHAPE and y.dtype == np.float32
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(1 / (1 - P)))
    assert abs(kept.mean() - (1 - P)) < 5 * math.sqrt(P * (1 - P) / N)
    record_work(benchmark, N)


def test_pyconvnet_dropout(benchmark, x):
    benchmark.group = "dropout forward"
    benchmark.extra_info["isa"] = _C.isa()
    y = benchmark(F.dropout, x, P, True, 1234)
    check(benchmark, y, x)


def test_numpy_dropout(benchmark, x):
    benchmark.group = "dropout forward"
    rng = np.random.default_rng(1)
    scale = np.float32(1 / (1 - P))

    def ref(x):
        return x * ((rng.random(x.shape, dtype=np.float32) >= P) * scale)

    check(benchmark, benchmark(ref, x), x)


def test_torch_dropout(benchmark, x):
    torch = pytest.importorskip("torch")
    benchmark.group = "dropout forward"
    t = torch.from_numpy(x)
    y = benchmark(torch.nn.functional.dropout, t, P, True).numpy()
    check(benchmark, y, x)


def test_pyconvnet_dropout_backward(benchmark, x):
    benchmark.group = "dropout backward"
    y = F.dropout(x, P, seed=99)
    gy = np.ones_like(x)
    g = benchmark(_C.dropout_backward, gy, P, 99)
    np.testing.assert_array_equal(g != 0, y != 0)
    check(benchmark, g, gy)


def test_torch_dropout_backward(benchmark, x):
    """torch's backward is grad * stored_mask (its mask tensor is kept from forward)."""
    torch = pytest.importorskip("torch")
    benchmark.group = "dropout backward"
    mask = torch.from_numpy((np.random.default_rng(2).random(SHAPE) >= P).astype(np.float32) * 2)
    gy = torch.ones(SHAPE)
    g = benchmark(torch.mul, gy, mask).numpy()
    check(benchmark, g, np.ones(SHAPE, np.float32))
