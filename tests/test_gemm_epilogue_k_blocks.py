"""SGEMM's fused epilogue (bias_m, bias_n, relu) when K spans several K blocks, against a
float64 oracle on every ISA tier.

The epilogue belongs after the last K block only. K here is two full blocks plus a remainder
(KC = 256 above MC = 144 rows, KC_NARROW = 2048 at most 144 rows), and the partial sums are
negative after the first block and mixed in sign at the end: a ReLU or a bias applied after an
earlier block changes the result.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet import _C

KC, MC, KC_NARROW = 256, 144, 2048

# (m, n, k, block): k = 2 blocks + a remainder of the K block size the row count selects
SHAPES = [(MC + 7, 37, 2 * KC + 100, KC), (40, 37, 2 * KC_NARROW + 100, KC_NARROW),
          (13, 20, 2 * KC_NARROW + 9, KC_NARROW)]


def _operands(m, n, k, block, seed):
    """a > 0; b's first block < 0, its second block > 0 scaled per column, the remainder mixed.

    Every partial sum is negative after the first block; at the end about half the columns are
    positive. Values are small multiples of 1/8 times uniform floats, well inside float32 range.
    """
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 1.5, (m, k)).astype(np.float32)
    b = np.empty((k, n), np.float32)
    b[:block] = -rng.uniform(0.5, 1.5, (block, n))
    col = rng.uniform(0.4, 1.6, n)  # column sums end near (col - 1) * block: both signs
    b[block:2 * block] = rng.uniform(0.5, 1.5, (block, n)) * col
    b[2 * block:] = rng.normal(0.0, 1.0, (k - 2 * block, n))
    return a, b


def _mm64(a, b):
    # float64 product without BLAS (whose thread pool can stall next to _C's threads)
    return np.einsum("ik,kj->ij", a.astype(np.float64), b.astype(np.float64))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("bias", ["none", "m", "n", "mn"])
@pytest.mark.parametrize("m,n,k,block", SHAPES)
def test_epilogue_only_after_the_last_k_block(isa, m, n, k, block, bias, relu):
    a, b = _operands(m, n, k, block, seed=m + n + k)
    rng = np.random.default_rng(7)
    bm = rng.uniform(-50, 50, m).astype(np.float32) if "m" in bias else None
    bn = rng.uniform(-50, 50, n).astype(np.float32) if "n" in bias else None

    exact = _mm64(a, b)
    first = _mm64(a[:, :block], b[:block])
    assert first.max() < -100  # guards the construction: every partial sum starts negative
    if bm is not None:
        exact += bm[:, None]
    if bn is not None:
        exact += bn[None, :]
    assert (exact > 0).mean() > 0.2 and (exact < 0).mean() > 0.2  # so the final ReLU matters too
    want = np.maximum(exact, 0.0) if relu else exact

    kwargs = {"relu": relu}
    if bm is not None:
        kwargs["bias_m"] = bm
    if bn is not None:
        kwargs["bias_n"] = bn
    c = _C.sgemm(a, b, **kwargs)
    # float32 accumulation of k terms of size ~1-2: error grows like sqrt(k) * |a||b| ulps
    scale = _mm64(np.abs(a), np.abs(b))
    np.testing.assert_allclose(c, want, rtol=0, atol=float(scale.max()) * 2e-6)
