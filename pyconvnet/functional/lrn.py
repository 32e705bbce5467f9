"""Local response normalisation across channels (``torch.nn.functional.local_response_norm``)."""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from .._validate import as_float_array, as_float_scalar, as_int

__all__ = ["local_response_norm"]


def lrn_arguments(size, alpha, beta, k) -> tuple:
    """The checked (size, alpha, beta, k) shared by the function and the layer."""
    size = as_int(size, "size", 1)
    values = []
    for v, name in ((alpha, "alpha"), (beta, "beta"), (k, "k")):
        v = as_float_scalar(v, name)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v}")
        values.append(v)
    return (size, *values)


def local_response_norm(x, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> np.ndarray:
    """``x / (k + alpha / size * sum of x^2 over `size` neighbouring channels) ** beta``.

    ``x`` is (N, C, H, W); the window around channel c spans channels ``c - size // 2`` to
    ``c + (size - 1) // 2``, with channels outside the input counted as zeros, as PyTorch.
    """
    size, alpha, beta, k = lrn_arguments(size, alpha, beta, k)
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    return _C.lrn_forward(x, size, alpha, beta, k)
