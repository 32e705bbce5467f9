"""Pooling throughput at batch 64 (input 64x64x32x32 float32).

pyconvnet against a vectorised NumPy reference and torch (when installed), in one run:
max 2x2/2, avg 2x2/2, max 3x3/2 and global average pooling. Pooling is memory-bound (the
machine streams about 2.8 G input elements/s); the target for max 2x2/2 is >= 5x torch.
The session summary prints G input elements/s and the ratios. Run::

    pytest benchmarks/bench_pool.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F

SHAPE = (64, 64, 32, 32)


def _np_max3s2(x):
    n, c, h, w = x.shape
    oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
    out = x[:, :, 0 : 2 * oh : 2, 0 : 2 * ow : 2].copy()
    for ky in range(3):
        for kx in range(3):
            np.maximum(out, x[:, :, ky : ky + 2 * oh : 2, kx : kx + 2 * ow : 2], out=out)
    return out


OPS = {
    "max2x2s2": dict(
        pcn=lambda x: F.max_pool2d(x, 2),
        numpy=lambda x: x.reshape(64, 64, 16, 2, 16, 2).max(axis=(3, 5)),
        torch=lambda TF, t: TF.max_pool2d(t, 2),
        exact=True,
    ),
    "avg2x2s2": dict(
        pcn=lambda x: F.avg_pool2d(x, 2),
        numpy=lambda x: x.reshape(64, 64, 16, 2, 16, 2).mean(axis=(3, 5), dtype=np.float32),
        torch=lambda TF, t: TF.avg_pool2d(t, 2),
        exact=False,
    ),
    "max3x3s2": dict(
        pcn=lambda x: F.max_pool2d(x, 3, 2),
        numpy=_np_max3s2,
        torch=lambda TF, t: TF.max_pool2d(t, 3, 2),
        exact=True,
    ),
    "global_avg": dict(
        pcn=F.global_avg_pool2d,
        numpy=lambda x: x.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(np.float32),
        torch=lambda TF, t: TF.adaptive_avg_pool2d(t, 1),
        exact=False,
    ),
}
CASES = [(op, impl) for op in OPS for impl in ("numpy", "torch", "pyconvnet")]


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).standard_normal(SHAPE, dtype=np.float32)


@pytest.fixture(scope="module")
def expected(x):
    return {op: OPS[op]["numpy"](x) for op in OPS}


def _check(op, out, want):
    out = np.asarray(out)
    assert out.shape == want.shape and out.dtype == np.float32
    if OPS[op]["exact"]:
        np.testing.assert_array_equal(out, want)
    else:
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op, impl", CASES, ids=[f"{o}-{i}" for o, i in CASES])
def test_pool(benchmark, x, expected, op, impl):
    benchmark.group = f"pool {op} {'x'.join(map(str, SHAPE))}"
    benchmark.extra_info.update(impl=impl, work=x.size, unit="G elements/s")
    if impl == "numpy":
        fn = lambda: OPS[op]["numpy"](x)  # noqa: E731
    elif impl == "torch":
        torch = pytest.importorskip("torch")
        t = torch.from_numpy(x)
        tf = OPS[op]["torch"]
        fn = lambda: tf(torch.nn.functional, t).numpy()  # noqa: E731
    else:
        fn = lambda: OPS[op]["pcn"](x)  # noqa: E731
    _check(op, benchmark(fn), expected[op])
