"""Flatten: (N, d1, d2, ...) -> (N, d1 * d2 * ...); a reshape, no copy."""

from __future__ import annotations

from .._validate import as_float_array
from .base import Layer, prod

__all__ = ["Flatten"]


class Flatten(Layer):
    def _check(self, x):
        x = as_float_array(x, "x")
        if x.ndim < 2:
            raise ValueError(f"Flatten expects input with a batch dimension (at least 2-D), got shape {x.shape}")
        return x

    def infer(self, x):
        x = self._check(x)
        return x.reshape(x.shape[0], prod(x.shape[1:]))

    def forward(self, x):
        x = self._check(x)
        y = x.reshape(x.shape[0], prod(x.shape[1:]))
        self._cache = (y.shape, x.shape)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, in_shape) = self._take_cache(grad_y)
        return g.reshape(in_shape) if need_dx else None

    def output_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(f"Flatten expects input with a batch dimension (at least 2-D), got {tuple(input_shape)}")
        rest = input_shape[1:]
        return (input_shape[0], None if any(d is None for d in rest) else prod(rest))
