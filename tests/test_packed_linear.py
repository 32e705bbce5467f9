"""_C.PackedLinear (the fully connected layer packed once for serving) and _C.round_to_bf16.

float32 against a float64 NumPy oracle and against _C.linear_forward; bf16 against the float64
oracle on the bfloat16-rounded inputs and weights; every tier, batch sizes on both sides of the
GEMV/GEMM switch and of MC = 144, sizes off the 16-column panels and past the k block of 2048;
the same bits for any thread count, repeated calls and concurrent Python threads.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from pyconvnet import _C
from conftest import same_for_thread_counts, threads, use_isa

MS = [1, 2, 3, 4, 5, 7, 16, 64, 150, 300]
# (in, out): off the 16-column panels, one k block, and past KC_NARROW = 2048 (odd tail too).
SIZES = [(5, 3), (37, 33), (300, 100), (2049, 17), (4101, 40)]
MC = 144


def _bf16(a):
    """float32 -> bfloat16 (as float32) by float64 arithmetic, not by bit tricks: 8 significant
    bits, round half to even (np.rint); float32 subnormals flush to signed zero; past the largest
    bfloat16 to infinity; NaN made quiet keeping sign and the top payload bits."""
    a = np.asarray(a, np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # signalling NaN, overflow to inf
        x = a.astype(np.float64)
        mant, exp = np.frexp(x)  # x = mant * 2**exp, 0.5 <= |mant| < 1
        r = np.ldexp(np.rint(mant * 256.0) / 256.0, exp)
        r = np.where(np.abs(x) < 2.0 ** -126, np.copysign(0.0, x), r)
        r = np.where(np.abs(r) > 3.3895313892515355e38, np.copysign(np.inf, x), r)  # 0x7F7F0000
        r = np.where(np.isinf(x), x, r)
        out = r.astype(np.float32)
    nan = np.isnan(a)
    bits = a.view(np.uint32)
    qnan = ((bits >> 16) | np.uint32(0x40)) << 16
    return np.where(nan, qnan.view(np.float32), out).astype(np.float32)


def _data(m, i, o, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, i)).astype(np.float32)
    w = (rng.standard_normal((o, i)) / np.sqrt(max(i, 1))).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    return x, w, b


def _oracle(x, w, b, relu=False):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    if b is not None:
        y = y + b.astype(np.float64)
    return np.maximum(y, 0.0) if relu else y


def _close(y, ref):
    scale = max(float(np.abs(ref).max()), 1e-30)
    err = float(np.abs(y.astype(np.float64) - ref).max())
    assert err <= 1e-5 * scale, f"max error {err:.3g} vs output scale {scale:.3g}"


def _has_bf16_dot():
    return bool(_C.cpu_features()["avx512_bf16"]) and not _C.isa_missing("avx512")


# ---- round_to_bf16 ----------------------------------------------------------------------------


def _specials():
    bits = np.array([
        0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00800000,
        0x80800000, 0x3F800000, 0x3F808000, 0x3F818000, 0x3F808001, 0x3F817FFF, 0xBF808000,
        0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F7FFF, 0x7F7F8000, 0x7F800000, 0xFF800000, 0x7FC00000,
        0xFFC00000, 0x7F800001, 0xFF812345, 0x7FBFFFFF, 0x00FF8000, 0x01008000,
    ], np.uint32)
    return bits.view(np.float32)


def test_round_to_bf16_bits(isa):
    # On the avx512 tier of a CPU with AVX512-BF16 this runs VCVTNEPS2BF16, so the NumPy oracle
    # is checked against the hardware's rounding too.
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 2**32, size=100_003, dtype=np.uint64).astype(np.uint32).view(np.float32)
    ties = ((rng.integers(0, 2**16, 4001, dtype=np.uint64).astype(np.uint32) << 16) | 0x8000)
    normal = (rng.standard_normal(5000) * 10.0 ** rng.integers(-40, 38, 5000)).astype(np.float32)
    for x in (_specials(), raw, ties.view(np.float32), normal):
        got = _C.round_to_bf16(x)
        assert got.shape == x.shape and got.dtype == np.float32
        np.testing.assert_array_equal(got.view(np.uint32), _bf16(x).view(np.uint32))


def test_round_to_bf16_shapes_and_tail(isa):
    x = np.random.default_rng(4).standard_normal((3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(_C.round_to_bf16(x).view(np.uint32), _bf16(x).view(np.uint32))
    for n in (0, 1, 15, 16, 17, 33):
        v = x.reshape(-1)[:n].copy()
        np.testing.assert_array_equal(_C.round_to_bf16(v).view(np.uint32), _bf16(v).view(np.uint32))
    with pytest.raises(TypeError, match="x must have dtype float32"):
        _C.round_to_bf16(x.astype(np.float64))


def test_round_to_bf16_hardware_matches_portable():
    if not _has_bf16_dot():
        pytest.skip("no AVX512-BF16 on this CPU")
    x = np.random.default_rng(5).integers(0, 2**32, 70_000, dtype=np.uint64).astype(np.uint32)
    x = np.concatenate([x.view(np.float32), _specials()])
    with use_isa("avx512"):
        hw = _C.round_to_bf16(x)
    with use_isa("ref"):
        sw = _C.round_to_bf16(x)
    np.testing.assert_array_equal(hw.view(np.uint32), sw.view(np.uint32))


# ---- float32 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("i,o", SIZES)
def test_fp32(isa, i, o):
    x, w, b = _data(max(MS), i, o)
    for bias in (b, None):
        pl = _C.PackedLinear(w, bias)
        for m in MS:
            xm = x[:m]
            y = pl.forward(xm)
            assert y.shape == (m, o) and y.dtype == np.float32
            _close(y, _oracle(xm, w, bias))
            lf = _C.linear_forward(xm, w, bias)
            _close(lf, _oracle(xm, w, bias))
            if m <= MC:
                # Same k blocks and per-element sums as the GEMM micro-kernels of this tier.
                np.testing.assert_array_equal(y, lf)
            np.testing.assert_array_equal(pl.forward(xm, relu=True), np.maximum(y, 0))
        # A row's result does not depend on the batch it comes in (GEMV or GEMM).
        full = pl.forward(x)
        for m in MS:
            np.testing.assert_array_equal(pl.forward(x[:m]), full[:m])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_bits_for_thread_counts_and_repeats(isa, precision):
    x, w, b = _data(300, 2100, 70, seed=6)
    pl = _C.PackedLinear(w, b, precision)
    for m in (1, 4, 7, 16, 150, 300):
        xm = x[:m]
        y = same_for_thread_counts(lambda: pl.forward(xm, relu=True), counts=(1, 2, 3))
        for _ in range(3):
            np.testing.assert_array_equal(pl.forward(xm, relu=True), y)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_concurrent_python_threads(isa, precision):
    x, w, b = _data(64, 3136, 200, seed=7)
    pl = _C.PackedLinear(w, b, precision)
    batches = [x[: (1, 2, 4, 5, 16, 64, 3, 1)[t]] for t in range(8)]
    with threads(2):
        expected = [pl.forward(xb) for xb in batches]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(3):
                got = list(pool.map(pl.forward, batches))
                for e, g in zip(expected, got):
                    np.testing.assert_array_equal(g, e)


def test_unpack_fp32_exact(isa):
    for i, o in SIZES:
        _, w, b = _data(1, i, o, seed=8)
        pl = _C.PackedLinear(w, b)
        back = pl.unpack()
        assert back.shape == (o, i) and back.dtype == np.float32
        np.testing.assert_array_equal(back.view(np.uint32), w.view(np.uint32))
        assert pl.in_features == i and pl.out_features == o
        assert pl.nbytes == (o + 15) // 16 * 16 * i * 4 + o * 4


def test_kernel_names(isa):
    _, w, b = _data(1, 300, 40)
    pl = _C.PackedLinear(w, b)
    assert pl.kernel_name(1) == f"gemv {isa}"
    big = "gemm avx512 12x32 direct" if isa == "avx512" else f"gemm {isa} prepacked"
    assert pl.kernel_name(300) == big


def test_empty_sizes(isa):
    b = np.array([1.0, -2.0, 3.0], np.float32)
    pl = _C.PackedLinear(np.zeros((3, 0), np.float32), b)
    np.testing.assert_array_equal(pl.forward(np.zeros((2, 0), np.float32)), np.tile(b, (2, 1)))
    np.testing.assert_array_equal(pl.forward(np.zeros((2, 0), np.float32), relu=True),
                                  np.tile(np.maximum(b, 0), (2, 1)))
    pl = _C.PackedLinear(np.zeros((0, 5), np.float32), None)
    assert pl.forward(np.ones((4, 5), np.float32)).shape == (4, 0)
    pl = _C.PackedLinear(np.ones((3, 5), np.float32), None)
    assert pl.forward(np.ones((0, 5), np.float32)).shape == (0, 3)


# ---- bfloat16 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("i,o", SIZES)
def test_bf16(isa, i, o):
    x, w, b = _data(max(MS), i, o, seed=9)
    wr = _bf16(w)
    for bias in (b, None):
        pl = _C.PackedLinear(w, bias, "bf16")
        np.testing.assert_array_equal(pl.unpack().view(np.uint32), wr.view(np.uint32))
        for m in MS:
            xm = x[:m]
            y = pl.forward(xm)
            assert y.shape == (m, o)
            _close(y, _oracle(_bf16(xm), wr, bias))
            np.testing.assert_array_equal(pl.forward(xm, relu=True), np.maximum(y, 0))
            name = pl.kernel_name(m)
            assert "bf16" in name
            if "avx512-bf16" not in pl.kernel_name(1) and m <= MC:
                # Rounded float32 values through the float32 kernels: linear_forward's bits.
                np.testing.assert_array_equal(y, _C.linear_forward(_bf16(xm), wr, bias))
        # VDPBF16PS kernels too give a row the same bits whatever batch it comes in.
        full = pl.forward(x)
        for m in MS:
            np.testing.assert_array_equal(pl.forward(x[:m]), full[:m])


def test_bf16_kernel_and_storage():
    _, w, b = _data(1, 3136, 100)
    with use_isa("avx512") if not _C.isa_missing("avx512") else use_isa(_C.isa()):
        pl = _C.PackedLinear(w, b, "bf16")
        if _has_bf16_dot():
            assert pl.kernel_name(1) == "gemv bf16 avx512-bf16 dot"
            assert pl.kernel_name(300) == "gemm bf16 avx512-bf16 dot"
            assert pl.nbytes == 112 * 3136 * 2 + 100 * 4  # bfloat16 pairs
        else:
            assert pl.kernel_name(1).startswith("gemv bf16 emulated")
            assert pl.nbytes == 112 * 3136 * 4 + 100 * 4


def test_bf16_layout_used_on_other_tiers():
    # Weights packed for one tier stay valid when the tier changes afterwards.
    x, w, b = _data(20, 2051, 50, seed=10)
    ref = _oracle(_bf16(x), _bf16(w), b)
    for build in _C.supported_isas():
        with use_isa(build):
            pl = {p: _C.PackedLinear(w, b, p) for p in ("fp32", "bf16")}
        for run in _C.supported_isas():
            with use_isa(run):
                for m in (1, 20):
                    _close(pl["bf16"].forward(x[:m]), ref[:m])
                    _close(pl["fp32"].forward(x[:m]), _oracle(x[:m], w, b))


def test_bf16_special_values(isa):
    # Subnormal weights and inputs count as zero; NaN and infinities propagate.
    w = np.array([[1e-40, 1.0], [2.0, -3.0]], np.float32)
    pl = _C.PackedLinear(w, None, "bf16")
    y = pl.forward(np.array([[1.0, 1e-40], [np.inf, 0.5], [np.nan, 1.0]], np.float32))
    np.testing.assert_array_equal(y[0], [0.0, 2.0])
    assert np.isnan(y[1, 0]) or y[1, 0] == np.inf  # inf * 0 (a flushed weight) is NaN
    assert y[1, 1] == np.inf
    assert np.isnan(y[2]).all()


# ---- bad input --------------------------------------------------------------------------------


def test_bad_input():
    _, w, b = _data(1, 6, 3)
    with pytest.raises(ValueError, match="weight must be 2-D"):
        _C.PackedLinear(w[0], None)
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        _C.PackedLinear(w.astype(np.float64), None)
    with pytest.raises(TypeError, match="weight must be a numpy.ndarray"):
        _C.PackedLinear([[1.0]], None)
    with pytest.raises(TypeError, match="weight must be C-contiguous"):
        _C.PackedLinear(np.asfortranarray(w), None)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        _C.PackedLinear(w, b[:2])
    with pytest.raises(TypeError, match="bias must have dtype float32"):
        _C.PackedLinear(w, b.astype(np.int32))
    with pytest.raises(ValueError, match="precision must be 'fp32' or 'bf16'"):
        _C.PackedLinear(w, b, "fp16")
    pl = _C.PackedLinear(w, b)
    with pytest.raises(ValueError, match="x has 5 features but the layer expects 6"):
        pl.forward(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="x must be 2-D"):
        pl.forward(np.zeros(6, np.float32))
    with pytest.raises(TypeError, match="x must have dtype float32"):
        pl.forward(np.zeros((2, 6), np.float64))
    with pytest.raises(TypeError, match="x must be C-contiguous"):
        pl.forward(np.zeros((6, 2), np.float32).T)
