"""dropout: exact mask specification, statistics, reproducibility, backward, validation.

The mask oracle is an independent NumPy implementation of csrc/common/rng.h: element i is kept
iff rng_bits(rng_key(seed), i) >= min(round(p * 2^32), 2^32 - 1), and the output is
x * (float32(1 / (1 - p)) if kept else 0), bit for bit, on every ISA tier and any thread count.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyconvnet.functional as F
from pyconvnet import _C
from reference import elementwise as R
from reference.elementwise import using

SIZES = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 16383, 16384, 16385, 3 * 16384 + 5, 1000003]
SEEDS = [0, 1, 12345, 2**32 - 1, 2**32, 2**63 + 7, 2**64 - 1]


def rand(shape, seed=0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape), dtype=np.float32)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_matches_mask_specification(isa, n, p):
    x = rand(n, seed=n)
    seed = 1000 + n
    y = F.dropout(x, p, training=True, seed=seed)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, R.dropout(x, p, seed))


@pytest.mark.parametrize("seed", SEEDS)
def test_seeds_across_the_64_bit_range(isa, seed):
    x = rand(4099, seed=1)
    np.testing.assert_array_equal(F.dropout(x, 0.3, seed=seed), R.dropout(x, 0.3, seed))


def test_kept_values_scaled_exactly(isa):
    x = rand(100003, seed=2)
    for p in (0.1, 0.2, 0.25, 1 / 3, 0.5, 0.7, 0.99):
        y = F.dropout(x, p, seed=7)
        kept = y != 0
        scale = np.float32(1.0 / (1.0 - p))
        np.testing.assert_array_equal(y[kept], x[kept] * scale)
        assert np.all(y[~kept] == 0)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.8, 0.95])
def test_kept_fraction_binomial(isa, p):
    n = 1_000_000
    y = F.dropout(np.ones(n, np.float32), p, seed=int(p * 1000))
    kept = np.count_nonzero(y)
    sd = math.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) < 5 * sd, (kept, n * (1 - p), sd)
    # neighbouring elements are independent: P(both kept) ~ (1-p)^2
    k = y != 0
    both = np.count_nonzero(k[1:] & k[:-1])
    q = (1 - p) ** 2
    assert abs(both - (n - 1) * q) < 6 * math.sqrt(n * q * (1 - q))
    # each of 8 SIMD lanes and 64 consecutive blocks sees the same rate
    lanes = k[: n - n % 8].reshape(-1, 8).mean(axis=0)
    assert np.all(np.abs(lanes - (1 - p)) < 5 * math.sqrt(p * (1 - p) / (n / 8)))


def test_different_seeds_differ(isa):
    x = np.ones(10000, np.float32)
    a, b = F.dropout(x, 0.5, seed=1), F.dropout(x, 0.5, seed=2)
    agree = np.mean((a != 0) == (b != 0))
    assert 0.47 < agree < 0.53


def test_seed_none_draws_fresh_masks(isa):
    x = np.ones(4096, np.float32)
    a, b = F.dropout(x, 0.5), F.dropout(x, 0.5)
    assert not np.array_equal(a, b)
    for y in (a, b):
        assert set(np.unique(y).tolist()) <= {0.0, 2.0}



@pytest.mark.parametrize("n", [37, 100])
def test_threshold_equal_to_the_hash_keeps(isa, n):
    """kept iff bits >= threshold: with the threshold set to an element's own bits (p = bits / 2^32
    is exact in double), that element is kept, and dropped one step above; in the 2 x 16-lane body,
    the single 16-lane block and the masked tail alike."""
    seed = 4242
    bits = R.rng_bits(R.rng_key(seed), np.arange(n, dtype=np.uint64))
    x = np.ones(n, np.float32)
    for i in (3, 20, 33, n - 1):
        for t, kept in ((int(bits[i]), True), (int(bits[i]) + 1, False)):
            y = F.dropout(x, t / 2.0**32, seed=seed)
            assert (y[i] != 0) == kept, (i, t)
            np.testing.assert_array_equal(y, R.dropout(x, t / 2.0**32, seed))

def test_threads_and_isa_bit_identical():
    x = rand((64, 3, 37, 41), seed=3)
    outs = []
    for isa_name in R.isa_names():
        for t in (1, 2, 3):
            with using(isa=isa_name, threads=t):
                outs.append((F.dropout(x, 0.4, seed=99), _C.dropout_backward(x, 0.4, 99)))
    for y, g in outs:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(g, outs[0][1])
    np.testing.assert_array_equal(outs[0][0], R.dropout(x, 0.4, 99))


def test_backward_regenerates_the_mask(isa):
    x = rand((8, 16, 9, 9), seed=4)
    gy = rand(x.shape, seed=5)
    y = F.dropout(x, 0.35, seed=2024)
    gx = _C.dropout_backward(gy, 0.35, 2024)
    scale = np.float32(1 / 0.65)
    kept = y != 0
    np.testing.assert_array_equal(gx[kept], gy[kept] * scale)
    np.testing.assert_array_equal(gx[~kept], 0)
    np.testing.assert_array_equal(gx, R.dropout(gy, 0.35, 2024))
    # d(sum(y * gy))/dx == gx: y is linear in x with this mask
    np.testing.assert_array_equal(_C.dropout_forward(gy, 0.35, 2024), gx)


def test_identity_cases_return_the_input():
    x = rand((4, 5), seed=6)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True, seed=3) is x
    assert F.dropout(x, 1.0, training=False) is x
    x64 = x.astype(np.float64)
    y = F.dropout(x64, 0.5, training=False)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    # the kernel itself: p == 0 keeps everything, exactly
    np.testing.assert_array_equal(_C.dropout_forward(x, 0.0, 5), x)


def test_p_one_gives_zeros(isa):
    x = rand(1001, seed=8)
    y = F.dropout(x, 1.0, seed=1)
    np.testing.assert_array_equal(y, np.zeros_like(x))
    np.testing.assert_array_equal(_C.dropout_backward(x, 1.0, 1), np.zeros_like(x))


def test_special_values_follow_pytorch(isa):
    """Output is x * mask: a dropped NaN or inf gives NaN, as PyTorch's input * noise."""
    x = np.array([np.nan, np.inf, -np.inf, -0.0, -2.0, 3e38] * 200, dtype=np.float32)
    y = F.dropout(x, 0.5, seed=11)
    keep = R.dropout_keep_mask(x.size, 0.5, 11)
    assert np.isnan(y[~keep & ~np.isfinite(x)]).all()
    assert np.isnan(y[np.isnan(x)]).all()
    np.testing.assert_array_equal(y[keep & np.isinf(x)], x[keep & np.isinf(x)])
    assert np.isinf(y[keep & (x == 3e38)]).all()  # 3e38 * 2 overflows to inf like PyTorch
    np.testing.assert_array_equal(y, R.dropout(x, 0.5, 11))


def test_tiny_and_huge_p(isa):
    x = np.ones(20000, np.float32)
    y = F.dropout(x, 1e-12, seed=3)  # threshold rounds to 0: all kept, scale rounds to 1
    np.testing.assert_array_equal(y, x)
    y = F.dropout(x, 1 - 1e-12, seed=3)  # threshold clamps to 2^32 - 1
    np.testing.assert_array_equal(y, R.dropout(x, 1 - 1e-12, 3))
    assert np.count_nonzero(y) <= 1


def test_shapes_and_conversion():
    for shape in [(), (0,), (3, 0, 2), (5,), (2, 3, 4, 5)]:
        x = rand(shape, seed=9)
        y = F.dropout(x, 0.5, seed=1)
        assert y.shape == x.shape and y.dtype == np.float32
        np.testing.assert_array_equal(y, R.dropout(x, 0.5, 1))
    x = rand((6, 7), seed=10)
    np.testing.assert_array_equal(F.dropout(x.T, 0.5, seed=4), F.dropout(np.ascontiguousarray(x.T), 0.5, seed=4))
    np.testing.assert_array_equal(F.dropout(x.astype(np.float64), 0.5, seed=4), F.dropout(x, 0.5, seed=4))
    np.testing.assert_array_equal(F.dropout([1.0, 2.0, 3.0], 0.5, seed=2), R.dropout([1, 2, 3], 0.5, 2))
    keep = x.copy()
    F.dropout(x, 0.5, seed=4)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_array_equal(F.dropout(x, 0.5, seed=np.uint64(4)), F.dropout(x, 0.5, seed=4))


def test_concurrent_python_threads():
    """Kernels release the GIL and share no mutable state: concurrent calls equal sequential ones."""
    from concurrent.futures import ThreadPoolExecutor

    x = rand((16, 8, 33, 33), seed=12)
    jobs = [lambda s=s: F.dropout(x, 0.3, seed=s) for s in range(12)]
    jobs += [lambda: _C.dropout_backward(x, 0.6, 5), lambda: F.relu(x), lambda: F.softmax(x, 1)]
    want = [job() for job in jobs]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda job: job(), jobs * 3))
    for k, g in enumerate(got):
        np.testing.assert_array_equal(g, want[k % len(jobs)])


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), float("inf")])
def test_bad_p(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        F.dropout(np.ones(3, np.float32), p)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        _C.dropout_forward(np.ones(3, np.float32), p, 0)


def test_bad_arguments():
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"p must be a real number"):
        F.dropout(x, "0.5")
    with pytest.raises(TypeError, match=r"astype"):
        F.dropout(np.ones(3, np.int64), 0.5)
    with pytest.raises(TypeError, match=r"training must be a bool"):
        F.dropout(x, 0.5, training="yes")
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, 2\*\*64\)"):
        F.dropout(x, 0.5, seed=-1)
    with pytest.raises(ValueError, match=r"seed"):
        F.dropout(x, 0.5, seed=2**64)
    with pytest.raises(TypeError, match=r"seed"):
        F.dropout(x, 0.5, seed=1.5)
    with pytest.raises(TypeError, match=r"seed"):
        F.dropout(x, 0.5, seed=True)
    with pytest.raises(TypeError, match=r"grad_y must have dtype float32"):
        _C.dropout_backward(x.astype(np.float64), 0.5, 1)
    with pytest.raises(TypeError, match=r"C-contiguous"):
        _C.dropout_forward(np.ones((3, 3), np.float32).T, 0.5, 1)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 40), min_size=1, max_size=4),
    p=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
    threads=st.sampled_from([1, 2, 3]),
    isa_name=st.sampled_from(["ref", "avx2", "avx512"]),
)
def test_hypothesis_mask(shape, p, seed, threads, isa_name):
    isa_name = R.runnable_isa(isa_name)
    x = rand(shape, seed=seed % 1000)
    with using(isa=isa_name, threads=threads):
        y = F.dropout(x, p, seed=seed)
    want = x if p == 0 else R.dropout(x, p, seed)
    np.testing.assert_array_equal(y, want)
