"""Element-wise activation throughput at batch 64 (64x64x32x32 float32,
4.2 M elements; threads: PYCONVNET_BENCH_THREADS, default 2).

Each op is benchmarked for pyconvnet, a NumPy reference and torch (when installed) in one group,
so the table shows the ratios side by side; the session summary prints G elements/s.
Target: relu at least as fast as torch (both are memory-bound). Run::

    pytest benchmarks/bench_activation.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F
from conftest import record_work
from pyconvnet import _C

SHAPE = (64, 64, 32, 32)
N = int(np.prod(SHAPE))


@pytest.fixture(scope="module")
def x():
    return (np.random.default_rng(0).standard_normal(SHAPE) * 3).astype(np.float32)


def oracle(op, x):
    x = x.astype(np.float64)
    if op == "relu":
        return np.maximum(x, 0)
    if op == "leaky_relu":
        return np.where(x > 0, x, 0.01 * x)
    if op == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if op == "tanh":
        return np.tanh(x)
    if op == "elu":
        return np.where(x > 0, x, np.expm1(x))
    raise AssertionError(op)


NUMPY = {
    "relu": lambda x: np.maximum(x, np.float32(0)),
    "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
    "sigmoid": lambda x: np.float32(1) / (np.float32(1) + np.exp(-x)),
    "tanh": np.tanh,
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
}
OURS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "elu": lambda x: F.elu(x, 1.0),
}
OPS = list(OURS)


def record(benchmark, y, op, x):
    assert y.shape == SHAPE and y.dtype == np.float32
    np.testing.assert_allclose(y, oracle(op, x), rtol=1e-5, atol=1e-6)
    record_work(benchmark, N)


@pytest.mark.parametrize("op", OPS)
def test_pyconvnet(benchmark, x, op):
    benchmark.group = f"{op} forward"
    benchmark.extra_info["isa"] = _C.isa()
    y = benchmark(OURS[op], x)
    record(benchmark, y, op, x)


@pytest.mark.parametrize("op", OPS)
def test_numpy(benchmark, x, op):
    benchmark.group = f"{op} forward"
    y = benchmark(NUMPY[op], x)
    record(benchmark, y, op, x)


@pytest.mark.parametrize("op", OPS)
def test_torch(benchmark, x, op):
    torch = pytest.importorskip("torch")
    benchmark.group = f"{op} forward"
    fn = {"relu": torch.relu, "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
          "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": torch.nn.functional.elu}[op]
    t = torch.from_numpy(x)
    y = benchmark(fn, t).numpy()
    record(benchmark, y, op, x)


def test_pyconvnet_relu_backward(benchmark, x):
    benchmark.group = "relu backward"
    y = F.relu(x)
    gy = np.ones_like(x)
    g = benchmark(_C.relu_backward, gy, y)
    np.testing.assert_array_equal(g, (x > 0).astype(np.float32))
    record_work(benchmark, N)


def test_torch_relu_backward(benchmark, x):
    torch = pytest.importorskip("torch")
    benchmark.group = "relu backward"
    y = torch.relu(torch.from_numpy(x))
    gy = torch.ones_like(y)
    g = benchmark(torch.ops.aten.threshold_backward, gy, y, 0).numpy()
    np.testing.assert_array_equal(g, (x > 0).astype(np.float32))
    record_work(benchmark, N)
