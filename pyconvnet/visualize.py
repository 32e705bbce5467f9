"""Looking inside a network: filter grids, activation maps, PNG output.

    from pyconvnet import visualize
    img = visualize.filter_grid(model[0].weight.data, scale=8)   # uint8 image of conv filters
    visualize.save_png(img, "filters.png")                         # standard library only
    maps = visualize.activation_maps(model, x[:1], layer=1)       # (1, C, H, W) after layer 1
"""

from __future__ import annotations

import math
import os
import struct
import zlib

import numpy as np

from ._validate import as_float_array, as_int

__all__ = ["filter_grid", "activation_maps", "save_png"]


def _normalise(tiles: np.ndarray, per_filter: bool) -> np.ndarray:
    """Min-max scale to [0, 255] over each tile (axis 0) or over everything; constant -> 128."""
    t = tiles.astype(np.float64)
    axes = tuple(range(1, t.ndim)) if per_filter else None
    lo = t.min(axis=axes, keepdims=True)
    hi = t.max(axis=axes, keepdims=True)
    span = hi - lo
    scaled = np.where(span > 0, (t - lo) / np.where(span > 0, span, 1.0), 0.5)
    return np.rint(scaled * 255.0).astype(np.uint8)


def filter_grid(weight, padding=1, *, ncols=None, normalize="filter", scale=1, pad_value=0):
    """Tile convolution filters into one normalised ``uint8`` image.

    ``weight`` is ``(out_channels, in_channels, kh, kw)`` (OIHW, e.g. ``model[0].weight.data``).
    Filters with 3 input channels become RGB tiles and the result is ``(H, W, 3)``; otherwise
    the result is a 2-D grayscale image, with one tile per filter when ``in_channels == 1`` and
    one row per filter (one tile per input channel) when ``in_channels`` is 2 or more than 3.

    ``normalize``: ``"filter"`` (default) scales every filter to the full 0..255 range on its
    own, ``"global"`` uses one range for all (keeps relative magnitudes); a constant filter is
    mid-grey. ``ncols``: tiles per row (default ``ceil(sqrt(out_channels))``; ignored in the
    one-row-per-filter layout). ``padding`` pixels of ``pad_value`` (0..255) separate tiles and
    surround the grid. ``scale`` enlarges every pixel to a ``scale x scale`` block.
    """
    w = as_float_array(weight, "weight", ndim=4, what="(out_channels, in_channels, kh, kw)")
    padding = as_int(padding, "padding", minimum=0)
    scale = as_int(scale, "scale", minimum=1)
    pad_value = as_int(pad_value, "pad_value", minimum=0)
    if pad_value > 255:
        raise ValueError(f"pad_value must be in [0, 255], got {pad_value}")
    if normalize not in ("filter", "global"):
        raise ValueError(f"normalize must be 'filter' or 'global', got {normalize!r}")
    o, i, kh, kw = w.shape
    if w.size == 0:
        raise ValueError(f"weight is empty: shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weight contains NaN or infinity")

    if i == 3:
        tiles = _normalise(w.transpose(0, 2, 3, 1), normalize == "filter")  # (O, kh, kw, 3)
        rows_of = None
    else:
        # one normalisation per filter over all its input channels, then one tile per channel
        tiles = _normalise(w, normalize == "filter").reshape(o * i, kh, kw)
        rows_of = i if i > 1 else None
    if scale > 1:
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    n = tiles.shape[0]
    th, tw = tiles.shape[1], tiles.shape[2]
    if rows_of is not None:
        cols, rows = rows_of, o
    else:
        if ncols is None:
            cols = int(math.ceil(math.sqrt(n)))
        else:
            cols = as_int(ncols, "ncols", minimum=1)
        cols = min(cols, n)
        rows = -(-n // cols)
    height = rows * th + (rows + 1) * padding
    width = cols * tw + (cols + 1) * padding
    shape = (height, width) + tiles.shape[3:]
    grid = np.full(shape, pad_value, dtype=np.uint8)
    for k in range(n):  # one slice assignment per filter, not per pixel
        r, c = divmod(k, cols)
        y = padding + r * (th + padding)
        x = padding + c * (tw + padding)
        grid[y : y + th, x : x + tw] = tiles[k]
    return grid


def activation_maps(model, x, layer):
    """Output of layer index ``layer`` (negative counts from the end) for input ``x``.

    Runs ``model[: layer + 1]`` in eval mode (the layers' pure ``infer``: dropout off,
    BatchNorm running statistics, nothing cached and the model's mode untouched). For
    convolution, pooling and activation layers the result is the ``(N, C, H, W)`` feature maps.
    """
    try:
        count = len(model)
    except TypeError:
        raise TypeError(f"model must be a pyconvnet Sequential, got {type(model).__name__}") from None
    idx = as_int(layer, "layer")
    if not -count <= idx < count:
        raise ValueError(f"layer must be in [{-count}, {count - 1}] for a model of {count} layers, got {layer}")
    if idx < 0:
        idx += count
    h = as_float_array(x, "x")
    for k in range(idx + 1):
        h = model[k].infer(h)
    return h


def save_png(image, path) -> None:
    """Write a ``uint8`` image, 2-D grayscale or ``(H, W, 3)`` RGB, to a PNG file.

    Float images are accepted when their values are in [0, 1] (scaled by 255). Written with the
    standard library (zlib, CRC-32): no Pillow needed.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"image is empty: shape {img.shape}")
    if img.dtype.kind == "f":
        if not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
            raise ValueError("a float image must have values in [0, 1]; pass uint8 otherwise")
        img = np.rint(img * 255.0).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise TypeError(f"image must be uint8 (or float in [0, 1]), got dtype {img.dtype}")
    with open(os.fspath(path), "wb") as f:
        f.write(png_bytes(img))


def png_bytes(img: np.ndarray) -> bytes:
    """The PNG file of a uint8 (H, W) or (H, W, 3) image: 8-bit grayscale or RGB, each row with
    filter type 0 (none), one zlib stream (PNG specification, ISO/IEC 15948)."""
    h, w = img.shape[:2]
    color = 0 if img.ndim == 2 else 2  # grayscale / truecolour
    rows = np.ascontiguousarray(img).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))
