"""Piecewise-linear activations: ``hardtanh``, ``relu6``, ``hardswish`` (PyTorch semantics).

Any shape; NaN propagates. Derivatives follow PyTorch: hardtanh's is 0 at and beyond both
bounds, hardswish's is ``x / 3 + 0.5`` on [-3, 3].
"""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from .._validate import as_float_scalar
from .activation import _float_input

__all__ = ["hardtanh", "relu6", "hardswish"]


def hardtanh_bounds(min_val, max_val) -> tuple:
    """The checked (min_val, max_val) shared by the functions and the layers."""
    lo = as_float_scalar(min_val, "min_val")
    hi = as_float_scalar(max_val, "max_val")
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError("min_val and max_val must not be NaN")
    if lo > hi:
        raise ValueError(f"min_val ({lo}) must be <= max_val ({hi})")
    return lo, hi


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0) -> np.ndarray:
    """``min(max(x, min_val), max_val)`` element-wise."""
    lo, hi = hardtanh_bounds(min_val, max_val)
    return _C.hardtanh_forward(_float_input(x), lo, hi)


def relu6(x) -> np.ndarray:
    """``min(max(x, 0), 6)`` element-wise."""
    return _C.hardtanh_forward(_float_input(x), 0.0, 6.0)


def hardswish(x) -> np.ndarray:
    """``x * relu6(x + 3) / 6`` element-wise."""
    return _C.hardswish_forward(_float_input(x))
