"""conv2d forward and backward against the float64 oracle in tests/reference/conv.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyconvnet.functional as F
from pyconvnet import _C
from pyconvnet.functional.conv import conv2d_padding
from conftest import same_for_thread_counts, use_isa
from reference import conv as ref

# (x shape, weight shape, kwargs): 3x3/5x5/1x1, strides, dilation, asymmetric arguments,
# groups and depthwise, output channels above MC=144 (the blocked path), K above KC=256.
CASES = [
    ((2, 3, 9, 9), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 9, 9), (4, 3, 3, 3), {}),
    ((1, 4, 7, 11), (6, 2, 3, 2), dict(padding=(1, 0), stride=(2, 1), groups=2)),
    ((3, 5, 10, 10), (7, 5, 1, 1), {}),
    ((3, 5, 10, 10), (7, 5, 1, 1), dict(stride=2)),
    ((2, 5, 6, 6), (7, 5, 1, 1), dict(padding=1)),
    ((2, 6, 8, 8), (6, 1, 3, 3), dict(padding=1, groups=6)),
    ((2, 6, 8, 8), (12, 1, 3, 3), dict(padding=2, dilation=2, groups=6, stride=2)),
    ((2, 3, 5, 40), (8, 3, 3, 3), dict(padding=(0, 3), stride=(1, 3), dilation=(1, 2))),
    ((1, 2, 1, 1), (3, 2, 1, 1), {}),
    ((1, 2, 3, 3), (3, 2, 3, 3), dict(padding=5)),
    ((1, 1, 28, 28), (32, 1, 5, 5), dict(padding=2)),
    ((2, 40, 12, 12), (150, 40, 3, 3), dict(padding=1)),
    # direct convolution (groups 1, 4+ input and 16+ output channels): strides, dilation,
    # asymmetric and 'same' padding, a last channel panel under 8 wide, fully padded rows
    ((2, 8, 11, 9), (20, 8, 3, 2), dict(padding=(2, 1), stride=(2, 1), dilation=(1, 2))),
    ((1, 4, 6, 7), (16, 4, 4, 4), dict(padding="same")),
    ((2, 4, 3, 3), (17, 4, 3, 3), dict(padding=4)),
    # edge columns (kernel columns on the left/right padding skipped): dilated classes, one
    # interior column between edges, more rows than one tile down a column
    ((2, 5, 10, 17), (32, 5, 5, 3), dict(padding=(2, 3), dilation=(2, 3))),
    ((3, 4, 15, 5), (16, 4, 3, 5), dict(padding=(1, 4), stride=(1, 2))),
    # stride 1 with >= 16 input channels per group: dx runs as a transposed convolution
    # (asymmetric 'same' padding of an even kernel, dilation, groups); padding beyond the
    # dilated kernel falls back to GEMM + col2im
    ((2, 32, 9, 7), (24, 16, 4, 3), dict(padding="same", dilation=(2, 1), groups=2)),
    ((1, 16, 5, 5), (8, 16, 3, 3), dict(padding=3)),
    # weight gradients over 16+ images: partial dW per chunk of 8 images, summed in order
    ((20, 3, 9, 9), (4, 3, 3, 3), dict(padding=1)),
    ((17, 5, 4, 4), (7, 5, 1, 1), {}),
    ((17, 16, 6, 6), (8, 16, 3, 3), dict(padding=1)),
    ((2, 16, 9, 9), (8, 16, 3, 3), dict(stride=2, padding=1)),
    ((2, 16, 7, 8), (8, 16, 2, 3), dict(dilation=(1, 2), padding=(0, 2))),
    ((1, 30, 33, 35), (9, 30, 3, 3), dict(padding=1, stride=2)),
    ((3, 8, 7, 7), (16, 8, 2, 2), dict(stride=2)),
]


def _data(xs, ws, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    return x, w, b


def _args(w, kw):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    stride, dilation = pair(kw.get("stride", 1)), pair(kw.get("dilation", 1))
    pad4 = conv2d_padding(kw.get("padding", 0), w.shape[2:], stride, dilation)
    return stride, pad4, dilation, kw.get("groups", 1)


def _tol(expected):
    return dict(rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("xs,ws,kw", CASES)
def test_forward_matches_reference(isa, xs, ws, kw):
    x, w, b = _data(xs, ws)
    stride, pad4, dilation, groups = _args(w, kw)
    expected = ref.conv2d(x, w, b, stride, pad4, dilation, groups)
    y = same_for_thread_counts(lambda: F.conv2d(x, w, b, **kw))
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, **_tol(expected))


@pytest.mark.parametrize("xs,ws,kw", CASES)
def test_backward_matches_reference(isa, xs, ws, kw):
    x, w, b = _data(xs, ws, seed=1)
    stride, pad4, dilation, groups = _args(w, kw)
    y = F.conv2d(x, w, b, **kw)
    gy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    got = same_for_thread_counts(
        lambda: _C.conv2d_backward(x, w, gy, stride, pad4, dilation, groups, True, True, True))
    for g, e in zip(got, ref.conv2d_backward(x, w, gy, stride, pad4, dilation, groups)):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, **_tol(e))


# Weight gradients read in place from the channels-last image (16k channels per group), with
# output channels around the avx512 tile's 12 rows and taps of 16 (odd panel count), 32 and 48
# channels (a tile's two 16-channel panels in one tap or across two), on the per-image column
# split (2 images) and the chunked path (16 images; oc 25 x 432 columns).
DW_IN_PLACE = [
    ((2, 16, 7, 6), (12, 16, 3, 3), dict(padding=1)),
    ((2, 16, 7, 6), (13, 16, 3, 3), dict(padding=1)),
    ((2, 32, 6, 5), (25, 32, 3, 3), dict(padding=1, stride=2)),
    ((2, 48, 5, 5), (7, 48, 2, 3), dict(padding=(1, 0))),
    ((2, 64, 6, 6), (24, 32, 3, 3), dict(padding=1, groups=2)),
    ((16, 48, 5, 4), (25, 48, 3, 3), dict(padding=1)),
]


@pytest.mark.parametrize("xs,ws,kw", DW_IN_PLACE)
def test_weight_gradient_in_place_edges(isa, xs, ws, kw):
    x, w, _ = _data(xs, ws, seed=3)
    stride, pad4, dilation, groups = _args(w, kw)
    y = F.conv2d(x, w, None, **kw)
    gy = np.random.default_rng(4).standard_normal(y.shape).astype(np.float32)
    dw = same_for_thread_counts(
        lambda: _C.conv2d_backward(x, w, gy, stride, pad4, dilation, groups, False, True, False)[1])
    expected = ref.conv2d_backward(x, w, gy, stride, pad4, dilation, groups)[1]
    np.testing.assert_allclose(dw, expected, **_tol(expected))


@pytest.mark.parametrize("xs,ws,kw", DW_IN_PLACE)
def test_weight_gradient_avx512_tier_gives_the_avx2_bits(xs, ws, kw):
    """The 12 x 32 in-place kernel runs each element's FMA chain over positions and its
    final C + acc in the AVX2 kernel's order."""
    for name in ("avx2", "avx512"):
        if _C.isa_missing(name):
            pytest.skip(f"CPU cannot run the {name} tier")
    x, w, _ = _data(xs, ws, seed=5)
    stride, pad4, dilation, groups = _args(w, kw)
    gy = np.random.default_rng(6).standard_normal(F.conv2d(x, w, None, **kw).shape).astype(np.float32)
    got = []
    for name in ("avx2", "avx512"):
        with use_isa(name):
            got.append(_C.conv2d_backward(x, w, gy, stride, pad4, dilation, groups, False, True, False)[1])
    np.testing.assert_array_equal(got[0], got[1])


# Direct convolution tiles: positions along an output row (6 per AVX2 tile, 12 per AVX-512
# tile) and down the edge columns, channels in panels of 16 (AVX2) or 32 (AVX-512; the last
# panel at most 16 wide takes one zmm, partial panels go through the tile buffer). Output
# widths and heights around those tile sizes, every out-channel count class, with padding
# (edge columns skip kernel columns), stride 1 and 2, dilation, bias or none, relu or none,
# one image or several.
DIRECT_OW = [1, 11, 12, 13, 23, 24, 25]
DIRECT_OC = [16, 17, 31, 32, 33, 48, 64]
# (stride, padding, dilation) of a 3x3 kernel
DIRECT_GEOMETRY = [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 1), (1, 0, 1), (1, 3, 2), (2, 2, 1)]
DIRECT_OH = [13, 1, 25, 12, 3, 24, 11]


def _direct_case(i, j):
    ow, oc = DIRECT_OW[i], DIRECT_OC[j]
    stride, pad, dil = DIRECT_GEOMETRY[(i + j) % len(DIRECT_GEOMETRY)]
    oh = DIRECT_OH[(i + 2 * j) % len(DIRECT_OH)]
    # per axis, the padding capped so that an input of at least one pixel gives o outputs
    pads = [min(pad, ((o - 1) * stride + 2 * dil) // 2) for o in (oh, ow)]
    h, w = ((o - 1) * stride + 2 * dil + 1 - 2 * p for o, p in zip((oh, ow), pads))
    n = 1 if (i + j) % 2 else 3
    return (n, 5, h, w), (oc, 5, 3, 3), dict(stride=stride, padding=tuple(pads), dilation=dil)


@pytest.mark.parametrize("j", range(len(DIRECT_OC)), ids=[f"oc{o}" for o in DIRECT_OC])
@pytest.mark.parametrize("i", range(len(DIRECT_OW)), ids=[f"ow{o}" for o in DIRECT_OW])
def test_direct_conv_tile_edges(isa, i, j):
    xs, ws, kw = _direct_case(i, j)
    x, w, b = _data(xs, ws, seed=10 * i + j)
    use_bias, relu = (i + j) % 3 != 0, j % 2 == 1
    stride, pad4, dilation, _ = _args(w, kw)
    expected = ref.conv2d(x, w, b if use_bias else None, stride, pad4, dilation)
    if relu:
        expected = np.maximum(expected, 0)
    y = same_for_thread_counts(lambda: F.conv2d(x, w, b if use_bias else None, relu=relu, **kw))
    assert y.shape == expected.shape
    assert y.shape[3] == DIRECT_OW[i] and y.shape[1] == DIRECT_OC[j]
    np.testing.assert_allclose(y, expected, **_tol(expected))


# Output planes a multiple of 4 KB apart (oh * ow % 1024 == 0): the AVX-512 tier gathers the
# interior tiles of a thread's rows of an image in a buffer (full and partial channel panels)
# before copying them out plane by plane; one image split over the threads (batch 1) gives
# chunks of fewer rows than the image.
@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 5, 32, 32), (48, 5, 3, 3), dict(padding=1)),
    ((1, 6, 32, 32), (64, 6, 3, 3), dict(padding=1)),
    ((3, 4, 32, 32), (32, 4, 3, 3), dict(padding=1)),
    ((1, 4, 20, 128), (40, 4, 5, 3), dict(padding=(0, 2), dilation=(1, 2), stride=(1, 2))),
    ((3, 4, 34, 34), (33, 4, 3, 3), {}),
])
def test_direct_conv_planes_4kb_apart(isa, xs, ws, kw):
    x, w, b = _data(xs, ws, seed=5)
    stride, pad4, dilation, _ = _args(w, kw)
    expected = ref.conv2d(x, w, b, stride, pad4, dilation)
    y = same_for_thread_counts(lambda: F.conv2d(x, w, b, relu=True, **kw))
    assert y.shape[2] * y.shape[3] % 1024 == 0
    np.testing.assert_allclose(y, np.maximum(expected, 0), **_tol(expected))


@pytest.mark.parametrize("pad", [0, 2])
def test_direct_conv_sum_does_not_depend_on_the_tile(isa, pad):
    """An output is the same sum in the same order whichever tile computes it: cropping the
    image on the right or bottom (other tile splits of the rows and columns) or taking one image
    of the batch (other chunks of rows) leaves the outputs they share bit-identical."""
    x, w, b = _data((3, 6, 29, 31), (48, 6, 3, 3), seed=3)
    y = F.conv2d(x, w, b, padding=pad)
    for crop_h, crop_w in [(29, 17), (16, 31), (21, 26)]:
        # outputs away from the cropped bottom/right edge see the same taps
        yc = F.conv2d(x[:, :, :crop_h, :crop_w], w, b, padding=pad)
        rows, cols = yc.shape[2] - pad, yc.shape[3] - pad
        assert yc[:, :, :rows, :cols].tobytes() == y[:, :, :rows, :cols].tobytes()
    assert F.conv2d(x[1:2], w, b, padding=pad).tobytes() == y[1:2].tobytes()


# im2col read in place (the avx512 tier's path for stride-1-along-x layers outside the direct
# convolution: conv/im2col_inplace.h): runs of up to 16 positions of one output row, 4 runs per
# tile, channels in tiles of up to 6. Output widths around the run and tile sizes (a row in
# several runs, a run masked at the row's end, a tile of 1-3 runs), channel counts around 6
# (and 1, one channel; 144, the most the path takes), 1-3 input channels or few outputs from
# many inputs, groups, vertical stride and dilation, bias or none, relu or none, batches whose
# rows split into chunks inside an image. Other tiers run the GEMM path on the same cases.
INPLACE_OW = [1, 15, 16, 17, 31, 32, 33, 64, 65]
INPLACE_OC = [1, 5, 6, 7, 12, 13, 32, 144]
# (in channels, kernel, padding, vertical stride, dilation, groups)
INPLACE_GEOMETRY = [(3, 5, 0, 1, 1, 1), (1, 5, 2, 1, 1, 1), (3, 3, 1, 1, 1, 1), (2, 3, 1, 2, 1, 1),
                    (1, 3, 2, 1, 2, 1), (12, 3, 1, 1, 1, 1), (4, 2, 0, 1, 1, 2), (3, 1, 1, 1, 1, 1)]


def _inplace_case(i, j):
    ow, oc = INPLACE_OW[i], INPLACE_OC[j]
    c, k, pad, sh, dil, groups = INPLACE_GEOMETRY[(i + j) % len(INPLACE_GEOMETRY)]
    if oc % groups:
        groups = 1
    oh = [3, 1, 40, 7, 18][(i + 2 * j) % 5]
    ext = dil * (k - 1) + 1
    # the padding capped so that an input of at least one pixel gives oh x ow outputs
    pad = min(pad, (ow - 2 + ext) // 2, ((oh - 1) * sh + ext - 1) // 2)
    w = ow - 1 + ext - 2 * pad
    h = (oh - 1) * sh + ext - 2 * pad
    n = 3 if (i + j) % 2 else 1
    kw = dict(padding=pad, stride=(sh, 1), dilation=dil, groups=groups)
    return (n, c, h, w), (oc, c // groups, k, k), kw


@pytest.mark.parametrize("j", range(len(INPLACE_OC)), ids=[f"oc{o}" for o in INPLACE_OC])
@pytest.mark.parametrize("i", range(len(INPLACE_OW)), ids=[f"ow{o}" for o in INPLACE_OW])
def test_inplace_im2col_tile_edges(isa, i, j):
    xs, ws, kw = _inplace_case(i, j)
    x, w, b = _data(xs, ws, seed=10 * i + j)
    use_bias, relu = (i + j) % 3 != 0, j % 2 == 1
    stride, pad4, dilation, groups = _args(w, kw)
    expected = ref.conv2d(x, w, b if use_bias else None, stride, pad4, dilation, groups)
    if relu:
        expected = np.maximum(expected, 0)
    y = same_for_thread_counts(lambda: F.conv2d(x, w, b if use_bias else None, relu=relu, **kw))
    assert y.shape == expected.shape
    assert y.shape[3] == INPLACE_OW[i] and y.shape[1] == INPLACE_OC[j]
    np.testing.assert_allclose(y, expected, **_tol(expected))
    # One image alone (other chunks of rows, other runs) gives the same bits.
    alone = F.conv2d(x[-1:], w, b if use_bias else None, relu=relu, **kw)
    assert alone.tobytes() == y[-1:].tobytes()


@pytest.mark.parametrize("i", range(len(INPLACE_OW)), ids=[f"ow{o}" for o in INPLACE_OW])
def test_inplace_im2col_gives_the_avx2_bits(i):
    """Each output is the GEMM micro-kernels' sum (FMAs over k in order, + bias, relu), so the
    avx512 tier's in-place path and the avx2 tier's GEMM path agree bit for bit."""
    for name in ("avx2", "avx512"):
        if _C.isa_missing(name):
            pytest.skip(f"CPU cannot run the {name} tier")
    for j in range(len(INPLACE_OC)):
        xs, ws, kw = _inplace_case(i, j)
        x, w, b = _data(xs, ws, seed=7 * i + j)
        got = []
        for name in ("avx2", "avx512"):
            with use_isa(name):
                got.append(F.conv2d(x, w, b, relu=j % 2 == 0, **kw))
        assert got[0].tobytes() == got[1].tobytes(), (xs, ws, kw)


def test_backward_selected_outputs_only():
    x, w, b = _data((2, 3, 6, 6), (4, 3, 3, 3))
    gy = np.ones((2, 4, 4, 4), np.float32)
    dx, dw, db = _C.conv2d_backward(x, w, gy, (1, 1), (0, 0, 0, 0), (1, 1), 1, False, True, False)
    assert dx is None and db is None and dw.shape == w.shape


@pytest.mark.parametrize("k,d", [(3, 1), (4, 1), (5, 2), (2, 3), (1, 1)])
def test_padding_same_keeps_size_extra_on_bottom_right(k, d):
    x, w, b = _data((2, 3, 11, 10), (4, 3, k, k))
    y = F.conv2d(x, w, b, padding="same", dilation=d)
    assert y.shape == (2, 4, 11, 10)
    total = d * (k - 1)
    pad4 = (total // 2, total // 2, total - total // 2, total - total // 2)
    np.testing.assert_allclose(y, ref.conv2d(x, w, b, (1, 1), pad4, (d, d)), rtol=1e-4, atol=1e-4)


def test_padding_valid_is_zero_padding():
    x, w, b = _data((1, 2, 8, 8), (3, 2, 3, 3))
    np.testing.assert_array_equal(F.conv2d(x, w, b, padding="valid"), F.conv2d(x, w, b))


def test_fused_relu_equals_relu_of_conv(isa):
    x, w, b = _data((2, 16, 12, 12), (20, 16, 3, 3))
    y = F.conv2d(x, w, b, padding=1)
    np.testing.assert_array_equal(F.conv2d(x, w, b, padding=1, relu=True), np.maximum(y, 0))


def test_unbatched_input():
    x, w, b = _data((1, 3, 8, 8), (4, 3, 3, 3))
    np.testing.assert_array_equal(F.conv2d(x[0], w, b), F.conv2d(x, w, b)[0])


def test_accepts_float64_float16_and_strided_views():
    x, w, b = _data((2, 3, 8, 8), (4, 3, 3, 3))
    y = F.conv2d(x, w, b)
    np.testing.assert_array_equal(F.conv2d(x.astype(np.float64), w.astype(np.float64), b), y)
    big = np.zeros((2, 6, 8, 16), np.float32)
    big[:, ::2, :, ::2] = x
    view = big[:, ::2, :, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(F.conv2d(view, w, b), y)
    y16 = F.conv2d(x.astype(np.float16), w, b)
    assert y16.dtype == np.float32


def test_nan_propagates():
    x, w, b = _data((1, 2, 6, 6), (3, 2, 3, 3))
    x[0, 1, 2, 2] = np.nan
    y = F.conv2d(x, w, b)
    assert np.isnan(y[0, :, 0:3, 0:3]).all()
    assert np.isfinite(y[0, :, 3:, :]).all()


def test_empty_batch():
    x, w, b = _data((0, 3, 8, 8), (4, 3, 3, 3))
    assert F.conv2d(x, w, b).shape == (0, 4, 6, 6)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 3), c=st.integers(1, 6), oc=st.integers(1, 20),
    h=st.integers(1, 12), w=st.integers(1, 12), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
    dh=st.integers(1, 2), dw=st.integers(1, 2), depthwise=st.booleans(),
)
def test_hypothesis_shapes(n, c, oc, h, w, kh, kw, sh, sw, ph, pw, dh, dw, depthwise):
    groups = c if depthwise else 1
    if depthwise:
        oc = c * (1 + oc % 2)
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        with pytest.raises(ValueError, match="kernel larger than the input"):
            F.conv2d(np.zeros((n, c, h, w), np.float32), np.zeros((oc, c // groups, kh, kw), np.float32),
                     padding=(ph, pw), dilation=(dh, dw), groups=groups)
        return
    x, wt, b = _data((n, c, h, w), (oc, c // groups, kh, kw), seed=h * w)
    kw_ = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
    y = F.conv2d(x, wt, b, **kw_)
    expected = ref.conv2d(x, wt, b, (sh, sw), (ph, pw, ph, pw), (dh, dw), groups)
    np.testing.assert_allclose(y, expected, **_tol(expected))
    gy = np.ones_like(y)
    got = _C.conv2d_backward(x, wt, gy, (sh, sw), (ph, pw, ph, pw), (dh, dw), groups, True, True, True)
    for g, e in zip(got, ref.conv2d_backward(x, wt, gy, (sh, sw), (ph, pw, ph, pw), (dh, dw), groups)):
        np.testing.assert_allclose(g, e, **_tol(e))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _data((2, 8, 13, 13), (16, 4, 3, 3))
    expected = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                          stride=2, padding=1, dilation=2, groups=2).numpy()
    np.testing.assert_allclose(F.conv2d(x, w, b, stride=2, padding=1, dilation=2, groups=2), expected,
                               rtol=1e-4, atol=1e-4)


# --- bad input -----------------------------------------------------------------------------

def _ok():
    return _data((2, 4, 8, 8), (6, 4, 3, 3))


def test_integer_input_raises_type_error_with_hint():
    x, w, b = _ok()
    with pytest.raises(TypeError, match=r"x has integer dtype.*astype\(np.float32\)"):
        F.conv2d(x.astype(np.uint8), w, b)
    with pytest.raises(TypeError, match="weight has dtype bool"):
        F.conv2d(x, w > 0, b)
    with pytest.raises(TypeError, match="complex"):
        F.conv2d(x.astype(np.complex64), w, b)


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(stride=0), "stride must be >= 1"),
    (dict(dilation=(1, 0)), "dilation must be >= 1"),
    (dict(padding=-1), "padding must be >= 0"),
    (dict(padding="same", stride=2), "padding='same' needs stride 1"),
    (dict(padding="full"), "padding must be an int, a pair, 'same' or 'valid'"),
    (dict(groups=0), "groups must be >= 1"),
    (dict(groups=3), r"in_channels \(4\) and out_channels \(6\) must be divisible by groups \(3\)"),
    (dict(stride=(1, 2, 3)), "stride must be an int or a pair"),
])
def test_bad_arguments_name_the_argument(kwargs, pattern):
    x, w, b = _ok()
    with pytest.raises(ValueError, match=pattern):
        F.conv2d(x, w, b, **kwargs)


def test_bad_shapes_name_the_argument():
    x, w, b = _ok()
    with pytest.raises(ValueError, match=r"x must be 3-D or 4-D"):
        F.conv2d(x[0, 0], w, b)
    with pytest.raises(ValueError, match=r"weight must be 4-D"):
        F.conv2d(x, w[0], b)
    with pytest.raises(ValueError, match=r"x must have 3 channels \(in_channels\), got shape \(2, 4, 8, 8\)"):
        F.conv2d(x, w[:, :3], b)
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        F.conv2d(x, w, b[:5])
    with pytest.raises(ValueError, match="kernel larger than the input"):
        F.conv2d(x[:, :, :2, :2], w, b)
    with pytest.raises(ValueError, match="kernel larger than the input"):
        F.conv2d(x[:, :, :5, :5], w, b, dilation=3)
    with pytest.raises(TypeError, match="stride must be an int"):
        F.conv2d(x, w, b, stride=1.5)


def test_absurd_sizes_raise_instead_of_allocating():
    x, w, b = _ok()
    with pytest.raises(ValueError, match="too large"):
        F.conv2d(x, w, b, padding=2**62)
    with pytest.raises(ValueError, match="too large"):
        F.conv2d(x, w, b, padding=200_000)
    with pytest.raises(ValueError, match="too large"):
        F.conv2d(x, w, b, dilation=2**62)


def test_kernel_rejects_bad_grad_shape():
    x, w, b = _ok()
    with pytest.raises(ValueError, match="grad_y must have the output's shape"):
        _C.conv2d_backward(x, w, np.zeros((2, 6, 5, 5), np.float32), (1, 1), (0, 0, 0, 0), (1, 1), 1,
                           True, True, True)


# Depthwise forward: the avx512 kernel (16 output columns per register, 4 rows per block, the last
# block of a row shifted left, masked taps at the image edges) adds the same products in the same
# order as the portable loop, so every tier gives the ref bits. Widths around 16 and 32, strides 1,
# 2 (permuted loads) and 3 (gather), dilation, asymmetric padding, a channel multiplier, heights
# that leave 1-3 rows in the last block, and signed zeros, infinities and NaNs in the input.
DW_CASES = [
    (w, k, stride, pad, dil, mult, h)
    for w in (1, 15, 16, 17, 31, 33)
    for k, stride, pad, dil, mult, h in (
        (3, 1, 1, 1, 1, 5),
        (3, 2, 1, 1, 2, 7),
        ((3, 5), (1, 3), (2, 0, 1, 3), (1, 2), 1, 6),
        (5, 1, 2, 1, 1, 9),
        ((1, 4), (2, 1), (0, 1, 0, 2), (1, 1), 3, 4),
    )
    # the kernel must fit the padded width
    if w + (pad if isinstance(pad, int) else pad[1] + pad[3])
    >= ((k if isinstance(k, int) else k[1]) - 1) * (dil if isinstance(dil, int) else dil[1]) + 1
]


@pytest.mark.parametrize("w,k,stride,pad,dil,mult,h", DW_CASES)
def test_depthwise_forward_same_bits_on_every_tier(w, k, stride, pad, dil, mult, h):
    c = 3
    kh, kw = (k, k) if isinstance(k, int) else k
    rng = np.random.default_rng(w * 31 + kh * 7 + kw)
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    x.reshape(-1)[::13] = -0.0
    x.reshape(-1)[5::41] = np.inf
    x.reshape(-1)[7::53] = np.nan
    wt = rng.standard_normal((c * mult, 1, kh, kw)).astype(np.float32)
    bias = rng.standard_normal(c * mult).astype(np.float32)
    bias[0] = -0.0
    stride2 = (stride, stride) if isinstance(stride, int) else stride
    dil2 = (dil, dil) if isinstance(dil, int) else dil
    pad4 = (pad,) * 4 if isinstance(pad, int) else pad
    outs = {}
    for tier in _C.supported_isas():
        with use_isa(tier):
            outs[tier] = [same_for_thread_counts(
                lambda r=r, b=b: _C.conv2d_forward(x, wt, b, stride2, pad4, dil2, c, r))
                for r in (False, True) for b in (bias, None)]
    expected = ref.conv2d(np.nan_to_num(x, nan=0.0, posinf=0.0), wt, bias, stride2, pad4, dil2, c)
    got = outs["ref"][0]
    finite = np.isfinite(got)
    assert finite.mean() > 0.3
    np.testing.assert_allclose(got[finite], expected[finite], **_tol(expected))
    for tier, res in outs.items():
        for a, b in zip(outs["ref"], res):
            assert _nan_canonical_bits(a) == _nan_canonical_bits(b), f"{tier} differs from ref"


def _nan_canonical_bits(a):
    """The bytes of `a` with every NaN made the same NaN. Where a sum meets both an input NaN and
    inf - inf (the default NaN, sign bit set), x86 returns the NaN of whichever operand the
    compiler placed first, and a + b is commutative to the compiler: which NaN comes out depends
    on code generation (the sanitizer build differs from the release one), not on the kernel.
    Everything else, -0.0 and inf included, must match bit for bit."""
    return np.where(np.isnan(a), np.float32(np.nan), a).tobytes()


@pytest.mark.parametrize("c,oc,k,pad,stride,dil,size", [
    (64, 64, 3, 1, 1, 1, (19, 23)), (32, 64, 5, 2, 1, 1, (14, 14)), (32, 64, 3, 1, 2, 1, (32, 31)),
    (8, 20, 3, 0, 1, 1, (13, 29)), (16, 48, 3, 2, 1, 2, (17, 12)), (5, 33, (1, 3), (0, 1), 1, 1, (9, 40)),
])
def test_direct_conv_avx512_tier_gives_the_avx2_bits(c, oc, k, pad, stride, dil, size):
    """Both tiers' direct convolutions sum the taps in (ky, kx, c) order with one FMA chain per
    output, then add the bias, so their outputs agree bit for bit (ref sums differently)."""
    for name in ("avx2", "avx512"):
        if _C.isa_missing(name):
            pytest.skip(f"CPU cannot run the {name} tier")
    kh, kw = (k, k) if isinstance(k, int) else k
    x, w, b = _data((3, c) + size, (oc, c, kh, kw), seed=c + oc)
    got = []
    for name in ("avx2", "avx512"):
        with use_isa(name):
            got.append(F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dil))
    assert got[0].tobytes() == got[1].tobytes()
