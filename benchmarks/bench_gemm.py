"""SGEMM against numpy.matmul (OpenBLAS) and torch.mm (MKL or oneDNN, when installed) on square
and convolution-shaped products; on an AVX-512 CPU also pyconvnet's avx2 tier beside the default.

    pytest benchmarks/bench_gemm.py --benchmark-only
    PYCONVNET_BENCH_THREADS=1 pytest benchmarks/bench_gemm.py --benchmark-only

numpy's BLAS threads follow the same count when threadpoolctl is installed (pip install
threadpoolctl); otherwise numpy keeps its own default and the comparison says so.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from pyconvnet import _C
from conftest import BENCH_THREADS
from tiers import IMPLS as PYCONVNET_IMPLS
from tiers import at_tier, tier_of

SHAPES = {
    "1024x1024x1024": (1024, 1024, 1024),
    "conv 64x800x12544": (64, 12544, 800),
    "conv 64x576x16384": (64, 16384, 576),
    "conv 64x256x6272": (64, 6272, 256),
}


@contextlib.contextmanager
def blas_threads(n):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield False
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield True


@pytest.mark.parametrize("impl", PYCONVNET_IMPLS + ["numpy", "torch"])
@pytest.mark.parametrize("case", list(SHAPES))
def test_sgemm(benchmark, case, impl):
    m, n, k = SHAPES[case]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    benchmark.group = f"sgemm {case}"
    benchmark.extra_info.update(impl=impl, work=2 * m * n * k, unit="GFLOP/s")
    with blas_threads(BENCH_THREADS) as limited:
        if impl == "numpy":
            benchmark.extra_info["numpy_threads"] = BENCH_THREADS if limited else "default"
            c = benchmark(np.matmul, a, b)
        elif impl == "torch":
            torch = pytest.importorskip("torch")
            at, bt = torch.from_numpy(a), torch.from_numpy(b)
            c = benchmark(torch.mm, at, bt).numpy()
        else:
            out = np.empty((m, n), np.float32)
            benchmark.extra_info["tier"] = tier_of(impl)
            c = benchmark(at_tier(_C.sgemm, tier_of(impl)), a, b, out=out)
    check = a[:7].astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(c[:7], check, rtol=1e-4, atol=1e-3)
