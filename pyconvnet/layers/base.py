"""Parameter and Layer: the contract every layer follows (docs/ARCHITECTURE.md).

A layer is its configuration, its `Parameter`s, and three methods:

- `infer(x)`: the eval-mode output. Pure: it reads the weights and writes nothing, so any number
  of Python threads may call it at once (`Sequential.predict` uses it).
- `forward(x)`: the output in the current mode (`training`), keeping what `backward` needs
  (only references to arrays the computation produced anyway, never copies).
- `backward(grad_y)`: the gradient with respect to the input of the last `forward`; the
  gradients of the parameters are *added* to `Parameter.grad`.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import as_float_array

__all__ = ["Parameter", "Layer"]


class Parameter:
    """A float32 weight array with its accumulated gradient.

    `data` is edited in place by optimisers and `load_state_dict`; `grad` has the same shape,
    starts at zero, is accumulated by `backward` and reset by `zero_grad()`. Optimisers never
    change a parameter whose `trainable` is False.
    """

    __slots__ = ("data", "grad", "trainable")

    def __init__(self, data, trainable: bool = True):
        arr = np.array(data, dtype=np.float32, order="C", copy=True)
        self.data = arr
        self.grad = np.zeros_like(arr)
        self.trainable = bool(trainable)

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def size(self) -> int:
        return int(self.data.size)

    def zero_grad(self) -> None:
        self.grad.fill(0.0)

    def __repr__(self) -> str:
        flag = "" if self.trainable else ", trainable=False"
        return f"Parameter(shape={self.data.shape}{flag})"


class Layer:
    """Base class of every layer. Layers start in training mode."""

    def __init__(self):
        self.training = True
        self._cache = None

    # ----------------------------------------------------------------- running
    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def infer(self, x):
        """Eval-mode output without keeping anything: safe from several threads at once."""
        raise NotImplementedError  # pragma: no cover - abstract

    def backward(self, grad_y):
        """Gradient with respect to the input of the last `forward`; adds to `Parameter.grad`."""
        return self._backward(grad_y, True)

    def _backward(self, grad_y, need_dx: bool):  # pragma: no cover - abstract
        raise NotImplementedError

    def _take_cache(self, grad_y):
        """Check `grad_y` against the last forward and return (grad_y as float32, cache)."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called before forward(): "
                "run forward(x) first (backward uses what the last forward kept)"
            )
        g = as_float_array(grad_y, "grad_y")
        want = cache[0]
        if g.shape != want:
            raise ValueError(
                f"{type(self).__name__}.backward: grad_y has shape {g.shape}, expected {want} "
                "(the shape of the last forward output)"
            )
        return g, cache

    # ------------------------------------------------------------------- state
    def params(self) -> list:
        return []

    def zero_grad(self) -> None:
        for p in self.params():
            p.grad.fill(0.0)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def named_tensors(self) -> dict:
        """Live arrays under PyTorch names (weight, bias, running_mean, running_var)."""
        return {}

    def get_config(self) -> dict:
        """Constructor keyword arguments (JSON-serialisable) that rebuild this layer."""
        return {}

    # ---------------------------------------------------------------- shapes
    def output_shape(self, input_shape):
        """Output shape for `input_shape` (batch dimension included, may be None)."""
        return tuple(input_shape)

    def flops(self, input_shape) -> int:
        """Floating-point operations of one forward (a multiply-add counts 2); batch None = 1."""
        return 0

    def num_params(self) -> int:
        return sum(p.size for p in self.params())

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


# --------------------------------------------------------------------------- helpers
class WeightBiasLayer(Layer):
    """A layer whose parameters are `weight` and an optional `bias` (Conv2d, Linear)."""

    weight: Parameter
    bias: "Parameter | None"

    def params(self):
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def named_tensors(self):
        d = {"weight": self.weight.data}
        if self.bias is not None:
            d["bias"] = self.bias.data
        return d


def batch_of(shape) -> int:
    n = shape[0]
    return 1 if n is None else int(n)


def check_input_rank(layer: Layer, shape, ndim: int, what: str):
    if len(shape) != ndim:
        raise ValueError(f"{type(layer).__name__} expects {ndim}-D input {what}, got shape {tuple(shape)}")


def window_out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int, ceil_mode: bool,
                    pad_before: int, name: str = "kernel_size") -> int:
    """PyTorch's output size rule for convolution and pooling windows along one axis."""
    extent = dilation * (kernel - 1) + 1
    if extent > size + pad_total:
        raise ValueError(
            f"{name} larger than the input: dilated extent {extent} > padded input size {size + pad_total}"
        )
    span = size + pad_total - extent
    if ceil_mode:
        out = -(-span // stride) + 1
        # the last window must start inside the input or the left padding
        if (out - 1) * stride >= size + pad_before:
            out -= 1
    else:
        out = span // stride + 1
    return out


def prod(values) -> int:
    return int(math.prod(int(v) for v in values))
