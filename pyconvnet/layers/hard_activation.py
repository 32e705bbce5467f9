"""Piecewise-linear activations: Hardtanh, ReLU6 (MobileNet), Hardswish (MobileNetV3)."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array
from ..functional.hard_activation import hardtanh_bounds
from .base import Layer, batch_of, prod

__all__ = ["Hardtanh", "ReLU6", "Hardswish"]


class _KeepsInput(Layer):
    """y = f(x) element-wise with f'(x) computed from x: keep x for backward."""

    _flops_per_element = 2

    def _fwd(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def _bwd(self, g, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def infer(self, x):
        return self._fwd(as_float_array(x, "x"))

    def forward(self, x):
        x = as_float_array(x, "x")
        y = self._fwd(x)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        return self._bwd(g, x) if need_dx else None

    def flops(self, input_shape):
        return batch_of(input_shape) * prod(input_shape[1:]) * self._flops_per_element


class Hardtanh(_KeepsInput):
    """``clamp(x, min_val, max_val)`` (``torch.nn.Hardtanh``)."""

    def __init__(self, min_val=-1.0, max_val=1.0):
        super().__init__()
        self.min_val, self.max_val = hardtanh_bounds(min_val, max_val)

    def _fwd(self, x):
        return _C.hardtanh_forward(x, self.min_val, self.max_val)

    def _bwd(self, g, x):
        return _C.hardtanh_backward(g, x, self.min_val, self.max_val)

    def get_config(self):
        return {"min_val": self.min_val, "max_val": self.max_val}


class ReLU6(Hardtanh):
    """``min(max(x, 0), 6)`` (``torch.nn.ReLU6``)."""

    def __init__(self):
        super().__init__(0.0, 6.0)

    def get_config(self):
        return {}


class Hardswish(_KeepsInput):
    """``x * relu6(x + 3) / 6`` (``torch.nn.Hardswish``)."""

    _flops_per_element = 4

    def _fwd(self, x):
        return _C.hardswish_forward(x)

    def _bwd(self, g, x):
        return _C.hardswish_backward(g, x)
