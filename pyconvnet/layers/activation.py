"""Activation layers (element-wise kernels in `_C`) and Softmax."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_finite, as_float_array, as_int
from ..functional.softmax import check_axis
from .base import Layer, batch_of, prod

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "Softmax"]


class _Elementwise(Layer):
    """y = f(x) element-wise; subclasses say whether backward needs x or y."""

    _flops_per_element = 1

    def flops(self, input_shape):
        return batch_of(input_shape) * prod(input_shape[1:]) * self._flops_per_element


class _KeepsOutput(_Elementwise):
    """f'(x) is computed from y (ReLU, Sigmoid, Tanh): keep y for backward."""

    _fwd = staticmethod(lambda x: x)
    _bwd = staticmethod(lambda g, y: g)

    def infer(self, x):
        return self._fwd(as_float_array(x, "x"))

    def forward(self, x):
        y = self._fwd(as_float_array(x, "x"))
        self._cache = (y.shape, y)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, y) = self._take_cache(grad_y)
        return self._bwd(g, y) if need_dx else None


class ReLU(_KeepsOutput):
    _fwd = staticmethod(lambda x: _C.relu_forward(x))
    _bwd = staticmethod(lambda g, y: _C.relu_backward(g, y))

    def _adopt_output(self, y):
        """Forward when the previous layer already applied the ReLU (Sequential's fusion)."""
        self._cache = (y.shape, y)
        return y


class Sigmoid(_KeepsOutput):
    _flops_per_element = 4
    _fwd = staticmethod(lambda x: _C.sigmoid_forward(x))
    _bwd = staticmethod(lambda g, y: _C.sigmoid_backward(g, y))


class Tanh(_KeepsOutput):
    _flops_per_element = 4
    _fwd = staticmethod(lambda x: _C.tanh_forward(x))
    _bwd = staticmethod(lambda g, y: _C.tanh_backward(g, y))


class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = as_finite(negative_slope, "negative_slope")

    def infer(self, x):
        return _C.leaky_relu_forward(as_float_array(x, "x"), self.negative_slope)

    def forward(self, x):
        x = as_float_array(x, "x")
        y = _C.leaky_relu_forward(x, self.negative_slope)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        return _C.leaky_relu_backward(g, x, self.negative_slope) if need_dx else None

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class ELU(_Elementwise):
    _flops_per_element = 3

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = as_finite(alpha, "alpha")

    def infer(self, x):
        return _C.elu_forward(as_float_array(x, "x"), self.alpha)

    def forward(self, x):
        x = as_float_array(x, "x")
        y = _C.elu_forward(x, self.alpha)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        return _C.elu_backward(g, x, self.alpha) if need_dx else None

    def get_config(self):
        return {"alpha": self.alpha}


class Softmax(Layer):
    """softmax along `axis` (default 1, the class axis of (N, C) logits)."""

    def __init__(self, axis=1):
        super().__init__()
        self.axis = as_int(axis, "axis")

    def infer(self, x):
        x = as_float_array(x, "x")
        return _C.softmax_forward(x, check_axis(x, self.axis))

    def forward(self, x):
        y = self.infer(x)
        self._cache = (y.shape, y)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, y) = self._take_cache(grad_y)
        if not need_dx:
            return None
        # dx = y * (g - sum(g * y) along the axis)
        gy = g * y
        s = gy.sum(axis=self.axis, keepdims=True)
        np.subtract(g, s, out=gy)
        gy *= y
        return gy

    def get_config(self):
        return {"axis": self.axis}

    def flops(self, input_shape):
        return batch_of(input_shape) * prod(input_shape[1:]) * 5
