"""The native PNG decoder (csrc/image/png_decode.cpp, png_file.cpp) through _C.decode_png_files.

What it decodes must be bit-identical to Pillow's convert("L") / convert("RGB") / 255 (the
ImageFolder Pillow path); what it does not decode it must hand back (None) rather than guess;
a malformed file must come back as an error message, never a crash. Files come from Pillow's
encoder and from tests/png_encoder.py, which picks the filter of every row.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from png_cases import CORRUPT_HW, corrupt_files, fallback_cases
from png_encoder import chunk, encode
from pyconvnet import _C

Image = pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(not getattr(_C, "has_png_decoder", False),
                                reason="_C was built without zlib (no native PNG decoder)")

SIZES = [(1, 1), (1, 13), (13, 1), (5, 37), (8, 8)]


def _native(path, channels, hw, max_pixels=-1):
    """(image, problems) from one file through the native decoder; NaN where it wrote nothing."""
    out = np.full((1, channels) + tuple(hw), np.nan, np.float32)
    problems = _C.decode_png_files([os.fsencode(path)], out, max_pixels)
    return out[0], problems


def _pillow(path, channels):
    with Image.open(path) as im:
        arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)) / np.float32(255)


def _expected(rgb, channels):
    """The oracle from the pixels themselves: RGB / 255, or Pillow's integer luma / 255."""
    rgb = np.asarray(rgb, np.int64)
    if channels == 3:
        return rgb.astype(np.uint8).transpose(2, 0, 1) / np.float32(255)
    luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return luma[None].astype(np.uint8) / np.float32(255)


def _check_decoded(path, channels, hw, want=None):
    got, problems = _native(path, channels, hw)
    assert problems == [], problems
    pil = _pillow(path, channels)
    assert got.dtype == np.float32 and np.array_equal(got, pil)
    if want is not None:
        assert np.array_equal(got, want)


def _ihdr_fields(path):
    data = path.read_bytes()
    return data[24], data[25]  # bit depth, colour type


def _random(shape, seed, high=256):
    return np.random.default_rng(seed).integers(0, high, size=shape, dtype=np.int64)


# ------------------------------------------------------------------ files written by Pillow

@pytest.mark.parametrize("mode,depth_colour", [("L", (8, 0)), ("LA", (8, 4)), ("RGB", (8, 2)), ("RGBA", (8, 6))])
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("level", [0, 1, 6, 9])
def test_pillow_files_decode_as_pillow_reads_them(tmp_path, mode, depth_colour, hw, level):
    bands = len(mode)
    px = _random(hw + (bands,), seed=hash((mode, hw, level)) % 2**32).astype(np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(px[..., 0] if bands == 1 else px, mode).save(path, compress_level=level)
    assert _ihdr_fields(path) == depth_colour
    rgb = np.repeat(px[..., :1], 3, axis=2) if mode in ("L", "LA") else px[..., :3]
    for channels in (1, 3):
        _check_decoded(path, channels, hw, _expected(rgb, channels))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
@pytest.mark.parametrize("hw", SIZES)
def test_pillow_palette_files_of_every_depth(tmp_path, bits, hw):
    rng = np.random.default_rng(bits * 100 + hw[1])
    colours = 2 ** bits
    palette = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    idx = rng.integers(0, colours, hw, dtype=np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette(palette.tobytes())
    path = tmp_path / "p.png"
    im.save(path, bits=bits)
    assert _ihdr_fields(path) == (bits, 3)
    for channels in (1, 3):
        _check_decoded(path, channels, hw, _expected(palette[idx], channels))


# ------------------------------------------------------------------ every filter, by hand

def _pixels(colour, depth, hw, seed, high=None):
    high = high or 2 ** depth
    return _random(hw + (1 if colour == 3 else {0: 1, 2: 3, 4: 2, 6: 4}[colour],), seed, high)


@pytest.mark.parametrize("colour", [0, 2, 4, 6])
@pytest.mark.parametrize("data", ["random", "few values"])
def test_every_filter_type_in_every_row(tmp_path, colour, data):
    # "few values" makes the Paeth predictor's distances tie often, so a wrong tie-break shows.
    hw = (10, 37)
    px = _pixels(colour, 8, hw, seed=colour, high=3 if data == "few values" else 256)
    if data == "few values":
        px *= 60
    rgb = px[..., :3] if colour in (2, 6) else np.repeat(px[..., :1], 3, axis=2)
    for filters in ([0, 1, 2, 3, 4, 4, 3, 2, 1, 0], [4] * 10, [3] * 10, [1, 2] * 5):
        path = tmp_path / "f.png"
        path.write_bytes(encode(px, colour, filters=filters))
        for channels in (1, 3):
            _check_decoded(path, channels, hw, _expected(rgb, channels))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_palette_rows_with_filters_and_padding_bits(tmp_path, bits):
    # 13 pixels of 1/2/4 bits end mid-byte: the padding bits must be ignored.
    hw = (6, 13)
    rng = np.random.default_rng(bits)
    entries = 2 ** bits if bits < 8 else 200
    palette = rng.integers(0, 256, (entries, 3), dtype=np.uint8)
    idx = rng.integers(0, entries, hw)
    path = tmp_path / "p.png"
    path.write_bytes(encode(idx, 3, bits, palette=palette, filters=[4, 3, 2, 1, 0, 4]))
    for channels in (1, 3):
        _check_decoded(path, channels, hw, _expected(palette[idx], channels))


def test_image_data_in_many_idat_chunks_and_ancillary_chunks(tmp_path):
    hw = (7, 9)
    px = _pixels(2, 8, hw, seed=5)
    extra = [chunk(b"tEXt", b"Comment\x00hello"), chunk(b"gAMA", struct.pack(">I", 45455)),
             chunk(b"prVt", b"private data"), chunk(b"PLTE", bytes(range(12)))]  # a suggested palette
    variants = {
        "one-byte pieces": dict(idat_sizes=[1] * 40),
        "empty first IDAT": dict(idat_sizes=[0, 3, 0, 5]),
        "chunks around": dict(idat_sizes=[10, 20], before_idat=extra, after_idat=[chunk(b"tEXt", b"k\x00v")]),
    }
    for name, kw in variants.items():
        path = tmp_path / "m.png"
        path.write_bytes(encode(px, 2, filters=2, **kw))
        for channels in (1, 3):
            _check_decoded(path, channels, hw, _expected(px, channels))
    # bytes after IEND are not part of the file's chunks
    path.write_bytes(encode(px, 2) + b"trailing junk")
    _check_decoded(path, 3, hw, _expected(px, 3))


# ------------------------------------------------------------------ left to Pillow

def test_variants_not_decoded_natively_are_left_to_pillow(tmp_path):
    cases = fallback_cases(tmp_path)
    for name, path, hw in cases:
        for channels in (1, 3):
            got, problems = _native(path, channels, hw)
            assert problems == [(0, None)], name
    # ...and Pillow can read every one of them (ImageFolder's comparison: test_data_image_folder_batch.py)
    for name, path, _ in cases:
        with Image.open(path) as im:
            im.load()


def test_more_pixels_than_the_limit_are_left_to_pillow(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(encode(_pixels(0, 8, (4, 5), seed=1), 0))
    assert _native(path, 1, (4, 5), max_pixels=19)[1] == [(0, None)]
    assert _native(path, 1, (4, 5), max_pixels=20)[1] == []


def test_unreadable_paths_are_left_to_the_caller(tmp_path):
    out = np.zeros((4, 1, 2, 2), np.float32)
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)  # must not block: not a regular file
    (tmp_path / "dir.png").mkdir()
    paths = [os.fsencode(tmp_path / "missing.png"), os.fsencode(fifo), os.fsencode(tmp_path / "dir.png"), b"a\x00b.png"]
    assert _C.decode_png_files(paths, out, -1) == [(0, None), (1, None), (2, None), (3, None)]
    assert _C.decode_png_files([None, None, None, None], out, -1) == [(i, None) for i in range(4)]


# ------------------------------------------------------------------ malformed files

CORRUPT = corrupt_files()


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_malformed_files_are_errors_that_say_what_is_wrong(tmp_path, kind):
    data, word = CORRUPT[kind]
    path = tmp_path / "bad.png"
    path.write_bytes(data)
    for channels in (1, 3):
        _, problems = _native(path, channels, CORRUPT_HW)
        assert len(problems) == 1 and problems[0][0] == 0 and problems[0][1] is not None, (kind, problems)
        assert word.lower() in problems[0][1].lower(), (kind, problems)


def test_every_single_byte_change_and_cut_is_handled(tmp_path):
    # No crash and no out-of-bounds access (tools/sanitize.sh runs this under ASan) for any
    # one-byte change or truncation of a small file: decoded, left to Pillow, or an error.
    good = encode(_pixels(6, 8, (3, 4), seed=2), 6, filters=[4, 1, 3], idat_sizes=[9])
    rng = np.random.default_rng(0)
    variants = [good[:n] for n in range(len(good))]
    for i in range(len(good)):
        v = bytearray(good)
        v[i] ^= int(rng.integers(1, 256))
        variants.append(bytes(v))
    paths = []
    for k, v in enumerate(variants):
        p = tmp_path / f"{k}.png"
        p.write_bytes(v)
        paths.append(os.fsencode(p))
    out = np.zeros((len(paths), 3, 3, 4), np.float32)
    problems = dict(_C.decode_png_files(paths, out, -1))
    cut, flipped = len(good), len(good)
    assert all(problems.get(k) is not None for k in range(8, cut))  # every cut after the signature
    # a changed byte in a chunk's type, data or CRC breaks its CRC; in the signature it is not a PNG
    assert all(k in problems for k in range(cut, cut + flipped))


# ------------------------------------------------------------------ the binding's own checks

def test_decode_png_files_checks_its_arguments(tmp_path):
    out = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match="paths must be a list"):
        _C.decode_png_files((b"a", b"b"), out, -1)
    with pytest.raises(TypeError, match=r"paths\[1\] must be bytes"):
        _C.decode_png_files([b"a", "b"], out, -1)
    with pytest.raises(ValueError, match="paths has 1 entries"):
        _C.decode_png_files([b"a"], out, -1)
    with pytest.raises(TypeError, match="out must have dtype float32"):
        _C.decode_png_files([b"a", b"b"], out.astype(np.float64), -1)
    with pytest.raises(ValueError, match="out must be 4-D"):
        _C.decode_png_files([b"a", b"b"], out[0], -1)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        _C.decode_png_files([b"a", b"b"], np.zeros((2, 2, 4, 4), np.float32), -1)
    with pytest.raises(TypeError, match="C-contiguous"):
        _C.decode_png_files([b"a", b"b"], np.zeros((2, 3, 4, 8), np.float32)[..., ::2], -1)
    assert _C.decode_png_files([], np.zeros((0, 1, 2, 2), np.float32), -1) == []
