"""ConstantPad2d: pad the last two axes with a constant (``torch.nn.ConstantPad2d``)."""

from __future__ import annotations

import math

import numpy as np

from .._validate import as_float_array, as_float_scalar, as_int
from .base import Layer, check_input_rank

__all__ = ["ConstantPad2d"]


class ConstantPad2d(Layer):
    """`padding` is an int or (left, right, top, bottom), each >= 0; NCHW input."""

    def __init__(self, padding, value):
        super().__init__()
        if isinstance(padding, (list, tuple)):
            if len(padding) != 4:
                raise ValueError(f"padding must be an int or (left, right, top, bottom), got {padding!r}")
            pads = tuple(as_int(p, "padding") for p in padding)
        else:
            pads = (as_int(padding, "padding"),) * 4
        if min(pads) < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        self.padding = pads
        self.value = as_float_scalar(value, "value")
        if math.isnan(self.value):
            raise ValueError("value must not be NaN")

    def infer(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        left, right, top, bottom = self.padding
        n, c, h, w = x.shape
        y = np.full((n, c, h + top + bottom, w + left + right), self.value, np.float32)
        y[:, :, top:top + h, left:left + w] = x
        return y

    def forward(self, x):
        y = self.infer(x)
        self._cache = (y.shape,)
        return y

    def _backward(self, grad_y, need_dx):
        g, _ = self._take_cache(grad_y)
        if not need_dx:
            return None
        left, right, top, bottom = self.padding
        return np.ascontiguousarray(g[:, :, top:g.shape[2] - bottom, left:g.shape[3] - right])

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        n, c, h, w = input_shape
        left, right, top, bottom = self.padding
        return (n, c, None if h is None else h + top + bottom, None if w is None else w + left + right)

    def get_config(self):
        return {"padding": list(self.padding), "value": self.value}
