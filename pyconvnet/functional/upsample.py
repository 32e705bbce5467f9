"""Interpolation of NCHW images (torch.nn.functional.interpolate semantics, 2-D).

``mode='nearest'`` is PyTorch's legacy nearest: output pixel ``o`` copies input
``min(floor(o * scale), in - 1)``. ``mode='bilinear'`` samples at ``o * scale`` with
``align_corners=True`` and at ``(o + 0.5) * scale - 0.5`` (clamped at 0) otherwise. ``scale`` is
``1 / scale_factor`` when a scale factor is given, ``in / out`` when a size is given, and
``(in - 1) / (out - 1)`` with ``align_corners=True``; an axis whose size does not change is
copied as it is. Indices and weights are computed in float32, as PyTorch computes them.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import _C
from .._validate import as_float_array, as_int

__all__ = ["interpolate", "interpolate_args", "interpolate_out_size"]

_MODES = ("nearest", "bilinear")
# PyTorch's other modes: recognised, so the error says they are missing here rather than unknown.
_TORCH_ONLY_MODES = ("linear", "bicubic", "trilinear", "area", "nearest-exact")


def _size_arg(size):
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise ValueError(f"size must be an int or a pair (h, w), got {size!r}")
        pair = (as_int(size[0], "size"), as_int(size[1], "size"))
    else:
        try:
            v = as_int(size, "size")
        except TypeError:
            raise TypeError(f"size must be an int or a pair (h, w) of ints, got {size!r}") from None
        pair = (v, v)
    if min(pair) < 1:
        raise ValueError(f"size must be >= 1, got {size!r}")
    return pair


def _scale_arg(scale_factor):
    values = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(values) != 2:
        raise ValueError(f"scale_factor must be a number or a pair (h, w), got {scale_factor!r}")
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
            raise TypeError(f"scale_factor must be a number or a pair (h, w) of numbers, got {scale_factor!r}")
        v = float(v)
        if not (math.isfinite(v) and v > 0):
            raise ValueError(f"scale_factor must be finite and > 0, got {scale_factor!r}")
        out.append(v)
    return tuple(out)


def interpolate_args(size, scale_factor, mode, align_corners):
    """The arguments normalised and checked once, for the function and the Upsample layer:
    (size pair or None, scale_factor pair or None, mode, align_corners as a bool)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("give exactly one of size and scale_factor, "
                         f"got size={size!r} and scale_factor={scale_factor!r}")
    size = None if size is None else _size_arg(size)
    scale_factor = None if scale_factor is None else _scale_arg(scale_factor)
    if not isinstance(mode, str):
        raise TypeError(f"mode must be a str ('nearest' or 'bilinear'), got {type(mode).__name__}")
    if mode in _TORCH_ONLY_MODES:
        raise NotImplementedError(f"mode={mode!r} is not implemented; use 'nearest' or 'bilinear'")
    if mode not in _MODES:
        raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
    if align_corners is not None and not isinstance(align_corners, (bool, np.bool_)):
        raise TypeError(f"align_corners must be a bool or None, got {type(align_corners).__name__}")
    align_corners = bool(align_corners)
    if align_corners and mode == "nearest":
        raise ValueError("align_corners=True needs mode='bilinear' (nearest has no corners to align)")
    return size, scale_factor, mode, align_corners


def interpolate_out_size(hw, size, scale_factor):
    """(oh, ow) for input (h, w): `size`, or floor(h * scale_factor) as PyTorch (None stays None)."""
    if size is not None:
        return tuple(size)
    out = []
    for n, s in zip(hw, scale_factor):
        if n is None:
            out.append(None)
            continue
        o = math.floor(float(n) * s)
        if o < 1:
            raise ValueError(f"scale_factor={s} gives an empty output for input size {n} (floor({n} * {s}) = {o})")
        out.append(o)
    return tuple(out)


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize an NCHW batch to `size` (int or (h, w)) or by `scale_factor` (number or (h, w)),
    as torch.nn.functional.interpolate with mode 'nearest' or 'bilinear'."""
    size, scale_factor, mode, align_corners = interpolate_args(size, scale_factor, mode, align_corners)
    x = as_float_array(x, "x", ndim=4, what="(N, C, H, W)")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"x must have non-empty height and width, got shape {x.shape}")
    out = interpolate_out_size(x.shape[2:], size, scale_factor)
    return _C.upsample2d_forward(x, out, scale_factor, mode, align_corners)
