"""Dropout throughput at batch 64 (64x64x32x32 float32 = 4.2 M elements), p = 0.5, 2 threads.

pyconvnet (counter-based mask, no mask stored), a NumPy reference (random mask, then multiply)
and torch (bernoulli mask, then multiply) in one group; G elements/s in ``extra_info``.
Target: >= 10x torch (torch does ~0.04 G elements/s here; memory bandwidth allows ~1.7). Run::

    pytest benchmarks/bench_dropout.py --benchmark-only --benchmark-columns=mean,ops
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C

SHAPE = (64, 64, 32, 32)
N = int(np.prod(SHAPE))
P = 0.5
THREADS = 2


@pytest.fixture(scope="module")
def x():
    # strictly non-zero inputs, so a zero output means "dropped"
    return (np.random.default_rng(0).uniform(0.5, 1.5, SHAPE)).astype(np.float32)


def info(benchmark):
    """Throughput in extra_info (work/unit feed benchmarks/conftest.py's side-by-side table)."""
    benchmark.extra_info["work"] = N
    benchmark.extra_info["unit"] = "G elem/s"
    benchmark.extra_info["G_elements_per_s"] = round(N / benchmark.stats.stats.mean / 1e9, 3)


@pytest.fixture(autouse=True)
def two_threads():
    old = pyconvnet.get_num_threads()
    pyconvnet.set_num_threads(THREADS)
    yield
    pyconvnet.set_num_threads(old)


def check(benchmark, y, x):
    """Inverted dropout: kept values exactly x * 1/(1-p), kept fraction within 5 sigma of 1-p."""
    assert y.shape == SHAPE and y.dtype == np.float32
    kept = y != 0
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(1 / (1 - P)))
    assert abs(kept.mean() - (1 - P)) < 5 * math.sqrt(P * (1 - P) / N)
    info(benchmark)


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
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        t = torch.from_numpy(x)
        y = benchmark(torch.nn.functional.dropout, t, P, True).numpy()
    finally:
        torch.set_num_threads(old)
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
    old = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        mask = torch.from_numpy((np.random.default_rng(2).random(SHAPE) >= P).astype(np.float32) * 2)
        gy = torch.ones(SHAPE)
        g = benchmark(torch.mul, gy, mask).numpy()
    finally:
        torch.set_num_threads(old)
    check(benchmark, g, np.ones(SHAPE, np.float32))
