"""Winograd F(4x4, 3x3) convolution (_C.winograd_conv2d, _C.WinogradConv2d) against a float64
NumPy convolution written here, on every ISA tier.

The serving contract: outputs within 1e-4 of the output scale (max |exact output|) of the
exact convolution. The worst error seen per tier is printed at the end of the module
(pytest -s).
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


def _check(isa, x, w, b, pad, relu):
    expected = conv3x3_f64(x, w, b, pad, relu)
    y = _C.winograd_conv2d(x, w, b, padding=pad, relu=relu)
    assert y.shape == expected.shape and y.dtype == np.float32
    if not np.any(expected):
        assert not np.any(y)
        return
    err = _rel_err(y, expected)
    _WORST[isa] = max(_WORST.get(isa, 0.0), err)
    assert err <= TOL, f"error {err:.2e} of the output scale"


@pytest.fixture(scope="module", autouse=True)
def _report_worst():
    yield
    for isa, err in sorted(_WORST.items()):
        print(f"\nworst Winograd error on the {isa} tier: {err:.2e} of the output scale")


CHANNELS = [(1, 1), (3, 16), (16, 3), (16, 32), (32, 32), (32, 64), (64, 64), (70, 70),
            (3, 70), (70, 1), (64, 16)]
# (h, w, padding): 1x1 .. 33x33, odd sizes, sizes not multiples of 4, paddings 0/1/2 and
# asymmetric; outputs of one partial tile up to several blocks of tiles.
MAPS = [(1, 1, (1, 1, 1, 1)), (2, 2, (1, 0, 0, 1)), (3, 3, (0, 0, 0, 0)), (4, 4, (1, 1, 1, 1)),
        (5, 7, (2, 2, 2, 2)), (6, 6, (0, 0, 0, 0)), (8, 8, (1, 1, 1, 1)), (9, 9, (0, 2, 1, 0)),
        (13, 11, (2, 1, 0, 2)), (16, 16, (1, 1, 1, 1)), (17, 17, (1, 1, 1, 1)),
        (31, 33, (0, 1, 2, 0)), (32, 32, (1, 1, 1, 1)), (33, 33, (2, 2, 2, 2)),
        (33, 1, (1, 2, 1, 0))]


@pytest.mark.parametrize("c,k", CHANNELS)
def test_matches_float64_oracle(isa, c, k):
    for i, (h, w, pad) in enumerate(MAPS):
        batch = 3 if i % 3 == 1 else 1
        x, wt, b = _data(batch, c, k, h, w, seed=i)
        _check(isa, x, wt, b if i % 2 else None, pad, relu=i % 4 == 3)


@pytest.mark.parametrize("h,w,pad", [(20, 70, (1, 1, 1, 1)), (7, 65, (0, 0, 0, 0)),
                                     (12, 12, (5, 3, 4, 6))])
def test_wide_rows_and_large_padding(isa, h, w, pad):
    # rows of more than 16 tiles (several vectors per tile row), padding past the kernel
    x, wt, b = _data(2, 16, 20, h, w, seed=h)
    _check(isa, x, wt, b, pad, relu=True)


def test_wide_channels_take_smaller_blocks(isa):
    # over 96 input channels the blocks hold 16 tiles: several blocks, rows cut between them
    x, wt, b = _data(2, 128, 20, 17, 19, seed=4)
    _check(isa, x, wt, b, (1, 1, 1, 1), relu=False)


def test_many_channels_and_large_values(isa):
    # 300 input channels (sums of many terms) and inputs of magnitude 1e3
    x, wt, b = _data(1, 300, 24, 10, 10, seed=3)
    _check(isa, x * 1000.0, wt, b, (1, 1, 1, 1), relu=False)


def test_relu_zeroes_negatives_and_keeps_nan(isa):
    x, wt, b = _data(1, 4, 8, 9, 9, seed=5)
    x[0, 1, 4, 4] = np.nan
    y = _C.winograd_conv2d(x, wt, b, padding=(1, 1, 1, 1), relu=True)
    # the NaN reaches every output whose 6x6 input tile holds it
    assert np.isnan(y[:, :, 4, 4]).all()
    finite = y[np.isfinite(y)]
    assert (finite >= 0).all()
    x[0, 1, 4, 4] = 0.0
    _check(isa, x, wt, b, (1, 1, 1, 1), relu=True)


@pytest.mark.parametrize("batch,c,k,size", [(1, 32, 64, 16), (3, 16, 70, 17), (1, 64, 64, 32),
                                            (5, 8, 16, 8), (1, 8, 16, 60)])
def test_same_bits_for_thread_counts(isa, batch, c, k, size):
    # batch 1 at 16x16 has one block of tiles: the threads split the output channels instead;
    # 32x32 (2 blocks) and 60x60 go in one band of tiles per thread, 60x60 several blocks each
    x, wt, b = _data(batch, c, k, size, size, seed=7)
    layer = _C.WinogradConv2d(wt, b)
    same_for_thread_counts(lambda: layer.forward(x, (1, 1, 1, 1), True), counts=(1, 2, 3))


def test_prepared_layer_matches_one_shot(isa):
    x, wt, b = _data(3, 16, 24, 11, 14, seed=9)
    layer = _C.WinogradConv2d(wt, b)
    for pad in [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3)]:
        for batch in (1, 3):
            got = layer.forward(x[:batch], pad, False)
            want = _C.winograd_conv2d(x[:batch], wt, b, padding=pad)
            assert got.tobytes() == want.tobytes()
    with threads(1):
        _check(isa, x, wt, None, (1, 1, 1, 1), relu=False)


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
