"""Linear (fully connected) layer: y = x @ weight.T + bias, weight (out_features, in_features)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_bool, as_float_array, as_int, check_weight_size
from ..functional.linear import check_in_features
from ..init import kaiming_uniform_, uniform_
from .base import Parameter, WeightBiasLayer, batch_of, check_input_rank

__all__ = ["Linear"]


class Linear(WeightBiasLayer):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = as_int(in_features, "in_features", 1)
        self.out_features = as_int(out_features, "out_features", 1)
        bias = as_bool(bias, "bias")
        check_weight_size((self.out_features, self.in_features), "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), np.float32))
        self.bias = Parameter(np.empty((self.out_features,), np.float32)) if bias else None
        self.reset_parameters()

    def reset_parameters(self, rng=None) -> None:
        kaiming_uniform_(self.weight.data, fan_in=self.in_features, rng=rng)
        if self.bias is not None:
            bound = 1.0 / np.sqrt(self.in_features)
            uniform_(self.bias.data, -bound, bound, rng)

    def _check(self, x):
        x = as_float_array(x, "x", 2, "(N, in_features)")
        check_in_features(x, self.in_features)
        return x

    def infer(self, x, *, relu=False):
        x = self._check(x)
        return _C.linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data, relu)

    def forward(self, x, *, relu=False):
        """`relu=True` (used by Sequential for Linear followed by ReLU) fuses max(0, y)."""
        x = self._check(x)
        y = _C.linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data, relu)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        w, b = self.weight, self.bias
        need_dw = w.trainable
        need_db = b is not None and b.trainable
        if not (need_dx or need_dw or need_db):
            return None
        dx = db = None
        if need_dx or need_db:
            dx, _, db = _C.linear_backward(x, w.data, g, bool(need_dx), False, bool(need_db))
        if need_dw:
            # grad_w += grad_y.T @ x, accumulated by the GEMM into the live array: no temporary
            # (the same GEMM linear_backward runs for dw, so the bits are the same)
            _C.sgemm(g, x, True, False, None, None, False, w.grad, True)
        self._accumulate_grads(None, db)
        return dx

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias is not None}

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 2, "(N, in_features)")
        if input_shape[1] is not None and input_shape[1] != self.in_features:
            raise ValueError(
                f"Linear expects input of shape (N, {self.in_features}) (in_features), got {tuple(input_shape)}"
            )
        return (input_shape[0], self.out_features)

    def flops(self, input_shape):
        self.output_shape(input_shape)
        n = batch_of(input_shape)
        return n * self.out_features * (2 * self.in_features + (1 if self.bias is not None else 0))
