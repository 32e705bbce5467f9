"""Fully connected layer (torch.nn.functional.linear semantics)."""

from __future__ import annotations

from .. import _C
from .._validate import as_bool, as_float_array

__all__ = ["linear", "check_in_features"]


def check_in_features(x, in_features: int) -> None:
    """x (N, F) or (F,) must have F == in_features."""
    if x.shape[-1] != in_features:
        raise ValueError(f"x must have {in_features} features (in_features), got shape {x.shape}")


def linear(x, weight, bias=None, *, relu=False):
    """y = x @ weight.T + bias for x (N, in) or (in,), weight (out, in), bias (out,)."""
    x = as_float_array(x, "x", ndim=(1, 2), what="(N, in_features)")
    weight = as_float_array(weight, "weight", ndim=2, what="(out_features, in_features)")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1)
    check_in_features(x, weight.shape[1])
    unbatched = x.ndim == 1
    if unbatched:
        x = x[None]
    y = _C.linear_forward(x, weight, bias, as_bool(relu, "relu"))
    return y[0] if unbatched else y
