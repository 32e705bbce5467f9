"""Parameter and Layer: the contract every layer follows (docs/ARCHITECTURE.md).

A layer is its configuration, its `Parameter`s, and three methods:

- `infer(x)`: the eval-mode output. Pure: it reads the weights and writes nothing, so any number
  of Python threads may call it at once (`Sequential.predict` uses it).
- `forward(x)`: the output in the current mode (`training`), keeping what `backward` needs
  (only references to arrays the computation produced anyway, never copies).
- `backward(grad_y)`: the gradient with respect to the input of the last `forward`; the
  gradients of the parameters are *added* to `Parameter.grad`.

Calling a layer on an array runs `forward`; calling it on graph nodes (`layers/node.py`)
records the call for a `Model`. Every layer takes an optional keyword `name=` (handled here,
so layer constructors need not know about it).
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .._validate import as_bool, as_float_array
from .node import Node, check_name, is_node_arg

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


def _accept_name(init):
    """Wrap a layer constructor so that it also takes the keyword `name=` (set after it ran)."""

    @functools.wraps(init)
    def __init__(self, *args, name=None, **kwargs):
        init(self, *args, **kwargs)
        self.name = check_name(name)

    sig = inspect.signature(init)
    params = list(sig.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    params.insert(at, inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default=None))
    __init__.__signature__ = sig.replace(parameters=params)
    __init__._accepts_name = True
    return __init__


class Layer:
    """Base class of every layer. Layers start in training mode.

    `name` (None unless given) names the layer in a Model: its state_dict keys, summary rows
    and architecture entries; a Model gives unnamed layers unique names of its own.
    """

    # True for layers called on a list of inputs (the merge layers).
    _takes_list = False

    def __init__(self, *, name=None):
        self.training = True
        self._cache = None
        self.name = check_name(name)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_accepts_name", False):
            cls.__init__ = _accept_name(init)

    # ----------------------------------------------------------------- running
    def __call__(self, x):
        if is_node_arg(x):
            return self._call_on_nodes(x)
        return self.forward(x)

    def _label(self) -> str:
        return type(self).__name__ + (f" {self.name!r}" if getattr(self, "name", None) else "")

    def _call_on_nodes(self, x) -> Node:
        """Record a call on graph nodes; the output shape is computed (and checked) now."""
        if self._takes_list:
            if isinstance(x, Node):
                raise TypeError(f"{self._label()} takes a list of nodes, got one node")
            parents = list(x)
            shape_in = [(None,) + p.shape for p in parents]
        else:
            if not isinstance(x, Node):
                raise TypeError(f"{self._label()} takes one node, got a list of {len(x)}")
            parents = [x]
            shape_in = (None,) + x.shape
        try:
            out = tuple(self.output_shape(shape_in))
        except ValueError as exc:
            shapes = ", ".join(str(p.shape) for p in parents)
            raise ValueError(f"{self._label()} cannot take input of per-sample shape {shapes}: {exc}") from None
        return Node(self, parents, out[1:])

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
        self.training = as_bool(mode, "mode")
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

    def _accumulate_grads(self, dw, db) -> None:
        """Adds a backward pass's weight and bias gradients (None: not computed) into `.grad`."""
        if dw is not None:
            np.add(self.weight.grad, dw, out=self.weight.grad)
        if db is not None:
            np.add(self.bias.grad, db, out=self.bias.grad)


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
