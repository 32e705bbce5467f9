"""Argument checks shared by the functional API and the layers.

Policy (API.md): any real floating input (float16/32/64), strided or not, is converted once
to a C-contiguous float32 array; integer, bool, complex and object input raise TypeError
saying what to do; wrong ranks and values raise ValueError naming the argument.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from . import _C

_FLOAT_KINDS = "f"


def as_float_array(x, name: str, ndim: int | tuple[int, ...] | None = None, what: str = "") -> np.ndarray:
    """Return `x` as a C-contiguous float32 ndarray (no copy when it already is one)."""
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple)) or isinstance(x, numbers.Real):
        arr = np.asarray(x)
        if arr.dtype.kind in "iub":
            # Python lists of ints are a common, harmless spelling of real data.
            arr = arr.astype(np.float32)
    else:
        try:
            arr = np.asarray(x)
        except Exception:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be a numpy array of floats, got {type(x).__name__}") from None
    kind = arr.dtype.kind
    if kind in "iu":
        raise TypeError(
            f"{name} has integer dtype {arr.dtype}; pass floating-point data, "
            f"e.g. convert with {name}.astype(np.float32) / 255"
        )
    if kind == "b":
        raise TypeError(f"{name} has dtype bool; convert with {name}.astype(np.float32)")
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; pyconvnet computes on real float32 data")
    if kind not in _FLOAT_KINDS:
        raise TypeError(f"{name} has dtype {arr.dtype}; pass a numpy array of float32 (or float16/float64)")
    if ndim is not None:
        dims = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in dims:
            want = " or ".join(f"{d}-D" for d in dims)
            hint = f" {what}" if what else ""
            raise ValueError(f"{name} must be {want}{hint}, got shape {arr.shape}")
    if arr.dtype == np.float32 and arr.flags.c_contiguous:
        return arr
    # np.asarray(order="C") keeps 0-d arrays 0-d (ascontiguousarray would make them 1-D).
    return np.asarray(arr, dtype=np.float32, order="C")


# Sizes and counts (channels, kernel sizes, strides, ...) are int64 in the kernels; larger
# Python ints are rejected here, naming the argument, instead of failing to convert in _C.
INT64_MAX = 2**63 - 1
# The kernels' limit on the elements of one array (kMaxElements in csrc/common/check.h).
MAX_ELEMENTS: int = _C.max_elements


def as_int(v, name: str, minimum: int | None = None, maximum: int = INT64_MAX) -> int:
    """A Python int from an int or NumPy integer (bool, float, None and others: TypeError)."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got bool ({v!r})")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(v).__name__} ({v!r})") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if v > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {v}")
    return v


def as_pair(v, name: str, minimum: int | None = None) -> tuple[int, int]:
    """Normalise an int or an (h, w) pair of ints (Keras' standardize_tuple)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {v!r}")
        pair = (as_int(v[0], name), as_int(v[1], name))
    else:
        try:
            x = as_int(v, name)
        except TypeError:
            raise TypeError(f"{name} must be an int or a pair (h, w) of ints, got {v!r}") from None
        pair = (x, x)
    if minimum is not None and min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v!r}")
    return pair


def as_bool(v, name: str) -> bool:
    """A flag: only True/False (or a NumPy bool); truthiness of strings or ints is not a flag."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    raise TypeError(f"{name} must be a bool, got {type(v).__name__} ({v!r})")


def as_float_scalar(v, name: str) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} ({v!r})")
    return float(v)


def as_finite(v, name: str) -> float:
    v = as_float_scalar(v, name)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return v


def as_probability(p, name: str = "p") -> float:
    p = as_float_scalar(p, name)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def check_weight_size(shape: tuple[int, ...], what: str) -> None:
    """A layer's weight must be allocatable: at most the kernels' element limit."""
    n = math.prod(shape)
    if n > MAX_ELEMENTS:
        raise ValueError(f"{what}: a weight of shape {shape} has {n} elements, more than {MAX_ELEMENTS}")

