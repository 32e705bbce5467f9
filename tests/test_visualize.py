"""pyconvnet.visualize: filter_grid, activation_maps, save_png."""

import builtins

import numpy as np
import pytest

from pyconvnet import visualize


def test_filter_grid_gray_layout_and_normalisation():
    w = np.arange(4 * 1 * 2 * 3, dtype=np.float32).reshape(4, 1, 2, 3)
    img = visualize.filter_grid(w, padding=1)
    # 4 filters -> 2x2 tiles of 2x3, padding 1 around and between
    assert img.dtype == np.uint8 and img.shape == (2 * 2 + 3, 2 * 3 + 3)
    tile = img[1:3, 1:4]
    assert tile.min() == 0 and tile.max() == 255  # each filter normalised on its own
    np.testing.assert_array_equal(img[1:3, 5:8], tile)  # same pattern, shifted values
    assert img[0].max() == 0 and img[:, 4].max() == 0  # padding


def test_filter_grid_global_normalisation_keeps_relative_magnitudes():
    w = np.stack([np.full((1, 2, 2), 0.0), np.full((1, 2, 2), 1.0), np.full((1, 2, 2), 2.0)]).astype(np.float32)
    img = visualize.filter_grid(w, padding=0, normalize="global", ncols=3)
    assert img.shape == (2, 6)
    assert img[0, 0] == 0 and img[0, 2] == 128 and img[0, 4] == 255
    const = visualize.filter_grid(w[:1], padding=0)
    assert np.all(const == 128)  # a constant filter is mid-grey


def test_filter_grid_rgb():
    w = np.random.default_rng(0).normal(size=(5, 3, 3, 3)).astype(np.float32)
    img = visualize.filter_grid(w, padding=2, ncols=5, scale=2, pad_value=255)
    assert img.shape == (6 + 4, 5 * 6 + 6 * 2, 3)
    assert np.all(img[:2] == 255)
    tile = img[2:8, 2:8]
    assert np.array_equal(tile[::2, ::2], tile[1::2, 1::2])  # nearest enlargement
    # channel c of the tile is input channel c of filter 0
    w0 = w[0].transpose(1, 2, 0)
    expect = np.rint((w0 - w0.min()) / (w0.max() - w0.min()) * 255)
    np.testing.assert_array_equal(tile[::2, ::2], expect)


def test_filter_grid_multichannel_rows():
    w = np.random.default_rng(0).normal(size=(4, 6, 3, 3)).astype(np.float32)
    img = visualize.filter_grid(w)
    assert img.shape == (4 * 3 + 5, 6 * 3 + 7)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(weight=np.zeros((2, 3, 3), np.float32)), ValueError, "weight"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.int32)), TypeError, "weight"),
        (dict(weight=np.full((2, 1, 3, 3), np.nan, np.float32)), ValueError, "weight"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.float32), padding=-1), ValueError, "padding"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.float32), normalize="x"), ValueError, "normalize"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.float32), scale=0), ValueError, "scale"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.float32), pad_value=300), ValueError, "pad_value"),
        (dict(weight=np.zeros((2, 1, 3, 3), np.float32), ncols=0), ValueError, "ncols"),
    ],
)
def test_filter_grid_bad_arguments(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        visualize.filter_grid(**kwargs)


def read_png(path):
    """A PNG reader of its own (chunks, CRCs, zlib, the five row filters), for 8-bit grayscale
    and RGB: what any decoder must accept, without Pillow."""
    import struct
    import zlib

    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kind == b"IEND"
    w, h, depth, color, _, _, interlace = header
    assert depth == 8 and color in (0, 2) and interlace == 0
    channels = 1 if color == 0 else 3
    raw = zlib.decompress(idat)
    stride = w * channels
    out = np.zeros((h, stride), np.int64)
    prev = np.zeros(stride, np.int64)
    for y in range(h):
        ftype, row = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        cur = np.zeros(stride, np.int64)
        for i in range(stride):
            left = cur[i - channels] if i >= channels else 0
            up, ul = prev[i], (prev[i - channels] if i >= channels else 0)
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = left
            elif ftype == 2:
                pred = up
            elif ftype == 3:
                pred = (left + up) // 2
            else:
                p = left + up - ul
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - ul)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else ul
            cur[i] = (row[i] + pred) & 0xFF
        out[y], prev = cur, cur
    img = out.astype(np.uint8)
    return img if channels == 1 else img.reshape(h, w, 3)


def test_save_png_round_trip(tmp_path):
    gray = (np.arange(12 * 7) % 256).astype(np.uint8).reshape(12, 7)
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    visualize.save_png(gray, tmp_path / "g.png")
    visualize.save_png(rgb, str(tmp_path / "c.png"))
    visualize.save_png(np.full((2, 2), 0.5), tmp_path / "f.png")
    visualize.save_png(np.full((3, 4, 1), 7, np.uint8), tmp_path / "one.png")
    assert np.array_equal(read_png(tmp_path / "g.png"), gray)
    assert np.array_equal(read_png(tmp_path / "c.png"), rgb)
    assert np.all(read_png(tmp_path / "f.png") == 128)
    assert np.array_equal(read_png(tmp_path / "one.png"), np.full((3, 4), 7, np.uint8))


def test_save_png_is_read_by_pillow(tmp_path):
    """Cross-check with an independent decoder where it is installed."""
    Image = pytest.importorskip("PIL.Image")
    rgb = np.random.default_rng(1).integers(0, 256, size=(9, 4, 3), dtype=np.uint8)
    visualize.save_png(rgb, tmp_path / "c.png")
    with Image.open(tmp_path / "c.png") as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), rgb)


def test_save_png_bad_images(tmp_path):
    with pytest.raises(ValueError, match="image"):
        visualize.save_png(np.zeros((2, 2, 2), np.uint8), tmp_path / "x.png")
    with pytest.raises(TypeError, match="uint8"):
        visualize.save_png(np.zeros((2, 2), np.int64), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        visualize.save_png(np.full((2, 2), 2.0), tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        visualize.save_png(np.zeros((0, 3), np.uint8), tmp_path / "x.png")


def test_save_png_needs_no_pillow(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "PIL" or name.startswith("PIL."):
            raise ImportError("no PIL")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    img = np.arange(6, dtype=np.uint8).reshape(2, 3)
    visualize.save_png(img, tmp_path / "x.png")
    assert np.array_equal(read_png(tmp_path / "x.png"), img)


# ---------------------------------------------------------------------------------------------
# activation_maps on a real model


@pytest.fixture
def small_model():
    from pyconvnet.model import Sequential
    from pyconvnet.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU

    return Sequential([
        Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), Dropout(0.5), MaxPool2d(2),
        Flatten(), Linear(4 * 4 * 4, 3),
    ])


def test_activation_maps_match_the_layers(small_model):
    m = small_model
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    conv = visualize.activation_maps(m, x, 0)
    assert conv.shape == (2, 4, 8, 8)
    from pyconvnet.functional import conv2d

    np.testing.assert_allclose(conv, conv2d(x, m[0].weight.data, m[0].bias.data, padding=1), rtol=1e-5, atol=1e-6)
    pooled = visualize.activation_maps(m, x, 4)
    assert pooled.shape == (2, 4, 4, 4)
    assert np.array_equal(visualize.activation_maps(m, x, -3), pooled)
    # eval mode for the call (dropout off: deterministic), the model's mode untouched
    relu = visualize.activation_maps(m, x, 3)
    assert np.array_equal(relu, visualize.activation_maps(m, x, 3)) and relu.min() >= 0
    assert m[3].training and m[1].training
    assert visualize.activation_maps(m, x, 6).shape == (2, 3)


def test_activation_maps_bad_layer(small_model):
    x = np.zeros((1, 1, 8, 8), np.float32)
    with pytest.raises(ValueError, match="layer"):
        visualize.activation_maps(small_model, x, 7)
    with pytest.raises(ValueError, match="layer"):
        visualize.activation_maps(small_model, x, -8)
    with pytest.raises(TypeError, match="layer"):
        visualize.activation_maps(small_model, x, 1.5)
    with pytest.raises(TypeError, match="model"):
        visualize.activation_maps(object(), x, 0)
