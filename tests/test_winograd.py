"""Winograd F(4x4, 3x3) and F(2x2, 3x3) convolution (_C.winograd_conv2d, _C.WinogradConv2d,
output_tile 4 and 2) against a float64 NumPy convolution written here, on every ISA tier.

The serving contract: outputs within 1e-4 of the output scale (max |exact output|) of the
exact convolution. That is the tolerance here, and the error analysis says it holds with room
to spare for these data (unit-variance inputs, He-scaled weights, up to 300 input channels):
each output is a sum over the C input channels of the GEMM products, computed in float32 (one
rounding per multiply-add, u = 6e-8), between transforms that add a few roundings. Rounding
errors of the C terms add like a random walk, so the error is about sqrt(C + 13) u times the
sum of |terms|, which the transforms enlarge over the direct sum of |w x| by a fixed factor:
(8/3)^2 = 7.1 for F(2x2, 3x3), whose B and A hold only 0 and +-1 and whose G's 1/2 is exact,
and more for F(4x4, 3x3) (points +-2, 1/2). With 300 channels that is a few 1e-6 of the output
scale for F(2x2, 3x3) (measured: under 1e-6) and of order 1e-5 for F(4x4, 3x3) (measured:
under 5e-6), against errors of 1e-2 and more when any transform coefficient is wrong. The worst
error seen per tier and variant is printed at the end of the module (pytest -s).
"""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet import _C
from conftest import same_for_thread_counts, threads

TOL = 1e-4
_WORST: dict[str, float] = {}


def conv3x3_f64(x, w, b, pad, relu):
    """y[n, k, i, j] = sum_{c, p, q} xpad[n, c, i + p, j + q] * w[k, c, p, q] (+ b[k]), in
    float64, padding (top, left, bottom, right) with zeros."""
    pt, pl, pb, pr = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    w64 = w.astype(np.float64)
    y = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for p in range(3):
        for q in range(3):
            y += np.einsum("nchw,kc->nkhw", xp[:, :, p:p + oh, q:q + ow], w64[:, :, p, q])
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    if relu:
        y = np.maximum(y, 0.0)
    return y


def _data(batch, c, k, h, w, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c, h, w)).astype(np.float32)
    # He-like scale, so the outputs are O(1) whatever the channel count
    wt = (rng.standard_normal((k, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    return x, wt, b


def _rel_err(y, expected):
    scale = float(np.abs(expected).max())
    return float(np.abs(y.astype(np.float64) - expected).max()) / max(scale, 1e-30)


def _check(isa, x, w, b, pad, relu, tile=4):
    expected = conv3x3_f64(x, w, b, pad, relu)
    y = _C.winograd_conv2d(x, w, b, padding=pad, relu=relu, output_tile=tile)
    assert y.shape == expected.shape and y.dtype == np.float32
    if not np.any(expected):
        assert not np.any(y)
        return
    err = _rel_err(y, expected)
    key = f"{isa} tier, F({tile}x{tile}, 3x3)"
    _WORST[key] = max(_WORST.get(key, 0.0), err)
    assert err <= TOL, f"error {err:.2e} of the output scale"


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    for key, err in sorted(_WORST.items()):
        print(f"\nworst Winograd error on the {key}: {err:.2e} of the output scale")


TILES = [4, 2]  # output_tile: F(4x4, 3x3), F(2x2, 3x3)


# channel counts on both sides of the GEMM's 12-row blocks and the 16- and 8-tile vectors
CHANNELS = [(1, 1), (3, 16), (16, 3), (16, 32), (32, 32), (32, 64), (64, 64), (70, 70),
            (3, 70), (70, 1), (64, 16), (13, 25)]
# (h, w, padding): 1x1 .. 33x33, odd sizes, sizes not multiples of 4 or 2, paddings 0/1/2 and
# asymmetric; outputs of one partial tile up to several blocks of tiles; rows of up to 4, 8 and
# 16 tiles of either size (the kernels' pitches) and rows that fill a piece exactly, so that its
# last tile reads the 2 columns past the piece.
MAPS = [(1, 1, (1, 1, 1, 1)), (2, 2, (1, 0, 0, 1)), (3, 3, (0, 0, 0, 0)), (4, 4, (1, 1, 1, 1)),
        (5, 7, (2, 2, 2, 2)), (6, 6, (0, 0, 0, 0)), (8, 8, (1, 1, 1, 1)), (9, 9, (0, 2, 1, 0)),
        (13, 11, (2, 1, 0, 2)), (16, 16, (1, 1, 1, 1)), (17, 17, (1, 1, 1, 1)),
        (31, 33, (0, 1, 2, 0)), (32, 32, (1, 1, 1, 1)), (33, 33, (2, 2, 2, 2)),
        (33, 1, (1, 2, 1, 0)), (2, 3, (1, 1, 1, 1)), (14, 14, (1, 1, 1, 1)), (14, 14, (0, 0, 0, 0)),
        (7, 7, (1, 1, 1, 1)), (10, 18, (1, 1, 1, 1))]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("c,k", CHANNELS)
def test_matches_float64_oracle(isa, c, k, tile):
    for i, (h, w, pad) in enumerate(MAPS):
        batch = 3 if i % 3 == 1 else 1
        x, wt, b = _data(batch, c, k, h, w, seed=i)
        _check(isa, x, wt, b if i % 2 else None, pad, relu=i % 4 == 3, tile=tile)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("h,w,pad", [(20, 70, (1, 1, 1, 1)), (7, 65, (0, 0, 0, 0)),
                                     (12, 12, (5, 3, 4, 6))])
def test_wide_rows_and_large_padding(isa, h, w, pad, tile):
    # rows of more than 16 tiles (several vectors per tile row), padding past the kernel
    x, wt, b = _data(2, 16, 20, h, w, seed=h)
    _check(isa, x, wt, b, pad, relu=True, tile=tile)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("c", [128, 260])
def test_wide_channels_take_smaller_blocks(isa, c, tile):
    # over 96 input channels the blocks hold fewer tiles (F(2x2, 3x3): fewer again over 256):
    # several blocks, rows cut between them
    x, wt, b = _data(2, c, 20, 17, 19, seed=4)
    _check(isa, x, wt, b, (1, 1, 1, 1), relu=False, tile=tile)


@pytest.mark.parametrize("tile", TILES)
def test_many_channels_and_large_values(isa, tile):
    # 300 input channels (sums of many terms) and inputs of magnitude 1e3
    x, wt, b = _data(1, 300, 24, 10, 10, seed=3)
    _check(isa, x * 1000.0, wt, b, (1, 1, 1, 1), relu=False, tile=tile)


@pytest.mark.parametrize("tile", TILES)
def test_served_shapes_at_batch_1_and_2(isa, tile):
    # the layers serving runs F(2x2, 3x3) on: 128+ channels, 7x7 and 10x10 maps, output
    # channels not a multiple of 12 or 16
    for batch, c, k, size in [(1, 140, 136, 7), (2, 128, 130, 10)]:
        x, wt, b = _data(batch, c, k, size, size, seed=c)
        _check(isa, x, wt, b, (1, 1, 1, 1), relu=True, tile=tile)


@pytest.mark.parametrize("tile,reach", [(4, 6), (2, 4)])
def test_relu_zeroes_negatives_and_keeps_nan(isa, tile, reach):
    x, wt, b = _data(1, 4, 8, 9, 9, seed=5)
    x[0, 1, 4, 4] = np.nan
    y = _C.winograd_conv2d(x, wt, b, padding=(1, 1, 1, 1), relu=True, output_tile=tile)
    # the NaN reaches every output whose 3x3 window holds it (rows and columns 3-5), and only
    # outputs whose input tile (`reach` wide) holds it; F(2x2, 3x3), whose B^T feeds the edge
    # points of a tile into the edge outputs only, exactly the window
    nan = np.isnan(y)
    window = np.zeros((9, 9), bool)
    window[3:6, 3:6] = True
    assert nan[:, :, window].all()
    t = np.arange(9) // tile * tile - 1  # first input row / column of each output's tile
    holds = (t <= 4) & (4 < t + reach)
    assert not nan[:, :, ~(holds[:, None] & holds[None, :])].any()
    if tile == 2:
        assert (nan == window).all()
    finite = y[np.isfinite(y)]
    assert (finite >= 0).all()
    x[0, 1, 4, 4] = 0.0
    _check(isa, x, wt, b, (1, 1, 1, 1), relu=True, tile=tile)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("batch,c,k,size", [(1, 32, 64, 16), (3, 16, 70, 17), (1, 64, 64, 32),
                                            (5, 8, 16, 8), (1, 8, 16, 60), (1, 140, 40, 7),
                                            (1, 36, 30, 14)])
def test_same_bits_for_thread_counts(isa, batch, c, k, size, tile):
    # batch 1 with one block of tiles (F(4x4, 3x3) at 16x16, F(2x2, 3x3) at 7x7): the threads
    # split the output channels instead; else at batch 1 each thread takes a band of tiles
    # (F(4x4, 3x3) at 32x32 with 2 blocks, 60x60 with several blocks each)
    x, wt, b = _data(batch, c, k, size, size, seed=7)
    layer = _C.WinogradConv2d(wt, b, output_tile=tile)
    assert layer.output_tile == tile
    same_for_thread_counts(lambda: layer.forward(x, (1, 1, 1, 1), True), counts=(1, 2, 3))


@pytest.mark.parametrize("tile", TILES)
def test_prepared_layer_matches_one_shot(isa, tile):
    x, wt, b = _data(3, 16, 24, 11, 14, seed=9)
    layer = _C.WinogradConv2d(wt, b, output_tile=tile)
    for pad in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3)]:
        for batch in (1, 3):
            got = layer.forward(x[:batch], pad, False)
            want = _C.winograd_conv2d(x[:batch], wt, b, padding=pad, output_tile=tile)
            assert got.tobytes() == want.tobytes()
    with threads(1):
        _check(isa, x, wt, None, (1, 1, 1, 1), relu=False, tile=tile)


def test_variants_differ_only_by_rounding():
    # two different algorithms: not the same bits, the same sums
    x, wt, b = _data(2, 24, 20, 9, 9, seed=11)
    f4 = _C.winograd_conv2d(x, wt, b, padding=(1, 1, 1, 1))
    f2 = _C.winograd_conv2d(x, wt, b, padding=(1, 1, 1, 1), output_tile=2)
    assert f4.tobytes() != f2.tobytes()
    assert np.abs(f4 - f2).max() <= 2 * TOL * np.abs(f4).max()


def test_bad_arguments_raise():
    x, w, b = _data(1, 4, 8, 6, 6, seed=0)
    with pytest.raises(TypeError, match="x"):
        _C.winograd_conv2d(x.astype(np.float64), w, b)
    with pytest.raises(TypeError, match="weight"):
        _C.winograd_conv2d(x, w.astype(np.float64), b)
    with pytest.raises(TypeError, match="contiguous"):
        _C.winograd_conv2d(x[:, :, :, ::2], w, b)
    with pytest.raises(TypeError, match="x"):
        _C.winograd_conv2d([[1.0]], w, b)
    with pytest.raises(ValueError, match="weight"):
        _C.winograd_conv2d(x, np.zeros((8, 4, 5, 5), np.float32), b)
    with pytest.raises(ValueError, match="weight"):
        _C.winograd_conv2d(x, np.zeros((8, 4, 3), np.float32), b)
    with pytest.raises(ValueError, match="channels"):
        _C.winograd_conv2d(x, np.zeros((8, 5, 3, 3), np.float32), None)
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.winograd_conv2d(x[0], w, b)
    with pytest.raises(ValueError, match="bias"):
        _C.winograd_conv2d(x, w, b[:3])
    with pytest.raises(TypeError, match="bias"):
        _C.winograd_conv2d(x, w, b.astype(np.float64))
    with pytest.raises(ValueError, match="padding"):
        _C.winograd_conv2d(x, w, b, padding=(1, -1, 1, 1))
    with pytest.raises(TypeError, match="padding"):
        _C.winograd_conv2d(x, w, b, padding=(1, 1))
    with pytest.raises(TypeError, match="padding"):
        _C.winograd_conv2d(x, w, b, padding=(1, 1, 1, 1.5))
    with pytest.raises(ValueError, match="kernel larger than the input"):
        _C.winograd_conv2d(np.ascontiguousarray(x[:, :, :2, :2]), w, b)
    with pytest.raises(ValueError, match="weight"):
        _C.WinogradConv2d(np.zeros((0, 4, 3, 3), np.float32), None)
    layer = _C.WinogradConv2d(w, b)
    with pytest.raises(ValueError, match="channels"):
        layer.forward(np.zeros((1, 3, 6, 6), np.float32))
    for tile in (3, 0, 6, -2):
        with pytest.raises(ValueError, match="output_tile must be 4 or 2"):
            _C.winograd_conv2d(x, w, b, output_tile=tile)
        with pytest.raises(ValueError, match="output_tile"):
            _C.WinogradConv2d(w, b, output_tile=tile)
    with pytest.raises(TypeError):
        _C.WinogradConv2d(w, b, output_tile="2")


def test_rule():
    x, w = (8, 32, 16, 16), (32, 32, 3, 3)
    pad = (1, 1, 1, 1)
    assert _C.winograd_applies(x, w, 1, pad, 1, 1)
    assert _C.winograd_applies((1, 3, 3, 3), (5, 3, 3, 3))
    assert not _C.winograd_applies(x, w, 2, pad, 1, 1)
    assert not _C.winograd_applies(x, w, 1, pad, 2, 1)
    assert not _C.winograd_applies(x, (32, 16, 3, 3), 1, pad, 1, 2)
    assert not _C.winograd_applies(x, (32, 32, 5, 5), 1, pad, 1, 1)
    with pytest.raises(ValueError, match="kernel larger than the input"):  # not a layer: no output
        _C.winograd_applies((1, 3, 2, 2), (5, 3, 3, 3))
    with pytest.raises(ValueError, match="channels"):
        _C.winograd_applies(x, (32, 8, 3, 3))
    for tier in _C.supported_isas():
        before = _C.isa()
        _C.set_isa(tier)
        try:
            pays = _C.winograd_pays(x, w, 1, pad, 1, 1)
            # only where it applies, and only on the vector tiers
            assert pays == (tier != "ref")
            assert not _C.winograd_pays(x, w, 2, pad, 1, 1)
            assert not _C.winograd_pays((8, 3, 32, 32), (32, 3, 3, 3), 1, pad, 1, 1)
            # fewer tiles than a vector holds on a small map, tiny maps with few channels
            assert not _C.winograd_pays((1, 32, 8, 8), w, 1, pad, 1, 1)
            assert not _C.winograd_pays((64, 32, 6, 6), w, 1, pad, 1, 1)
            assert not _C.winograd_pays((64, 3, 32, 32), (16, 3, 3, 3), 1, pad, 1, 1)
            # 4-15 channels only on fully used maps
            assert _C.winograd_pays((8, 8, 32, 32), (16, 8, 3, 3), 1, pad, 1, 1) == (
                tier != "ref")
            assert not _C.winograd_pays((8, 8, 24, 24), (16, 8, 3, 3), 1, pad, 1, 1)
        finally:
            _C.set_isa(before)
