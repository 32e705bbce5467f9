"""PNG files shared by the decoder's tests (test_png_decode.py) and ImageFolder's
(test_data_image_folder_batch.py): variants the native decoder leaves to Pillow, and malformed
files, each with a word its error message must contain. Built with png_encoder.py."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np

from png_encoder import SIGNATURE, chunk, encode, ihdr, scanlines

CORRUPT_HW = (4, 6)


def fallback_cases(folder):
    """(name, path, decode size) of files in `folder` that the native decoder must leave to Pillow:
    valid PNGs it does not convert itself, and a file that is not a PNG."""
    from PIL import Image

    rng = np.random.default_rng(7)
    cases = []

    def add(name, data, hw=(6, 5)):
        path = folder / f"{name}.png"
        path.write_bytes(data)
        cases.append((name, path, hw))

    grey = rng.integers(0, 256, (6, 5))
    add("grey 16-bit", encode(grey * 257, 0, 16, filters=4))
    add("RGB 16-bit", encode(rng.integers(0, 65536, (6, 5, 3)), 2, 16, filters=1))
    add("RGBA 16-bit", encode(rng.integers(0, 65536, (6, 5, 4)), 6, 16))
    for bits in (1, 2, 4):
        add(f"grey {bits}-bit", encode(rng.integers(0, 2 ** bits, (6, 5)), 0, bits, filters=3))
    add("interlaced RGB", encode(rng.integers(0, 256, (6, 5, 3)), 2, interlace=True))
    add("interlaced palette", encode(rng.integers(0, 4, (6, 5)), 3, 2, palette=rng.integers(0, 256, (4, 3)),
                                     interlace=True))
    add("RGB with tRNS", encode(rng.integers(0, 256, (6, 5, 3)), 2, trns=b"\x00\x01\x00\x02\x00\x03"))
    add("grey with tRNS", encode(grey, 0, trns=b"\x00\x07"))
    add("palette with tRNS", encode(rng.integers(0, 4, (6, 5)), 3, 8, palette=rng.integers(0, 256, (4, 3)),
                                    trns=b"\xff\x00\xff\xff"))
    add("palette index past the palette", encode(np.full((6, 5), 9), 3, 8, palette=rng.integers(0, 256, (4, 3))))
    edge = np.zeros((6, 5), np.int64)
    edge[5, 4] = 4  # the first index without an entry, in the last pixel
    add("palette index one past the palette", encode(edge, 3, 4, palette=rng.integers(0, 256, (4, 3))))
    add("another size", encode(grey, 0), hw=(5, 6))
    buf = io.BytesIO()
    Image.fromarray(grey.astype(np.uint8)).save(buf, format="BMP")
    add("a BMP named .png", buf.getvalue())
    return cases


def _good(hw=CORRUPT_HW):
    return np.random.default_rng(3).integers(0, 256, hw + (3,))


def _with_crc_broken(data, kind):
    at = data.index(kind) - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    end = at + 8 + length
    return data[:end] + bytes([data[end] ^ 1]) + data[end + 1:]


def _apart(px):
    """Two IDAT chunks with a tEXt chunk between them."""
    stream = zlib.compress(scanlines(px, 2, 8, 0))
    h, w = px.shape[:2]
    return (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"IDAT", stream[:10]) + chunk(b"tEXt", b"a\x00b")
            + chunk(b"IDAT", stream[10:]) + chunk(b"IEND"))


def corrupt_files():
    """name -> (bytes of a malformed PNG of 4x6 RGB, a word the error message must contain)."""
    px = _good()
    good = encode(px, 2, filters=4, after_idat=[chunk(b"tEXt", b"a\x00b")])
    idat_at = good.index(b"IDAT") - 4
    rows = scanlines(px, 2, 8, 1)
    h, w = px.shape[:2]
    pal = np.zeros((2, 3), np.uint8)
    return {
        "CRC of IHDR": (_with_crc_broken(good, b"IHDR"), "CRC"),
        "CRC of IDAT": (_with_crc_broken(good, b"IDAT"), "CRC"),
        "CRC of tEXt": (_with_crc_broken(good, b"tEXt"), "CRC"),
        "CRC of IEND": (_with_crc_broken(good, b"IEND"), "CRC"),
        "cut after the signature": (good[:8], "truncated"),
        "cut in IHDR": (good[:20], "truncated"),
        "cut in IDAT": (good[:idat_at + 20], "truncated"),
        "cut before IEND": (good[:-12], "truncated"),
        "cut in IEND": (good[:-3], "truncated"),
        "chunk longer than the file": (good[:idat_at] + struct.pack(">I", 0x7FFFFFF0) + good[idat_at + 4:], "truncated"),
        "chunk length over 2^31": (good[:idat_at] + struct.pack(">I", 0x80000000) + good[idat_at + 4:], "length"),
        "invalid chunk type": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"ID\x00T", b"x") + chunk(b"IEND"),
                               "type"),
        "first chunk not IHDR": (SIGNATURE + chunk(b"gAMA", b"\x00\x00\xb1\x8f") + good[8:], "IHDR"),
        "IHDR of 12 bytes": (encode(px, 2, header=ihdr(w, h, 8, 2)[:12]), "IHDR"),
        "width 0": (encode(px, 2, header=ihdr(0, h, 8, 2)), "size"),
        "height 0": (encode(px, 2, header=ihdr(w, 0, 8, 2)), "size"),
        "width 2^31": (encode(px, 2, header=ihdr(2**31, h, 8, 2)), "size"),
        "RGB of 4 bits": (encode(px, 2, header=ihdr(w, h, 4, 2)), "bit depth"),
        "colour type 5": (encode(px, 2, header=ihdr(w, h, 8, 5)), "colour type"),
        "compression method 1": (encode(px, 2, header=ihdr(w, h, 8, 2, compression=1)), "compression"),
        "filter method 1": (encode(px, 2, header=ihdr(w, h, 8, 2, filter_method=1)), "filter method"),
        "interlace method 2": (encode(px, 2, header=ihdr(w, h, 8, 2, interlace=2)), "interlace"),
        "second IHDR": (encode(px, 2, before_idat=[chunk(b"IHDR", ihdr(w, h, 8, 2))]), "second IHDR"),
        "no IDAT": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"IEND"), "no IDAT"),
        "IDAT chunks apart": (_apart(px), "does not follow"),
        "palette image without PLTE": (encode(np.zeros((h, w)), 3, 8), "PLTE"),
        "PLTE of 4 bytes": (encode(np.zeros((h, w)), 3, 8, before_idat=[chunk(b"PLTE", b"\x00" * 4)]), "PLTE"),
        "second PLTE": (encode(np.zeros((h, w)), 3, 8, palette=pal, before_idat=[chunk(b"PLTE", b"\x00" * 6)]),
                        "second PLTE"),
        "filter type 5": (encode(px, 2, data=rows[:(3 * w + 1)] + b"\x05" + rows[3 * w + 2:]), "filter type 5"),
        "compressed data corrupt": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"IDAT", b"\x78\x9c\xff\xff\xff")
                                    + chunk(b"IEND"), "corrupt"),
        "not a zlib stream": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"IDAT", b"\x00" * 30) + chunk(b"IEND"),
                              "corrupt"),
        "one row short": (encode(px, 2, data=rows[:-(3 * w + 1)]), "too short"),
        "one row too many": (encode(px, 2, data=rows + rows[-(3 * w + 1):]), "longer"),
        "one byte too many": (encode(px, 2, data=rows + b"\x00"), "longer"),
        "compressed stream cut": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2))
                                  + chunk(b"IDAT", zlib.compress(rows)[:-6]) + chunk(b"IEND"), "truncated"),
        "no IEND": (encode(px, 2, end=False), "IEND"),
        "empty IDAT": (SIGNATURE + chunk(b"IHDR", ihdr(w, h, 8, 2)) + chunk(b"IDAT") + chunk(b"IEND"), "truncated"),
    }
