"""GlobalMaxPool2d: the maximum of each channel plane, (N, C, H, W) -> (N, C, 1, 1)."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array
from .base import Layer, batch_of, check_input_rank

__all__ = ["GlobalMaxPool2d"]


class GlobalMaxPool2d(Layer):
    """The gradient goes to the first maximum of each plane (as torch's adaptive max pooling)."""

    def infer(self, x):
        return _C.global_max_pool2d_forward(as_float_array(x, "x", 4, "(N, C, H, W)"))

    def forward(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        y, indices = _C.global_max_pool2d_forward(x, True)
        self._cache = (y.shape, indices, x.shape)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, indices, in_shape) = self._take_cache(grad_y)
        return _C.global_max_pool2d_backward(g, indices, in_shape) if need_dx else None

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        return (input_shape[0], input_shape[1], 1, 1)

    def flops(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        _, c, h, w = input_shape
        return batch_of(input_shape) * c * h * w
