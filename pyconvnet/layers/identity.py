"""Identity: returns its input (a placeholder where an architecture drops a layer)."""

from __future__ import annotations

from .._validate import as_float_array
from .base import Layer

__all__ = ["Identity"]


class Identity(Layer):
    """``torch.nn.Identity``; any shape, no parameters."""

    def infer(self, x):
        return as_float_array(x, "x")

    def forward(self, x):
        y = as_float_array(x, "x")
        self._cache = (y.shape,)
        return y

    def _backward(self, grad_y, need_dx):
        g, _ = self._take_cache(grad_y)
        return g if need_dx else None
