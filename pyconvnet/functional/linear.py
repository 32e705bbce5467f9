"""Fully connected layer (torch.nn.functional.linear semantics)."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array

__all__ = ["linear"]


def linear(x, weight, bias=None, *, relu=False):
    """y = x @ weight.T + bias for x (N, in) or (in,), weight (out, in), bias (out,)."""
    x = as_float_array(x, "x", ndim=(1, 2), what="(N, in_features)")
    weight = as_float_array(weight, "weight", ndim=2, what="(out_features, in_features)")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1)
    unbatched = x.ndim == 1
    if unbatched:
        x = x[None]
    y = _C.linear_forward(x, weight, bias, bool(relu))
    return y[0] if unbatched else y
