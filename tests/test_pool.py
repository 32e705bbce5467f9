"""max / avg / LP / global-average pooling: forward (pyconvnet.functional) and backward (_C).

Oracle: float64 NumPy loops (tests/reference/pool.py); torch is an extra oracle when installed.
Kernel tests run on every ISA tier the CPU supports; thread counts 1/2/3 (and the ISA tiers,
which follow the same summation / comparison order) must give identical bits.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyconvnet.functional as F
from conftest import threads as use_threads
from conftest import ISAS, use_isa
from pyconvnet import _C
from reference import pool as R

# around the 4-, 8- (AVX2) and 16-output (AVX-512) blocks: output widths up to 33 at stride 1
# and 2 (w 63..67 gives 31..33 outputs at stride 2)
SIZES = [1, 2, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 31, 32, 33, 34, 35, 63, 64, 65, 66, 67]

# (kernel, stride, padding): stride 1 and 2 take the vector paths, 3 the portable one.
GEOMETRIES = [
    (1, 1, 0), (1, 2, 0), (2, 2, 0), (2, 1, 0), (2, 2, 1), (3, 2, 0), (3, 2, 1), (3, 1, 1),
    (3, 3, 0), ((2, 3), (1, 2), (1, 1)), ((3, 2), (2, 1), (0, 1)), (4, 2, 2), (5, 2, 2),
    (5, 3, 1), ((1, 4), (3, 2), (0, 2)),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def valid(shape, k, s, p, ceil_mode=False):
    """Is (k, s, p) valid for an input of `shape` (PyTorch's rules)?"""
    k, s, p = _pair(k), _pair(s), _pair(p)
    H, W = shape[-2:]
    return all(k[i] <= (H, W)[i] + 2 * p[i] and p[i] <= k[i] // 2 for i in range(2))


def rand(shape, seed=0, positive=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    return np.abs(x) + 0.1 if positive else x


def distinct(shape, seed=0):
    """Values with no ties (a permutation), spaced by 0.25: max-pool gradients have no kinks."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n).astype(np.float32) * 0.25 - n / 8).reshape(shape)


# --- forward against the oracle ------------------------------------------------------------

@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool2d_grid(isa, geom, ceil_mode):
    k, s, p = geom
    checked = 0
    for h in (1, 3, 8):
        for w in SIZES:
            shape = (2, 3, h, w)
            if not valid(shape, k, s, p):
                continue
            x = rand(shape, seed=w * 31 + h)
            x[0, 0].flat[::3] = 0.5  # ties: the first maximum's index wins
            y, idx = F.max_pool2d(x, k, s, p, ceil_mode, return_indices=True)
            ry, ridx = R.max_pool2d(x, k, s, p, ceil_mode)
            assert y.dtype == np.float32 and idx.dtype == np.int32
            assert y.shape == ry.shape, (shape, geom)
            np.testing.assert_array_equal(y, ry.astype(np.float32), err_msg=str((shape, geom)))
            np.testing.assert_array_equal(idx, ridx, err_msg=str((shape, geom)))
            np.testing.assert_array_equal(F.max_pool2d(x, k, s, p, ceil_mode), y)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_grid(isa, geom, ceil_mode, count_include_pad):
    k, s, p = geom
    checked = 0
    for h in (1, 3, 8):
        for w in SIZES:
            shape = (2, 3, h, w)
            if not valid(shape, k, s, p):
                continue
            x = rand(shape, seed=w * 31 + h)
            y = F.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad)
            ry = R.avg_pool2d(x, k, s, p, ceil_mode, count_include_pad)
            assert y.dtype == np.float32 and y.shape == ry.shape, (shape, geom)
            np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-6, err_msg=str((shape, geom)))
            checked += 1
    assert checked > 0


def test_ceil_mode_overhang_divisor():
    # W=5, k=2, s=2, ceil: 3 outputs, the last window holds one input cell and one cell past
    # the input (not padding): divisor 1 in both modes, as PyTorch.
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5)
    y = F.avg_pool2d(x, (1, 2), ceil_mode=True)
    np.testing.assert_array_equal(y, [[[[0.5, 2.5, 4.0]]]])
    # With padding 1 on W=4, k=3, s=2, ceil: windows [-1,2), [1,4), [3,5]: the last one holds
    # input cell 3 and right-padding cell 4 -> divisor 2 with count_include_pad, 1 without.
    x = np.array([[[[1, 2, 3, 4]]]], dtype=np.float32)
    assert F.avg_pool2d(x, (1, 3), (1, 2), (0, 1), True, True).tolist() == [[[[1.0, 3.0, 2.0]]]]
    assert F.avg_pool2d(x, (1, 3), (1, 2), (0, 1), True, False).tolist() == [[[[1.5, 3.0, 4.0]]]]


def test_kernel_equal_to_input_and_padded_input(isa):
    x = rand((2, 3, 5, 7))
    np.testing.assert_array_equal(F.max_pool2d(x, (5, 7)), x.max(axis=(2, 3), keepdims=True))
    np.testing.assert_allclose(F.avg_pool2d(x, (5, 7)), x.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    # kernel == padded input (padding 1 each side)
    y = F.max_pool2d(x, (7, 9), padding=(1, 1))
    np.testing.assert_array_equal(y, x.max(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("norm_type", [1, 2, 3, 1.5, 0.5])
@pytest.mark.parametrize("geom", [(2, 2), (3, 2), (2, 1), ((2, 3), (1, 2)), (3, 3)], ids=str)
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_lp_pool2d_grid(norm_type, geom, ceil_mode):
    k, s = geom
    for h, w in [(3, 7), (8, 9), (5, 17)]:
        shape = (2, 2, h, w)
        if not valid(shape, k, s, 0):
            continue
        # positive data for fractional p (x**1.5 of a negative is NaN, as in PyTorch)
        x = rand(shape, seed=h * w, positive=float(norm_type) != int(norm_type))
        y = F.lp_pool2d(x, norm_type, k, s, ceil_mode)
        ry = R.lp_pool2d(x, norm_type, k, s, ceil_mode)
        np.testing.assert_allclose(y, ry, rtol=2e-5, atol=1e-6, err_msg=str((shape, geom)))


def test_lp_pool2d_negative_values_follow_pytorch():
    x = np.array([[[[-1.0, -2.0], [3.0, -4.0]]]], dtype=np.float32)
    assert F.lp_pool2d(x, 1, 2).item() == pytest.approx(-4.0)  # the plain sum
    assert F.lp_pool2d(x, 2, 2).item() == pytest.approx(np.sqrt(30.0))
    assert np.isnan(F.lp_pool2d(x, 1.5, 2).item())  # (-1) ** 1.5


@pytest.mark.parametrize("hw", [(1, 1), (1, 7), (3, 3), (8, 8), (7, 9), (32, 33)])
def test_global_avg_pool2d(hw):
    x = rand((3, 5) + hw, seed=hw[0] * hw[1])
    y = F.global_avg_pool2d(x)
    assert y.shape == (3, 5, 1, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y, R.global_avg_pool2d(x), rtol=1e-6, atol=1e-7)


def test_global_avg_pool2d_large_offset_is_accurate():
    # Double accumulation: a large common offset does not swamp the mean of the deviations.
    x = (1e4 + rand((1, 2, 100, 100), seed=3)).astype(np.float32)
    np.testing.assert_allclose(F.global_avg_pool2d(x), R.global_avg_pool2d(x), rtol=1e-7)


def test_unbatched_chw_input():
    x = rand((3, 9, 10))
    np.testing.assert_array_equal(F.max_pool2d(x, 2), F.max_pool2d(x[None], 2)[0])
    y, idx = F.max_pool2d(x, 3, 2, 1, return_indices=True)
    assert y.shape == idx.shape == (3, 5, 5)
    np.testing.assert_array_equal(F.avg_pool2d(x, 3, 2, 1, True), F.avg_pool2d(x[None], 3, 2, 1, True)[0])
    np.testing.assert_array_equal(F.lp_pool2d(x, 2, 2), F.lp_pool2d(x[None], 2, 2)[0])
    assert F.global_avg_pool2d(x).shape == (3, 1, 1)


def test_empty_batch():
    x = np.zeros((0, 3, 6, 6), np.float32)
    assert F.max_pool2d(x, 2).shape == (0, 3, 3, 3)
    assert F.avg_pool2d(x, 3, 2, 1).shape == (0, 3, 3, 3)
    assert F.global_avg_pool2d(x).shape == (0, 3, 1, 1)


def test_stride_defaults_to_kernel():
    x = rand((1, 2, 9, 9))
    np.testing.assert_array_equal(F.max_pool2d(x, 3), F.max_pool2d(x, 3, 3))
    np.testing.assert_array_equal(F.avg_pool2d(x, (3, 2)), F.avg_pool2d(x, (3, 2), (3, 2)))
    np.testing.assert_array_equal(F.lp_pool2d(x, 2, 3), F.lp_pool2d(x, 2, 3, 3))


# --- NaN / inf -----------------------------------------------------------------------------

@pytest.mark.parametrize("geom", [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 3, 1)], ids=str)
def test_max_pool2d_nan_propagates(isa, geom):
    k, s, p = geom
    x = rand((2, 3, 11, 37), seed=5)
    rng = np.random.default_rng(1)
    x.reshape(-1)[rng.choice(x.size, 40, replace=False)] = np.nan
    x[1, 2, 4, :] = np.inf
    x[0, 1, :, 5] = -np.inf
    x[1, 1] = -np.inf  # an all -inf plane: -inf out, first index of the window
    y, idx = F.max_pool2d(x, k, s, p, return_indices=True)
    ry, ridx = R.max_pool2d(x, k, s, p)
    np.testing.assert_array_equal(y, ry.astype(np.float32))  # equal_nan
    np.testing.assert_array_equal(idx, ridx)
    assert np.isnan(y).any() and np.isnan(y).sum() == np.isnan(ry).sum()
    # value-only path (different AVX2 code) agrees
    np.testing.assert_array_equal(F.max_pool2d(x, k, s, p), y)


def test_max_pool2d_nan_in_every_window_position(isa):
    # A single NaN at each position of a 2x2 (stride 2) and 3x3 (stride 1) window, across a
    # row long enough for the vector blocks: every window containing it must give NaN.
    for k, s in [(2, 2), (3, 1), (3, 2)]:
        for pos in range(40):
            x = rand((1, 1, 4, 40), seed=pos)
            x[0, 0, 1, pos] = np.nan
            y = F.max_pool2d(x, k, s)
            ry, _ = R.max_pool2d(x, k, s)
            np.testing.assert_array_equal(np.isnan(y), np.isnan(ry), err_msg=f"k={k} s={s} pos={pos}")


@pytest.mark.parametrize("geom", [(11, 2, 5), ((3, 10), (1, 2), (1, 5)), ((1, 9), 1, (0, 4)), (7, 2, 3)], ids=str)
def test_wide_padding_and_neg_inf_windows(isa, geom):
    # Windows clipped by several columns of padding, some entirely -inf: the index is the
    # window's first element inside the input; avg divisors per clipped window.
    k, s, p = geom
    for w in (9, 20, 37, 40):
        x = rand((2, 2, 12, w), seed=w)
        x[0, 1] = -np.inf
        x[1, 0, :, : w // 2] = -np.inf
        x[1, 1, 2:5, :] = np.nan
        for ceil_mode in (False, True):
            y, idx = F.max_pool2d(x, k, s, p, ceil_mode, return_indices=True)
            ry, ridx = R.max_pool2d(x, k, s, p, ceil_mode)
            np.testing.assert_array_equal(y, ry.astype(np.float32), err_msg=str((w, ceil_mode)))
            np.testing.assert_array_equal(idx, ridx, err_msg=str((w, ceil_mode)))
            xf = rand((2, 2, 12, w), seed=w + 1)
            for cip in (True, False):
                np.testing.assert_allclose(F.avg_pool2d(xf, k, s, p, ceil_mode, cip),
                                           R.avg_pool2d(xf, k, s, p, ceil_mode, cip), rtol=1e-5, atol=1e-6)


def _guarded(shape, at_end):
    """float32 array whose first (at_end=False) or last element touches an inaccessible page."""
    import ctypes
    import mmap

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = mmap.PAGESIZE
    nbytes = int(np.prod(shape)) * 4
    data_pages = -(-nbytes // page)
    total = (data_pages + 2) * page
    base = libc.mmap(None, total, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    assert base not in (None, ctypes.c_void_p(-1).value)
    assert libc.mprotect(base, page, 0) == 0
    assert libc.mprotect(base + (data_pages + 1) * page, page, 0) == 0
    start = base + page if not at_end else base + (data_pages + 1) * page - nbytes
    buf = (ctypes.c_float * int(np.prod(shape))).from_address(start)
    arr = np.frombuffer(buf, dtype=np.float32).reshape(shape)
    return arr, lambda: libc.munmap(base, total)


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="needs mmap/mprotect")
def test_reads_stay_inside_the_input(isa):
    # The input touches an inaccessible page at its start or its end: a vector load that
    # leaves x (left padding of the first row, the tail of the last row) would crash.
    geoms = [(2, 2, 0), (3, 2, 1), (3, 1, 1), (2, 1, 0), (5, 2, 2), ((1, 3), (1, 2), (0, 1)), (4, 2, 2)]
    for w in (5, 7, 14, 15, 16, 17, 28, 31, 33, 40):
        for at_end in (False, True):
            x, free = _guarded((1, 2, 5, w), at_end)
            try:
                x[...] = rand(x.shape, seed=w)
                for k, s, p in geoms:
                    if not valid(x.shape, k, s, p):
                        continue
                    for c in (False, True):
                        y, idx = _C.max_pool2d_forward(x, k, s, p, c, True)
                        ry, ridx = R.max_pool2d(x, k, s, p, c)
                        np.testing.assert_array_equal(y, ry.astype(np.float32))
                        np.testing.assert_array_equal(idx, ridx)
                        _C.max_pool2d_forward(x, k, s, p, c, False)
                        np.testing.assert_allclose(_C.avg_pool2d_forward(x, k, s, p, c, True),
                                                   R.avg_pool2d(x, k, s, p, c, True), rtol=1e-5, atol=1e-6)
            finally:
                del x
                free()


def test_avg_pool2d_nan_and_inf(isa):
    x = rand((1, 2, 6, 20))
    x[0, 0, 2, 3] = np.nan
    x[0, 1, 1, 10] = np.inf
    y = F.avg_pool2d(x, 2, 1)
    ry = R.avg_pool2d(x, 2, 1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ry))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ry))


def test_max_pool2d_signed_zero_tie_keeps_first(isa):
    # -0.0 == +0.0: the first one in row-major order is the result (PyTorch's rule).
    x = np.zeros((1, 1, 2, 32), np.float32)
    x[0, 0, 0, ::2] = -0.0
    y = F.max_pool2d(x, 2)
    assert np.all(np.signbit(y))
    y2 = F.max_pool2d(-x, 2)  # +0 first
    assert not np.any(np.signbit(y2))


# --- threads and ISA paths: identical bits --------------------------------------------------

def _all_ops(x):
    out = []
    for k, s, p, c in [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), (4, 3, 2, True)]:
        y, i = _C.max_pool2d_forward(x, k, s, p, c, True)
        out += [y, i, _C.max_pool2d_forward(x, k, s, p, c, False)]
        out.append(_C.max_pool2d_backward(y, i, x.shape))
        for cip in (True, False):
            a = _C.avg_pool2d_forward(x, k, s, p, c, cip)
            out += [a, _C.avg_pool2d_backward(a, x.shape, k, s, p, c, cip)]
    lp = _C.lp_pool2d_forward(x, 2.0, 3, 2, True)
    out += [lp, _C.lp_pool2d_backward(x, lp, lp, 2.0, 3, 2, True)]
    g = _C.global_avg_pool2d_forward(x)
    out += [g, _C.global_avg_pool2d_backward(g, x.shape)]
    return out


def test_threads_bit_identical():
    x = rand((3, 7, 45, 51), seed=11)
    x.reshape(-1)[::97] = np.nan
    results = {}
    for n in (1, 2, 3):
        with use_threads(n):
            results[n] = _all_ops(x)
    for n in (2, 3):
        for a, b in zip(results[1], results[n]):
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


@pytest.mark.parametrize("w", [67, 35, 33, 32, 31, 17, 16, 15, 9, 5])
@pytest.mark.parametrize("nthreads", [1, 3])
def test_isa_paths_bit_identical(w, nthreads):
    tiers = [t for t in _C.supported_isas() if t != "ref"]
    if not tiers:
        pytest.skip("no vector tier on this CPU")
    x = rand((2, 5, 23, w), seed=12 + w)
    x.reshape(-1)[::89] = np.nan
    x[0, 0, :, ::2] = -0.0
    x[0, 1, :, 1::2] = 0.0
    x[1, 2, 3:9, :] = 0.5  # ties across whole windows: the first index wins
    x[1, 3, 10:15, :] = -np.inf  # all -inf windows (also clipped ones): the first index
    with use_isa("ref"), use_threads(nthreads):
        ref = _all_ops(x)
    for tier in tiers:
        with use_isa(tier), use_threads(nthreads):
            got = _all_ops(x)
        for i, (a, b) in enumerate(zip(ref, got)):
            # bit for bit, NaN payloads and zero signs included
            assert a.tobytes() == b.tobytes(), f"{tier} differs from ref in result {i} (w={w})"


# Plane counts around the AVX-512 kernel's groups of 8 planes (2 per zmm), plane sizes around
# the 8-element steps and the 256-element blocks of the fixed summation order.
@pytest.mark.parametrize("planes", [1, 2, 7, 8, 9, 15, 16, 17, 31, 33])
@pytest.mark.parametrize("hw", [1, 7, 8, 9, 15, 16, 17, 31, 33, 49, 255, 256, 257, 263, 520])
def test_global_avg_pool2d_same_bits_on_every_tier_and_thread_count(planes, hw):
    rng = np.random.default_rng(planes * 1000 + hw)
    # Magnitudes spread over 2^-8..2^8 and a per-plane offset: any other summation order changes
    # the bits of most means.
    x = (rng.standard_normal((planes, hw)) * 2.0 ** rng.integers(-8, 9, (planes, hw))
         + rng.standard_normal((planes, 1)) * 100).astype(np.float32).reshape(1, planes, 1, hw)
    with use_isa("ref"), use_threads(1):
        ref = _C.global_avg_pool2d_forward(x)
    np.testing.assert_allclose(ref, R.global_avg_pool2d(x), rtol=1e-6, atol=1e-6)
    for tier in _C.supported_isas():
        for n in (1, 2, 3):
            with use_isa(tier), use_threads(n):
                got = _C.global_avg_pool2d_forward(x)
            assert got.tobytes() == ref.tobytes(), f"{tier}, {n} threads"


@pytest.mark.parametrize("w", [67, 33, 32, 31, 17, 16, 15, 9])
def test_max_pool2d_nan_payloads_bit_identical(w):
    # NaNs with distinct payloads and signs, several in some windows: a window's maximum is
    # its last NaN, bit for bit, on every tier. (Not for avg: which NaN a sum of two NaNs
    # keeps is up to the compiler's operand order.)
    x = rand((2, 3, 9, w), seed=40 + w)
    bits = x.view(np.uint32).reshape(-1)
    for start, step, base in [(5, 7, 0x7FC00000), (3, 11, 0xFFC00000), (1, 13, 0x7F800000)]:
        sel = bits[start::step]
        bits[start::step] = base | (np.arange(sel.size, dtype=np.uint32) * 3 + 1)
    geoms = [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), ((2, 3), (1, 2), (1, 1), True), (4, 2, 2, False)]
    with use_isa("ref"):
        ref = [_C.max_pool2d_forward(x, k, s, p, c, i) for k, s, p, c in geoms for i in (False, True)]
    for tier in _C.supported_isas():
        with use_isa(tier):
            got = [_C.max_pool2d_forward(x, k, s, p, c, i) for k, s, p, c in geoms for i in (False, True)]
        for a, b in zip(ref, got):
            for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
                assert u.tobytes() == v.tobytes(), f"{tier} w={w}"


def test_python_threads_concurrently():
    x = rand((4, 8, 40, 40), seed=13)
    expected = F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 2)
    errors = []

    def work():
        try:
            for _ in range(5):
                assert np.array_equal(F.max_pool2d(x, 3, 2, 1), expected[0])
                assert np.array_equal(F.avg_pool2d(x, 2), expected[1])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# --- backward --------------------------------------------------------------------------------

@pytest.mark.parametrize("geom", [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), ((2, 3), (1, 2), (1, 1), True)], ids=str)
def test_max_pool2d_backward(isa, geom):
    k, s, p, c = geom
    x = distinct((2, 3, 9, 19), seed=2)
    y, idx = _C.max_pool2d_forward(x, k, s, p, c, True)
    g = rand(y.shape, seed=3)
    dx = _C.max_pool2d_backward(g, idx, x.shape)
    _, ridx = R.max_pool2d(x, k, s, p, c)
    np.testing.assert_allclose(dx, R.max_pool2d_backward(g, ridx, x.shape), rtol=1e-6, atol=1e-6)
    # finite differences through the float32 forward (distinct values: no kinks within h)
    h = 0.05
    r = rand(y.shape, seed=4).astype(np.float64)
    num = np.zeros(x.size)
    xf = x.reshape(-1)
    for i in range(0, x.size, 7):
        orig = xf[i]
        xf[i] = orig + h
        fp = float((F.max_pool2d(x, k, s, p, c).astype(np.float64) * r).sum())
        xf[i] = orig - h
        fm = float((F.max_pool2d(x, k, s, p, c).astype(np.float64) * r).sum())
        xf[i] = orig
        num[i] = (fp - fm) / (2 * h)
    ana = _C.max_pool2d_backward(r.astype(np.float32), idx, x.shape).reshape(-1)
    np.testing.assert_allclose(ana[::7], num[::7], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("geom", [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), (5, 3, 2, True), ((2, 3), (1, 2), (1, 1), True)], ids=str)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_backward(isa, geom, count_include_pad):
    k, s, p, c = geom
    shape = (2, 3, 10, 17)
    x = rand(shape, seed=6)
    y = _C.avg_pool2d_forward(x, k, s, p, c, count_include_pad)
    g = rand(y.shape, seed=7)
    dx = _C.avg_pool2d_backward(g, shape, k, s, p, c, count_include_pad)
    np.testing.assert_allclose(dx, R.avg_pool2d_backward(g, shape, k, s, p, c, count_include_pad), rtol=1e-5, atol=1e-6)
    # adjoint identity <avg(x), g> == <x, avg^T(g)> (avg pooling is linear)
    lhs = float((y.astype(np.float64) * g).sum())
    rhs = float((x.astype(np.float64) * dx).sum())
    assert lhs == pytest.approx(rhs, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("norm_type", [1, 2, 3, 1.5])
@pytest.mark.parametrize("geom", [(2, 2, False), (3, 2, True), (2, 1, False)], ids=str)
def test_lp_pool2d_backward(norm_type, geom):
    k, s, c = geom
    x = rand((2, 2, 7, 9), seed=8, positive=True)
    y = _C.lp_pool2d_forward(x, float(norm_type), k, s, c)
    g = rand(y.shape, seed=9)
    dx = _C.lp_pool2d_backward(x, y, g, float(norm_type), k, s, c)
    rdx = R.lp_pool2d_backward(x, g, norm_type, k, s, c)
    np.testing.assert_allclose(dx, rdx, rtol=1e-5, atol=1e-6)
    # the oracle's gradient against central differences of the oracle's forward (float64)
    xd = x.astype(np.float64)
    h = 1e-6
    num = np.zeros_like(xd)
    for i in range(xd.size):
        e = np.zeros(xd.size)
        e[i] = h
        e = e.reshape(xd.shape)
        num.reshape(-1)[i] = ((R.lp_pool2d(xd + e, norm_type, k, s, c) - R.lp_pool2d(xd - e, norm_type, k, s, c)) * g).sum() / (2 * h)
    np.testing.assert_allclose(rdx, num, rtol=1e-5, atol=1e-6)


def test_lp_pool2d_backward_zero_window_is_zero():
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 0] = 2.0
    y = _C.lp_pool2d_forward(x, 2.0, 2)
    dx = _C.lp_pool2d_backward(x, y, np.ones_like(y), 2.0, 2)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0] = 1.0
    np.testing.assert_array_equal(dx, expected)


def test_global_avg_pool2d_backward():
    shape = (2, 3, 5, 7)
    g = rand((2, 3, 1, 1), seed=10)
    dx = _C.global_avg_pool2d_backward(g, shape)
    np.testing.assert_allclose(dx, R.global_avg_pool2d_backward(g, shape), rtol=1e-6)


# --- dtype policy and argument validation ---------------------------------------------------

def test_dtypes_and_layouts_accepted():
    x = rand((2, 3, 10, 12), seed=14)
    ref = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(F.max_pool2d(x.astype(np.float64), 2), ref)
    np.testing.assert_array_equal(F.max_pool2d(x.astype(np.float16), 2), F.max_pool2d(x.astype(np.float16).astype(np.float32), 2))
    big = np.zeros((2, 3, 20, 24), np.float32)
    big[:, :, ::2, ::2] = x
    view = big[:, :, ::2, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(F.max_pool2d(view, 2), ref)
    np.testing.assert_array_equal(F.avg_pool2d(np.asfortranarray(x), 3, 2, 1), F.avg_pool2d(x, 3, 2, 1))
    xt = x.transpose(0, 1, 3, 2)
    np.testing.assert_array_equal(F.global_avg_pool2d(xt), F.global_avg_pool2d(np.ascontiguousarray(xt)))
    assert F.lp_pool2d(x.tolist(), 2, 2).shape == (2, 3, 5, 6)


@pytest.mark.parametrize("fn", [
    lambda x: F.max_pool2d(x, 2), lambda x: F.avg_pool2d(x, 2),
    lambda x: F.lp_pool2d(x, 2, 2), F.global_avg_pool2d,
], ids=["max", "avg", "lp", "global"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.bool_, np.complex64])
def test_non_float_input_rejected(fn, dtype):
    x = np.ones((1, 1, 4, 4), dtype=dtype)
    with pytest.raises(TypeError, match=r"x has .*dtype"):
        fn(x)


@pytest.mark.parametrize("call, match", [
    (lambda x: F.max_pool2d(x, 0), r"kernel_size must be >= 1"),
    (lambda x: F.max_pool2d(x, 2, 0), r"stride must be >= 1"),
    (lambda x: F.max_pool2d(x, 2, 1, -1), r"padding must be >= 0"),
    (lambda x: F.max_pool2d(x, 2, 1, 2), r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 3, 1, (1, 2)), r"padding \(1, 2\) must be at most half of kernel_size \(3, 3\)"),
    (lambda x: F.max_pool2d(x, 5), r"kernel_size \(5, 5\) is larger than the padded input \(4, 4\)"),
    (lambda x: F.avg_pool2d(x, (7, 2), padding=1), r"kernel_size \(7, 2\) is larger than the padded input \(6, 6\)"),
    (lambda x: F.lp_pool2d(x, 2, (1, 5)), r"kernel_size \(1, 5\) is larger than the padded input \(4, 4\)"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), r"kernel_size must be an int or a pair"),
    (lambda x: F.max_pool2d(x[0, 0], 2), r"x must be 3-D or 4-D"),
    (lambda x: F.avg_pool2d(x[None], 2), r"x must be 3-D or 4-D"),
    (lambda x: F.global_avg_pool2d(x[:, :, :0]), r"x must have non-empty height and width"),
    (lambda x: F.lp_pool2d(x, 0, 2), r"norm_type must be a finite number > 0"),
    (lambda x: F.lp_pool2d(x, -2, 2), r"norm_type must be a finite number > 0"),
    (lambda x: F.lp_pool2d(x, float("inf"), 2), r"norm_type must be a finite number > 0"),
    (lambda x: F.lp_pool2d(x, float("nan"), 2), r"norm_type must be a finite number > 0"),
    (lambda x: F.max_pool2d(x, 2 ** 40), r"kernel_size"),
])
def test_bad_arguments_raise_value_error(call, match):
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=match):
        call(x)


@pytest.mark.parametrize("call, match", [
    (lambda x: F.max_pool2d(x, 2.0), r"kernel_size"),
    (lambda x: F.max_pool2d(x, 2, "1"), r"stride"),
    (lambda x: F.avg_pool2d(x, 2, padding=(1, None)), r"padding"),
    (lambda x: F.max_pool2d(x, 2, ceil_mode="yes"), r"ceil_mode must be a bool"),
    (lambda x: F.avg_pool2d(x, 2, count_include_pad=1), r"count_include_pad must be a bool"),
    (lambda x: F.lp_pool2d(x, "2", 2), r"norm_type must be a real number"),
    (lambda x: F.max_pool2d(x, True), r"kernel_size"),
])
def test_bad_argument_types_raise_type_error(call, match):
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(TypeError, match=match):
        call(x)


def test_C_is_strict_and_rechecks():
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(TypeError, match="x must have dtype float32"):
        _C.max_pool2d_forward(x.astype(np.float64), 2, 2, 0, False, False)
    with pytest.raises(TypeError, match="x must be C-contiguous"):
        _C.avg_pool2d_forward(np.asfortranarray(np.ones((1, 2, 4, 5), np.float32)), 2, 2, 0, False, True)
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.global_avg_pool2d_forward(x[0])
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half"):
        _C.max_pool2d_forward(x, 2, 2, 2, False, False)
    with pytest.raises(ValueError, match=r"kernel_size \(5, 5\) is larger than the padded input \(4, 4\)"):
        _C.avg_pool2d_forward(x, 5, 1, 0, False, True)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        _C.max_pool2d_forward(x, 2, 0, 0, False, False)
    with pytest.raises(ValueError, match="kernel_size .* is too large"):
        _C.max_pool2d_forward(x, 2 ** 40, 1, 0, False, False)
    with pytest.raises(ValueError, match="norm_type"):
        _C.lp_pool2d_forward(x, -1.0, 2, 2, False)
    y, idx = _C.max_pool2d_forward(x, 2, 2, 0, False, True)
    with pytest.raises(TypeError, match="indices must have dtype int32"):
        _C.max_pool2d_backward(y, idx.astype(np.int64), x.shape)
    with pytest.raises(ValueError, match="indices must have shape"):
        _C.max_pool2d_backward(y, idx[:, :, :1].copy(), x.shape)
    with pytest.raises(ValueError, match="does not match input_shape"):
        _C.max_pool2d_backward(y, idx, (1, 3, 4, 4))
    bad = idx.copy()
    bad[0, 0, 0, 0] = 16
    with pytest.raises(ValueError, match=r"indices must lie in \[0, H\*W\) = \[0, 16\), got 1 out-of-range"):
        _C.max_pool2d_backward(y, bad, x.shape)
    bad[0, 0, 0, 0] = -1
    with pytest.raises(ValueError, match="out-of-range"):
        _C.max_pool2d_backward(y, bad, x.shape)
    with pytest.raises(ValueError, match=r"grad_y must have shape \(1, 2, 2, 2\)"):
        _C.avg_pool2d_backward(np.ones((1, 2, 3, 2), np.float32), x.shape, 2, 2, 0, False, True)
    with pytest.raises(TypeError, match="input_shape must be a sequence of 4 ints"):
        _C.avg_pool2d_backward(y, (1, 2, 4), 2, 2, 0, False, True)
    with pytest.raises(ValueError, match=r"input_shape must hold sizes in \[0, 2\^32\]"):
        _C.global_avg_pool2d_backward(y[:, :, :1, :1].copy(), (1, 2, 2**40, 4))
    with pytest.raises(ValueError, match="too large"):
        _C.avg_pool2d_backward(np.ones((1, 1, 1, 1), np.float32), (2**31, 2**31, 2, 2), 2, 2, 0, False, True)
    with pytest.raises(ValueError, match=r"y must have shape"):
        _C.lp_pool2d_backward(x, x, y, 2.0, 2, 2, False)


# --- hypothesis sweep ----------------------------------------------------------------------

@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 12))
    w = draw(st.integers(max(1, kw - 2 * pw), 70))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw), draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**31))


@settings(max_examples=60, deadline=None)
@given(pool_case())
def test_hypothesis_sweep(case):
    shape, k, s, p, ceil_mode, cip, seed = case
    x = rand(shape, seed=seed)
    ry, ridx = R.max_pool2d(x, k, s, p, ceil_mode)
    ra = R.avg_pool2d(x, k, s, p, ceil_mode, cip)
    for isa_name in ISAS:
        if _C.isa_missing(isa_name):
            continue
        with use_isa(isa_name):
            y, idx = F.max_pool2d(x, k, s, p, ceil_mode, return_indices=True)
            np.testing.assert_array_equal(y, ry.astype(np.float32))
            np.testing.assert_array_equal(idx, ridx)
            np.testing.assert_allclose(F.avg_pool2d(x, k, s, p, ceil_mode, cip), ra, rtol=1e-5, atol=1e-6)


# --- torch as an extra oracle --------------------------------------------------------------

def test_against_torch(isa):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = rand((2, 4, 13, 35), seed=15)
    tx = torch.from_numpy(x)
    for k, s, p, c in [(2, 2, 0, False), (3, 2, 1, True), (3, 1, 1, False), ((2, 3), (1, 2), (1, 1), True), (5, 3, 2, True)]:
        y, idx = F.max_pool2d(x, k, s, p, c, return_indices=True)
        ty, tidx = TF.max_pool2d(tx, k, s, p, ceil_mode=c, return_indices=True)
        np.testing.assert_array_equal(y, ty.numpy())
        np.testing.assert_array_equal(idx, tidx.numpy())
        for cip in (True, False):
            np.testing.assert_allclose(
                F.avg_pool2d(x, k, s, p, c, cip),
                TF.avg_pool2d(tx, k, s, p, ceil_mode=c, count_include_pad=cip).numpy(), rtol=1e-5, atol=1e-6)
    for norm_type in (1, 2, 3):
        for k, s in [(2, 2), (3, 2), ((2, 3), (1, 2))]:
            np.testing.assert_allclose(
                F.lp_pool2d(x, norm_type, k, s), TF.lp_pool2d(tx, norm_type, k, s).numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(F.global_avg_pool2d(x), TF.adaptive_avg_pool2d(tx, 1).numpy(), rtol=1e-5, atol=1e-6)
    # backward through torch autograd
    for k, s, p, c in [(3, 2, 1, True), (2, 1, 0, False)]:
        txg = tx.clone().requires_grad_(True)
        ty = TF.avg_pool2d(txg, k, s, p, ceil_mode=c)
        g = rand(tuple(ty.shape), seed=16)
        ty.backward(torch.from_numpy(g))
        np.testing.assert_allclose(_C.avg_pool2d_backward(g, x.shape, k, s, p, c, True), txg.grad.numpy(), rtol=1e-5, atol=1e-6)
        txg = tx.clone().requires_grad_(True)
        ty = TF.max_pool2d(txg, k, s, p, ceil_mode=c)
        ty.backward(torch.from_numpy(g))
        _, idx = _C.max_pool2d_forward(x, k, s, p, c, True)
        np.testing.assert_allclose(_C.max_pool2d_backward(g, idx, x.shape), txg.grad.numpy(), rtol=1e-5, atol=1e-6)
    xp = np.abs(x) + 0.1
    txg = torch.from_numpy(xp).requires_grad_(True)
    ty = TF.lp_pool2d(txg, 2.0, 3, 2)
    g = rand(tuple(ty.shape), seed=18)
    ty.backward(torch.from_numpy(g))
    y = _C.lp_pool2d_forward(xp, 2.0, 3, 2, False)
    np.testing.assert_allclose(_C.lp_pool2d_backward(xp, y, g, 2.0, 3, 2, False), txg.grad.numpy(), rtol=1e-4, atol=1e-5)
