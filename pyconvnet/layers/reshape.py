"""Reshape and Permute: layout changes that keep the batch axis (Keras' names and conventions).

Both describe the sample, not the batch: `Reshape((C, H, W))` maps (N, ...) to (N, C, H, W)
(one entry may be -1), and `Permute((2, 1))` swaps axes 1 and 2 (axis 0, the batch, stays).
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_int
from .base import Layer, prod

__all__ = ["Reshape", "Permute"]


class Reshape(Layer):
    def __init__(self, target_shape):
        super().__init__()
        if isinstance(target_shape, (int, np.integer)):
            target_shape = (target_shape,)
        dims = tuple(as_int(d, "target_shape") for d in target_shape)
        if sum(d == -1 for d in dims) > 1 or any(d < -1 or d == 0 for d in dims):
            raise ValueError(
                f"target_shape must hold positive sizes and at most one -1, got {tuple(target_shape)}"
            )
        self.target_shape = dims

    def _resolve(self, sample_shape):
        total = prod(sample_shape)
        known = prod(d for d in self.target_shape if d != -1)
        dims = list(self.target_shape)
        if -1 in dims:
            if known == 0 or total % known:
                raise ValueError(f"Reshape: cannot reshape a sample of shape {tuple(sample_shape)} "
                                 f"into {self.target_shape}")
            dims[dims.index(-1)] = total // known
        elif known != total:
            raise ValueError(f"Reshape: cannot reshape a sample of shape {tuple(sample_shape)} "
                             f"({total} values) into {self.target_shape} ({known} values)")
        return tuple(dims)

    def _check(self, x):
        x = as_float_array(x, "x")
        if x.ndim < 1:
            raise ValueError(f"Reshape expects input with a batch dimension, got shape {x.shape}")
        return x

    def infer(self, x):
        x = self._check(x)
        return x.reshape((x.shape[0],) + self._resolve(x.shape[1:]))

    def forward(self, x):
        x = self._check(x)
        y = x.reshape((x.shape[0],) + self._resolve(x.shape[1:]))
        self._cache = (y.shape, x.shape)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, in_shape) = self._take_cache(grad_y)
        return g.reshape(in_shape) if need_dx else None

    def output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + self._resolve(rest)

    def get_config(self):
        return {"target_shape": list(self.target_shape)}


class Permute(Layer):
    """Reorder the sample axes: `dims` is a permutation of 1..k (the batch axis 0 stays first)."""

    def __init__(self, dims):
        super().__init__()
        dims = tuple(as_int(d, "dims") for d in dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims must be a permutation of 1..{len(dims)}, got {dims}")
        self.dims = dims

    def _check(self, x):
        x = as_float_array(x, "x")
        if x.ndim != len(self.dims) + 1:
            raise ValueError(f"Permute{self.dims} expects {len(self.dims) + 1}-D input, got shape {x.shape}")
        return x

    def infer(self, x):
        x = self._check(x)
        return np.ascontiguousarray(x.transpose((0,) + self.dims))

    def forward(self, x):
        y = self.infer(x)
        self._cache = (y.shape,)
        return y

    def _backward(self, grad_y, need_dx):
        g, _ = self._take_cache(grad_y)
        if not need_dx:
            return None
        inverse = np.argsort((0,) + self.dims)
        return np.ascontiguousarray(g.transpose(tuple(int(i) for i in inverse)))

    def output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute{self.dims} expects {len(self.dims) + 1}-D input, got {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self):
        return {"dims": list(self.dims)}
