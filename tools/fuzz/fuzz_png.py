"""Fuzz target: the native PNG decoder (_C.decode_png_files) on arbitrary bytes (see harness.py),
checked against Pillow: an image it decodes must be bit-identical to Pillow's reading of it.

The first input byte steers the run; the rest is the file. Bit 0: recompute every chunk's CRC
before decoding, and bit 1: zlib-compress the IDAT data first (the input then holds the filtered
rows themselves). The C++ code reports no coverage to libFuzzer, and without these repairs nearly
every mutation would stop at a CRC or at zlib, never reaching the row filters and conversions.
Bit 2 picks 3 output channels instead of 1. The decode size is the IHDR's when it is at most
64x64, so that the decoder gets past its size check.
"""

import os
import struct
import warnings
import zlib

import harness

with harness.instrumented():
    import numpy as np
    from pyconvnet import _C
    from pyconvnet.visualize import png_bytes

try:
    from PIL import Image
except ImportError:  # the differential check needs Pillow; decoding alone does not
    Image = None

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 64
FIX_CRC, DEFLATE, RGB = 1, 2, 4


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _rebuild(body: bytes, deflate: bool) -> bytes:
    """The chunks of `body` with fresh CRCs; with `deflate` all IDAT data joined and compressed
    into the first IDAT chunk (the later ones left empty). A chunk that runs past the end and
    whatever follows it are kept as they are."""
    if len(body) < 8:
        return body
    chunks, pos, tail = [], 8, b""
    while pos < len(body):
        if len(body) - pos < 8:
            tail = body[pos:]
            break
        n = int.from_bytes(body[pos:pos + 4], "big")
        if len(body) - pos - 12 < n:
            tail = body[pos:]
            break
        chunks.append([body[pos + 4:pos + 8], body[pos + 8:pos + 8 + n]])
        pos += 12 + n
    if deflate:
        idats = [c for c in chunks if c[0] == b"IDAT"]
        if idats:
            joined = zlib.compress(b"".join(c[1] for c in idats), 1)
            for c in idats:
                c[1] = b""
            idats[0][1] = joined
    return body[:8] + b"".join(_chunk(k, d) for k, d in chunks) + tail


def _size(png: bytes):
    if len(png) >= 24:
        w, h = struct.unpack(">II", png[16:24])
        if 1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE:
            return h, w
    return 1, 1


def _pillow(path, channels):
    """Pillow's reading as ImageFolder's Pillow path has it, or None when Pillow refuses."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path, formats=("PNG",)) as im:
                arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except Exception:  # noqa: BLE001 - any refusal by Pillow ends the comparison
        return None
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)) / np.float32(255)


def _raw_file(rows: bytes, w: int, h: int, depth: int, colour: int, plte=b"") -> bytes:
    """A seed for DEFLATE mode: IHDR, PLTE, one IDAT holding the uncompressed rows, IEND."""
    head = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
    return SIGNATURE + head + (_chunk(b"PLTE", plte) if plte else b"") + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def seeds() -> dict:
    rng = np.random.default_rng(0)
    out = {
        "grey": bytes([0]) + png_bytes(rng.integers(0, 256, (5, 7), dtype=np.uint8)),
        "rgb": bytes([RGB]) + png_bytes(rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)),
    }
    if Image is not None:
        for mode, bands in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
            px = rng.integers(0, 256, (6, 5, bands), dtype=np.uint8)
            im = Image.fromarray(px[..., 0] if bands == 1 else px, mode)
            for level in (0, 9):
                out[f"pillow_{mode}_{level}"] = bytes([RGB]) + _pillow_bytes(im, compress_level=level)
        for bits in (1, 2, 4, 8):
            im = Image.fromarray(rng.integers(0, 2 ** bits, (5, 9), dtype=np.uint8), "P")
            im.putpalette(rng.integers(0, 256, 3 * 2 ** bits, dtype=np.uint8).tobytes())
            out[f"pillow_P{bits}"] = bytes([0]) + _pillow_bytes(im, bits=bits)
    # the filtered rows themselves (DEFLATE mode): every filter type, each colour type
    for colour, spp in ((0, 1), (2, 3), (4, 2), (6, 4)):
        w, h = 6, 5
        rows = b"".join(bytes([y % 5]) + rng.integers(0, 256, w * spp, dtype=np.uint8).tobytes() for y in range(h))
        for flags in (FIX_CRC | DEFLATE, FIX_CRC | DEFLATE | RGB):
            out[f"rows_c{colour}_f{flags}"] = bytes([flags]) + _raw_file(rows, w, h, 8, colour)
    for bits in (1, 2, 4, 8):
        w, h = 11, 4
        row_bytes = (w * bits + 7) // 8
        rows = b"".join(bytes([(y + 1) % 5]) + rng.integers(0, 256, row_bytes, dtype=np.uint8).tobytes() for y in range(h))
        plte = rng.integers(0, 256, 3 * 2 ** min(bits, 4), dtype=np.uint8).tobytes()
        out[f"rows_p{bits}"] = bytes([FIX_CRC | DEFLATE | RGB]) + _raw_file(rows, w, h, bits, 3, plte)
    for name in [k for k in out if k.startswith(("grey", "pillow_RGB_9"))]:
        out[name + "_cut"] = out[name][: len(out[name]) * 2 // 3]
    return out


def _pillow_bytes(im, **options) -> bytes:
    import io

    buf = io.BytesIO()
    im.save(buf, format="PNG", **options)
    return buf.getvalue()


def _outcome(problems, png: bytes) -> None:
    """One branch per kind of outcome and of IHDR: the C++ decoder reports no coverage, so these
    branches are what lets libFuzzer keep an input that reaches a new check or variant."""
    if len(png) > 26:
        colour, depth = png[25], png[24]
        if colour == 3:
            if depth < 8:
                pass
        elif colour in (4, 6):
            pass
        elif depth != 8:
            pass
    if not problems:
        return
    message = problems[0][1]
    if message is None:
        return
    if "CRC" in message:
        return
    if "truncated" in message:
        return
    if "IHDR" in message:
        return
    if "PLTE" in message:
        return
    if "IDAT" in message:
        return
    if "filter type" in message:
        return
    if "corrupt" in message:
        return
    if "longer" in message:
        return
    if "too short" in message:
        return
    if "type" in message:
        return


if harness.INSTRUMENT:
    import atheris

    _outcome = atheris.instrument_func(_outcome)


def one_input(data: bytes) -> None:
    if not data:
        return
    flags, png = data[0], data[1:]
    if flags & (FIX_CRC | DEFLATE):
        png = _rebuild(png, bool(flags & DEFLATE))
    channels = 3 if flags & RGB else 1
    h, w = _size(png)
    path = harness.scratch_file(png, ".png")
    out = np.full((1, channels, h, w), np.nan, np.float32)
    problems = _C.decode_png_files([os.fsencode(path)], out, -1)
    _outcome(problems, png)
    if problems:
        if problems[0][1] is not None:
            raise ValueError(problems[0][1])
        return  # left to Pillow
    if Image is not None:
        want = _pillow(path, channels)
        if want is not None and not np.array_equal(out[0], want):
            raise AssertionError(f"the native decoder and Pillow disagree on this {h}x{w} PNG")


if __name__ == "__main__":
    import sys

    # The seeds stay in the corpus although the decoder's own coverage is not seen: mutations of
    # valid files are what reach deep into it.
    if not any(a.startswith("-keep_seed=") for a in sys.argv[1:]):
        sys.argv.append("-keep_seed=1")
    harness.main(one_input, tokens=(SIGNATURE, b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"tEXt", b"acTL"))
