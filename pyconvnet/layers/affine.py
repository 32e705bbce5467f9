"""ChannelAffine: ``y = x * weight[c] + bias[c]`` along axis 1 (a per-channel scale and shift).

The form BatchNorm takes in eval mode, and what ONNX graphs express as Mul/Add with a
per-channel constant. Input (N, C, ...) of any rank >= 2.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_int
from .base import Layer, Parameter, batch_of, prod

__all__ = ["ChannelAffine"]


class ChannelAffine(Layer):
    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = as_int(num_channels, "num_channels", 1)
        self.weight = Parameter(np.ones(self.num_channels, np.float32))
        self.bias = Parameter(np.zeros(self.num_channels, np.float32))

    def _check(self, x):
        x = as_float_array(x, "x")
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"ChannelAffine({self.num_channels}) expects input (N, {self.num_channels}, ...), "
                             f"got shape {x.shape}")
        return x

    def _view(self, v, ndim):
        return v.reshape((1, self.num_channels) + (1,) * (ndim - 2))

    def infer(self, x):
        x = self._check(x)
        y = x * self._view(self.weight.data, x.ndim)
        y += self._view(self.bias.data, x.ndim)
        return y

    def forward(self, x):
        x = self._check(x)
        y = self.infer(x)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        axes = (0,) + tuple(range(2, g.ndim))
        if self.weight.trainable:
            self.weight.grad += (g.astype(np.float64) * x).sum(axis=axes).astype(np.float32)
        if self.bias.trainable:
            self.bias.grad += g.sum(axis=axes, dtype=np.float64).astype(np.float32)
        return g * self._view(self.weight.data, g.ndim) if need_dx else None

    def params(self):
        return [self.weight, self.bias]

    def named_tensors(self):
        return {"weight": self.weight.data, "bias": self.bias.data}

    def output_shape(self, input_shape):
        if len(input_shape) < 2 or (input_shape[1] is not None and input_shape[1] != self.num_channels):
            raise ValueError(f"ChannelAffine({self.num_channels}) expects input (N, {self.num_channels}, ...), "
                             f"got {tuple(input_shape)}")
        return tuple(input_shape)

    def flops(self, input_shape):
        return 2 * batch_of(input_shape) * prod(input_shape[1:])

    def get_config(self):
        return {"num_channels": self.num_channels}
