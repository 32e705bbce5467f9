"""A tiny PNG encoder for the tests, sharing no code with the decoder under test.

It filters each row with the filter type the test picks (so every filter, Paeth included, is
exercised on purpose, not only where an encoder's heuristic happens to choose it), compresses
with zlib, can split the image data over several IDAT chunks, interlace with Adam7, and lets a
test replace any part (IHDR fields, the filtered scanlines, CRCs) to build a broken file.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
# Adam7 passes: (x0, y0, dx, dy)
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def chunk(kind: bytes, data: bytes = b"", crc: int | None = None) -> bytes:
    """One chunk: length, type, data, CRC-32 of type + data (or the given `crc`)."""
    if crc is None:
        crc = zlib.crc32(kind + data)
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc & 0xFFFFFFFF)


def ihdr(width, height, depth, colour, compression=0, filter_method=0, interlace=0) -> bytes:
    return struct.pack(">IIBBBBB", width, height, depth, colour, compression, filter_method, interlace)


def paeth(a: int, b: int, c: int) -> int:
    """The PNG specification's predictor (section 9.4): nearest of a, b, c to a + b - c,
    ties going to a, then b."""
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    if pb <= pc:
        return b
    return c


def filter_row(kind: int, row: bytes, prior: bytes, bpp: int) -> bytes:
    """The filter-type byte and `row` filtered against `prior` (the unfiltered row above)."""
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
        out[i] = (x - pred) & 0xFF
    return bytes([kind]) + bytes(out)


def pack_rows(pixels: np.ndarray, depth: int) -> list:
    """Rows of (H, W, samples) integer samples as scanline bytes (big-endian 16-bit samples;
    1/2/4-bit samples packed from the high bits of each byte, the last byte padded with 0)."""
    h = pixels.shape[0]
    flat = pixels.reshape(h, -1)
    if depth == 16:
        return [r.astype(">u2").tobytes() for r in flat]
    if depth == 8:
        return [r.astype(np.uint8).tobytes() for r in flat]
    shifts = np.arange(depth - 1, -1, -1)
    return [np.packbits(((r.astype(np.int64)[:, None] >> shifts) & 1).ravel()).tobytes() for r in flat]


def scanlines(pixels: np.ndarray, colour: int, depth: int, filters=0) -> bytes:
    """The filtered rows of a non-interlaced image; `filters` is one type or one per row."""
    rows = pack_rows(pixels, depth)
    kinds = [filters] * len(rows) if isinstance(filters, int) else list(filters)
    bpp = max(1, SAMPLES[colour] * depth // 8)
    prior = bytes(len(rows[0])) if rows else b""
    out = []
    for row, kind in zip(rows, kinds):
        out.append(filter_row(kind, row, prior, bpp))
        prior = row
    return b"".join(out)


def interlaced_scanlines(pixels: np.ndarray, colour: int, depth: int) -> bytes:
    """Adam7: the seven passes' sub-images one after the other, rows unfiltered (type 0)."""
    out = []
    for x0, y0, dx, dy in ADAM7:
        sub = pixels[y0::dy, x0::dx]
        if sub.shape[0] and sub.shape[1]:
            out.append(scanlines(sub, colour, depth, 0))
    return b"".join(out)


def encode(pixels, colour, depth=8, *, filters=0, palette=None, trns=None, level=6, idat_sizes=None,
           before_idat=(), after_idat=(), header=None, data=None, interlace=False, end=True) -> bytes:
    """A PNG file of `pixels` ((H, W, samples) ints; (H, W) for one sample).

    `palette`: (N, 3) uint8 for colour type 3. `trns`: tRNS chunk data. `idat_sizes`: split the
    compressed stream into IDAT chunks of these sizes (the rest in a last one). `before_idat` /
    `after_idat`: extra chunk bytes. `header`: IHDR data instead of the one the image implies;
    `data`: the uncompressed scanlines instead of the image's; `end=False` leaves out IEND.
    """
    px = np.asarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    h, w = px.shape[:2]
    if data is None:
        data = interlaced_scanlines(px, colour, depth) if interlace else scanlines(px, colour, depth, filters)
    stream = zlib.compress(data, level)
    parts = []
    for size in idat_sizes or ():
        parts.append(stream[:size])
        stream = stream[size:]
    parts.append(stream)
    out = [SIGNATURE, chunk(b"IHDR", header if header is not None else ihdr(w, h, depth, colour, interlace=int(interlace)))]
    if palette is not None:
        out.append(chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes()))
    if trns is not None:
        out.append(chunk(b"tRNS", trns))
    out.extend(before_idat)
    out.extend(chunk(b"IDAT", p) for p in parts)
    out.extend(after_idat)
    if end:
        out.append(chunk(b"IEND"))
    return b"".join(out)
