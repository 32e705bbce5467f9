"""SGEMM (pyconvnet._C.sgemm) against float64 matmul: edge grids around the micro-kernel
tiles (MR=6, NR=16; the avx512 tier's 12 x 32) and the blocking constants (KC=256, MC=144,
NC=2048, KC_NARROW=2048), every ISA tier, epilogue fusion, beta=0 overwrite semantics and
thread-count independence."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet import _C
from conftest import same_for_thread_counts, use_isa

MR, NR, KC, MC = 6, 16, 256, 144
KC_NARROW = 2048
WIDE_MR, WIDE_NR = 2 * MR, 2 * NR  # the avx512 tile: two A panels x two B panels


def _operands(m, n, k, seed=0, trans_a=False, trans_b=False):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    ref = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    return a, b, ref


def _close(c, ref, k):
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=2e-6 * max(k, 1) ** 0.5 * 4)


@pytest.mark.parametrize("m", [1, MR - 1, MR, MR + 1, 2 * MR + 1, MC + 1])
@pytest.mark.parametrize("n", [1, NR - 1, NR, NR + 1, 2 * NR + 1])
@pytest.mark.parametrize("k", [1, 7, KC - 1, KC, KC + 1])
def test_edge_grid(isa, m, n, k):
    a, b, ref = _operands(m, n, k, seed=m * 1000 + n * 10 + k)
    _close(_C.sgemm(a, b), ref, k)


@pytest.mark.parametrize("rows", range(1, MR + 1))
@pytest.mark.parametrize("cols", [1, 7, 8, 9, NR - 1, NR])
def test_edge_tiles_give_the_same_bits_as_full_tiles(isa, rows, cols):
    """Edge tiles use smaller kernels; each element must still be the same sum in the same order."""
    a, b, _ = _operands(MR, NR, KC + 3, seed=rows * 100 + cols)
    bias_m = np.linspace(-1, 1, MR, dtype=np.float32)
    bias_n = np.linspace(-2, 2, NR, dtype=np.float32)
    full = _C.sgemm(a, b, bias_m=bias_m, bias_n=bias_n, relu=True)  # one full tile
    # the same products as one edge tile: fewer rows and/or fewer columns
    edge = _C.sgemm(a[:rows], np.ascontiguousarray(b[:, :cols]), bias_m=bias_m[:rows], bias_n=bias_n[:cols], relu=True)
    np.testing.assert_array_equal(edge, full[:rows, :cols])


@pytest.mark.parametrize("rows", range(1, WIDE_MR + 1))
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 31, 32])
def test_wide_edge_tiles_give_the_same_bits_as_full_tiles(isa, rows, cols):
    """The same for the 12 x 32 tile: rows past 6 come from the second A panel, columns past
    16 from the second B panel, partial vectors through masks."""
    a, b, _ = _operands(WIDE_MR, WIDE_NR, KC + 3, seed=rows * 100 + cols)
    bias_m = np.linspace(-1, 1, WIDE_MR, dtype=np.float32)
    bias_n = np.linspace(-2, 2, WIDE_NR, dtype=np.float32)
    out = np.linspace(-3, 3, WIDE_MR * WIDE_NR, dtype=np.float32).reshape(WIDE_MR, WIDE_NR)
    full = out.copy()
    _C.sgemm(a, b, out=full, accumulate=True, bias_m=bias_m, bias_n=bias_n, relu=True)
    edge = np.ascontiguousarray(out[:rows, :cols])
    _C.sgemm(a[:rows], np.ascontiguousarray(b[:, :cols]), out=edge, accumulate=True,
             bias_m=bias_m[:rows], bias_n=bias_n[:cols], relu=True)
    np.testing.assert_array_equal(edge, full[:rows, :cols])


@pytest.mark.parametrize("m", [5, 11, 12, 13, 24, 25])
@pytest.mark.parametrize("n", [15, 16, 17, 31, 32, 33, 48])
@pytest.mark.parametrize("k", [1, 17, KC + 1])
def test_wide_edge_grid_with_full_epilogue(isa, m, n, k):
    """Sizes around the 12 x 32 tile with accumulate + bias_m + bias_n + relu, bit-identical
    for 1, 2 and 3 threads (3 threads split 2-panel tiles at odd panel boundaries)."""
    a, b, ref = _operands(m, n, k, seed=m * 1000 + n * 10 + k)
    rng = np.random.default_rng(m + n + k)
    bm = rng.standard_normal(m).astype(np.float32)
    bn = rng.standard_normal(n).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)

    def run():
        out = c0.copy()
        _C.sgemm(a, b, out=out, accumulate=True, bias_m=bm, bias_n=bn, relu=True)
        return out

    c = same_for_thread_counts(run)
    _close(c, np.maximum(c0 + ref + bm[:, None] + bn[None, :], 0), k)


@pytest.mark.parametrize("m,k", [(MC + 7, KC + 9), (MC + 7, 2 * KC + 1), (40, KC_NARROW + 9), (13, KC_NARROW + 9)])
def test_relu_only_after_the_last_k_block(isa, m, k):
    """Every partial sum over the first k block(s) is very negative and the full sum is +1:
    a ReLU applied after an earlier k block would give a large positive value instead."""
    n = 37
    a = np.ones((m, k), np.float32)
    b = np.full((k, n), -1.0, np.float32)
    b[-1] = k  # the last k row lifts every sum from -(k - 1) to 1
    bm = np.full(m, 0.5, np.float32)
    c = same_for_thread_counts(lambda: _C.sgemm(a, b, bias_m=bm, relu=True))
    np.testing.assert_array_equal(c, np.full((m, n), 1.5, np.float32))
    c = same_for_thread_counts(lambda: _C.sgemm(-a, b, bias_m=bm, relu=True))
    np.testing.assert_array_equal(c, np.zeros((m, n), np.float32))


@pytest.mark.parametrize("shape", [(13, 33, 300), (150, 2100, 40), (25, 48, KC_NARROW + 5), (300, 40, 520)])
def test_avx512_tier_gives_the_avx2_bits(shape):
    """Per element both tiers run the same FMA chain over k and the same epilogue order, so
    the wider tile changes which registers compute an element, not its value."""
    for name in ("avx2", "avx512"):
        if _C.isa_missing(name):
            pytest.skip(f"CPU cannot run the {name} tier")
    m, n, k = shape
    a, b, _ = _operands(m, n, k, 9)
    rng = np.random.default_rng(10)
    bm, bn = rng.standard_normal(m).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    results = []
    for name in ("avx2", "avx512"):
        with use_isa(name):
            out = c0.copy()
            _C.sgemm(a, b, out=out, accumulate=True, bias_m=bm, bias_n=bn, relu=True)
            results.append(out)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("m,n,k", [(13, 1024, 40), (7, 2048, 2100), (MC, 3072, 300)])
def test_rows_4kb_apart_are_packed_along_rows(isa, m, n, k):
    """B rows a multiple of 4 KB apart are packed in groups of panels along each row (k = 2100:
    groups of 18 panels per 2048-row block, a short last group); the same bits as a B whose
    rows are not, since only the packing order changes."""
    a, b, ref = _operands(m, n, k, seed=n)
    c = same_for_thread_counts(lambda: _C.sgemm(a, b))
    _close(c, ref, k)
    unaligned = np.pad(b, ((0, 0), (0, 3)))  # 4 KB + 12 bytes between rows
    np.testing.assert_array_equal(c, _C.sgemm(a, unaligned)[:, :n])


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("shape", [(7, 33, 300), (150, 20, 513), (13, 2100, 9), (7, 35, 4100)])
def test_transposed_operands(isa, trans_a, trans_b, shape):
    m, n, k = shape
    a, b, ref = _operands(m, n, k, 1, trans_a, trans_b)
    _close(_C.sgemm(a, b, trans_a=trans_a, trans_b=trans_b), ref, k)


@pytest.mark.parametrize("n", [1, NR - 1, NR, NR + 1, 2 * NR + 1])
@pytest.mark.parametrize("k", [1, 15, 16, 17, 31, KC + 17, KC_NARROW + 17])
@pytest.mark.parametrize("m", [5, 13, MC + 1])
def test_transposed_b_packs_the_same_panels(isa, m, n, k):
    """A B with contiguous columns (Linear's W^T; the avx512 tier packs it by 16 x 16
    transposes, masked for a k tail under 16, zero columns past n) gives the bits of the same B
    stored by rows: only the packer differs."""
    a, b, ref = _operands(m, n, k, seed=7 * m + n + k, trans_b=True)
    c = same_for_thread_counts(lambda: _C.sgemm(a, b, trans_b=True, bias_n=np.arange(n, dtype=np.float32)))
    rows = _C.sgemm(a, np.ascontiguousarray(b.T), bias_n=np.arange(n, dtype=np.float32))
    assert c.tobytes() == rows.tobytes()
    _close(c, ref + np.arange(n), k)


def test_k_zero_gives_zeros_plus_bias(isa):
    a = np.zeros((3, 0), np.float32)
    b = np.zeros((0, 5), np.float32)
    bias_m = np.arange(3, dtype=np.float32)
    c = _C.sgemm(a, b, bias_m=bias_m)
    np.testing.assert_array_equal(c, np.repeat(bias_m[:, None], 5, axis=1))


def test_empty_dimensions():
    assert _C.sgemm(np.zeros((0, 4), np.float32), np.zeros((4, 3), np.float32)).shape == (0, 3)
    assert _C.sgemm(np.zeros((2, 4), np.float32), np.zeros((4, 0), np.float32)).shape == (2, 0)


@pytest.mark.parametrize("shape", [(17, 40, 300), (MC + 7, 35, 20)])
def test_epilogue_bias_and_relu(isa, shape):
    m, n, k = shape
    a, b, ref = _operands(m, n, k, 3)
    rng = np.random.default_rng(4)
    bm = rng.standard_normal(m).astype(np.float32)
    bn = rng.standard_normal(n).astype(np.float32)
    c = _C.sgemm(a, b, bias_m=bm, bias_n=bn, relu=True)
    _close(c, np.maximum(ref + bm[:, None] + bn[None, :], 0), k)
    assert (c >= 0).all()


def test_beta_zero_overwrites_nan(isa):
    a, b, ref = _operands(20, 37, 300, 5)
    out = np.full((20, 37), np.nan, np.float32)
    _C.sgemm(a, b, out=out)
    assert np.isfinite(out).all()
    _close(out, ref, 300)


def test_accumulate_adds_into_out(isa):
    a, b, ref = _operands(20, 37, 300, 6)
    out = np.ones((20, 37), np.float32)
    _C.sgemm(a, b, out=out, accumulate=True)
    _close(out, ref + 1, 300)


def test_nan_in_operand_propagates(isa):
    a, b, _ = _operands(8, 20, 10, 7)
    a[2, 3] = np.nan
    c = _C.sgemm(a, b)
    assert np.isnan(c[2]).all() and np.isfinite(np.delete(c, 2, axis=0)).all()


@pytest.mark.parametrize("shape", [(100, 2100, 600), (300, 40, 520), (7, 5000, 30)])
def test_identical_for_any_thread_count(isa, shape):
    m, n, k = shape
    a, b, ref = _operands(m, n, k, 8)
    c = same_for_thread_counts(lambda: _C.sgemm(a, b))
    _close(c, ref, k)


def test_bad_input_messages():
    a = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="do not multiply"):
        _C.sgemm(a, np.zeros((5, 2), np.float32))
    with pytest.raises(TypeError, match="a must have dtype float32"):
        _C.sgemm(a.astype(np.float64), np.zeros((4, 2), np.float32))
    with pytest.raises(TypeError, match="C-contiguous"):
        _C.sgemm(np.zeros((4, 3), np.float32).T, np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="bias_m must have shape"):
        _C.sgemm(a, np.zeros((4, 2), np.float32), bias_m=np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="out must have shape"):
        _C.sgemm(a, np.zeros((4, 2), np.float32), out=np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="a must be 2-D"):
        _C.sgemm(np.zeros(3, np.float32), np.zeros((4, 2), np.float32))
