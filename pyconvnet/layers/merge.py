"""Merge layers of graph models: Add, Multiply, Concat (kernels in `_C`).

They are called on a list of nodes (`Add()([a, b])`) or, outside a graph, on a list of
arrays; `backward` returns one gradient per input, in input order.
"""

from __future__ import annotations

from .. import _C
from .._validate import as_int
from ..functional.merge import as_inputs, concat_axis, merged_shape
from .base import Layer, batch_of, prod

__all__ = ["Add", "Multiply", "Concat"]


class _Merge(Layer):
    _takes_list = True
    _kind = ""

    def _axis(self):
        return None

    def _inputs(self, xs) -> list:
        xs = as_inputs(xs, self._label())
        merged_shape(self._kind, [x.shape for x in xs], self._axis(), self._label())
        return xs

    def output_shape(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise TypeError(f"{self._label()}.output_shape takes a list of input shapes")
        return merged_shape(self._kind, input_shape, self._axis(), self._label())

    def flops(self, input_shape):
        out = self.output_shape(input_shape)
        return 0 if self._kind == "concat" else batch_of(out) * prod(out[1:]) * (len(input_shape) - 1)


class Add(_Merge):
    """Element-wise sum of inputs of one shape (a residual connection)."""

    _kind = "add"

    def infer(self, x):
        return _C.add_forward(self._inputs(x))

    def forward(self, x):
        xs = self._inputs(x)
        y = _C.add_forward(xs)
        self._cache = (y.shape, len(xs))
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, n) = self._take_cache(grad_y)
        # d(sum)/dx_k = 1: every input receives grad_y itself (callers never write into it)
        return [g] * n if need_dx else None


class Multiply(_Merge):
    """Element-wise product of inputs of one shape (gating, attention masks)."""

    _kind = "multiply"

    def infer(self, x):
        return _C.multiply_forward(self._inputs(x))

    def forward(self, x):
        xs = self._inputs(x)
        y = _C.multiply_forward(xs)
        self._cache = (y.shape, xs)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, xs) = self._take_cache(grad_y)
        return _C.multiply_backward(g, xs) if need_dx else None


class Concat(_Merge):
    """Concatenation along `axis` (default 1: the channels of NCHW, the features of (N, F)).

    `axis` counts the batch dimension, which cannot itself be concatenated in a model.
    """

    _kind = "concat"

    def __init__(self, axis=1):
        super().__init__()
        self.axis = as_int(axis, "axis")  # its range is checked against each call's inputs

    def _axis(self):
        return self.axis

    def output_shape(self, input_shape):
        out = super().output_shape(input_shape)
        if concat_axis(self.axis, len(out), self._label()) == 0:
            raise ValueError(f"{self._label()}: axis={self.axis} is the batch axis; concatenate along another axis")
        return out

    def infer(self, x):
        xs = self._inputs(x)
        return _C.concat_forward(xs, concat_axis(self.axis, xs[0].ndim))

    def forward(self, x):
        xs = self._inputs(x)
        ax = concat_axis(self.axis, xs[0].ndim)
        y = _C.concat_forward(xs, ax)
        self._cache = (y.shape, ax, [x.shape[ax] for x in xs])
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, ax, sizes) = self._take_cache(grad_y)
        return _C.concat_backward(g, sizes, ax) if need_dx else None

    def get_config(self):
        return {"axis": self.axis}
