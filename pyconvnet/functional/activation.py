"""Element-wise activations (``torch.nn.functional`` names and semantics).

Every function accepts any shape, converts its input once to C-contiguous float32 (see
``pyconvnet._validate``) and returns a new float32 array of the same shape. NaN propagates.
``sigmoid`` and ``tanh`` are computed without overflow for any input (``sigmoid(-inf) == 0``,
``tanh(+-inf) == +-1``).
"""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_finite, as_float_array

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "elu"]


def _float_input(x, name: str = "x") -> np.ndarray:
    """``as_float_array`` that keeps a 0-d input 0-d (``np.ascontiguousarray`` returns 1-D)."""
    a = as_float_array(x, name)
    if a.shape == (1,) and np.ndim(x) == 0:
        a = a.reshape(())
    return a


def relu(x) -> np.ndarray:
    """``max(x, 0)`` element-wise (``relu(-0.0) == -0.0`` and NaN stays NaN, as PyTorch)."""
    return _C.relu_forward(_float_input(x))


def leaky_relu(x, negative_slope: float = 0.01) -> np.ndarray:
    """``x if x > 0 else negative_slope * x`` element-wise."""
    slope = as_finite(negative_slope, "negative_slope")
    return _C.leaky_relu_forward(_float_input(x), slope)


def sigmoid(x) -> np.ndarray:
    """``1 / (1 + exp(-x))``, computed as ``exp(x) / (1 + exp(x))`` for negative ``x``."""
    return _C.sigmoid_forward(_float_input(x))


def tanh(x) -> np.ndarray:
    """Hyperbolic tangent, element-wise."""
    return _C.tanh_forward(_float_input(x))


def elu(x, alpha: float = 1.0) -> np.ndarray:
    """``x if x > 0 else alpha * (exp(x) - 1)`` element-wise (computed with ``expm1``)."""
    a = as_finite(alpha, "alpha")
    return _C.elu_forward(_float_input(x), a)
