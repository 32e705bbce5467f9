"""Sequential: a list of layers run in order, with training, inference and state handling."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validate import as_float_array, as_int
from ..layers.activation import ReLU
from ..layers.base import Layer
from ..layers.conv import Conv2d
from ..layers.linear import Linear
from ..layers.pool import MaxPool2d
from .summary import summarize

__all__ = ["Sequential", "IncompatibleKeys"]


# Layers whose kernels apply a following ReLU in their epilogue (exact types only: a subclass
# may change forward, so it runs unfused).
_RELU_EPILOGUE = (Conv2d, Linear)


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


class Sequential:
    """Layers applied in order.

    - `forward`/`backward` run the layers and keep what backward needs (training code).
    - `predict`/`evaluate` use each layer's eval-mode `infer`, which keeps nothing and changes no
      state, so they are safe to call from several Python threads at once and leave the
      model's mode as it was.
    - A slice is a new Sequential sharing the same layer objects; its `state_dict` numbers the
      layers from 0.
    """

    def __init__(self, layers=(), *, input_shape=None):
        if isinstance(layers, Layer):
            layers = [layers]
        self.layers = []
        for layer in layers:
            self._check_layer(layer)
            self.layers.append(layer)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.training = all(layer.training for layer in self.layers) if self.layers else True
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.loss = None

    @staticmethod
    def _check_layer(layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes pyconvnet.layers.Layer instances, got {type(layer).__name__}")

    # -------------------------------------------------------------- container
    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            sub = Sequential(self.layers[idx])
            sub.training = self.training
            if idx.start in (None, 0) and self.input_shape is not None:
                sub.input_shape = self.input_shape
            return sub
        return self.layers[idx]

    def append(self, layer):
        self._check_layer(layer)
        self.layers.append(layer)
        return self

    def pop(self, index: int = -1):
        return self.layers.pop(index)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)" if inner else "Sequential()"

    # ---------------------------------------------------------------- running
    def _relu_fused(self, i) -> bool:
        """Layer i is a Conv2d/Linear followed by a ReLU: run them as one kernel call."""
        layers = self.layers
        return (i + 1 < len(layers) and type(layers[i + 1]) is ReLU
                and type(layers[i]) in _RELU_EPILOGUE)

    def forward(self, x):
        x = as_float_array(x, "x")
        if x.ndim >= 2:
            self.input_shape = tuple(x.shape[1:])
        layers, i = self.layers, 0
        while i < len(layers):
            if self._relu_fused(i):
                x = layers[i + 1]._adopt_output(layers[i].forward(x, relu=True))
                i += 2
            else:
                x = layers[i].forward(x)
                i += 1
        return x

    __call__ = forward

    def backward(self, grad_y):
        """Backpropagate `grad_y` (gradient of the loss w.r.t. the last forward's output).

        Adds the parameter gradients into `Parameter.grad` and returns the input gradient.
        """
        return self._backward(grad_y, need_input_grad=True)

    def _backward(self, grad, need_input_grad=True):
        layers, i = self.layers, len(self.layers) - 1
        while i >= 0:
            if i > 0 and type(layers[i]) is MaxPool2d and type(layers[i - 1]) is ReLU:
                # ReLU -> MaxPool2d: mask the pooled gradient instead of the input-sized one
                grad = layers[i]._backward_through_relu(grad)
                layers[i - 1]._take_cache(grad)  # same checks as the ReLU's own backward
                i -= 2
            else:
                grad = layers[i]._backward(grad, need_input_grad or i > 0)
                i -= 1
        return grad

    def infer(self, x):
        """Eval-mode forward of one batch that keeps nothing (what `predict` runs per batch)."""
        layers, i = self.layers, 0
        while i < len(layers):
            if self._relu_fused(i):
                x = layers[i].infer(x, relu=True)
                i += 2
            else:
                x = layers[i].infer(x)
                i += 1
        return x

    def predict(self, x, batch_size: int = 256) -> np.ndarray:
        """Outputs for `x` in eval mode, `batch_size` samples at a time.

        The model's mode is not changed (layers run their eval path directly) and nothing is
        cached, so several threads may call `predict` on one model at once.
        """
        x = as_float_array(x, "x")
        batch_size = as_int(batch_size, "batch_size", 1)
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"x must hold at least one sample, got shape {x.shape}")
        n = x.shape[0]
        out = None
        for start in range(0, n, batch_size):
            y = self.infer(x[start:start + batch_size])
            if out is None:
                if n <= batch_size:
                    return y
                out = np.empty((n,) + y.shape[1:], dtype=y.dtype)
            out[start:start + y.shape[0]] = y
        return out

    def evaluate(self, x, y, batch_size: int = 256, loss=None) -> dict:
        """{"loss": mean loss, "accuracy": fraction of argmax == y} on (x, y), in eval mode.

        The loss is `loss`, else the one of the last `fit`, else cross-entropy. Accuracy is
        reported for integer class labels.
        """
        from ..losses import CrossEntropyLoss, as_class_labels

        x = as_float_array(x, "x")
        batch_size = as_int(batch_size, "batch_size", 1)
        loss = loss if loss is not None else (self.loss if self.loss is not None else CrossEntropyLoss())
        y_arr = y if isinstance(y, np.ndarray) else np.asarray(y)
        classes = y_arr.dtype.kind in "iu"
        if classes:
            y_arr = as_class_labels(y_arr, "y")
        elif isinstance(loss, CrossEntropyLoss):
            as_class_labels(y_arr, "y")  # raises the TypeError with the hint
        if y_arr.shape[:1] != x.shape[:1]:
            raise ValueError(f"x and y must hold the same number of samples, got {x.shape[0]} and {len(y_arr)}")
        n = x.shape[0]
        if n == 0:
            raise ValueError("evaluate needs at least one sample")
        total = 0.0
        correct = 0
        for start in range(0, n, batch_size):
            xb = x[start:start + batch_size]
            yb = y_arr[start:start + batch_size]
            out = self.infer(xb)
            total += loss.value(out, yb) * xb.shape[0]
            if classes and out.ndim == 2:
                correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
        result = {"loss": total / n}
        if classes:
            result["accuracy"] = correct / n
        return result

    def fit(self, x, y, epochs, batch_size=32, optimizer=None, loss=None, validation_data=None, augment=None,
            callbacks=(), shuffle=True, seed=None, verbose=1):
        """Train with mini-batch gradient descent; returns the `History` callback.

        Defaults: Adam(lr=1e-3) (the previous fit's optimiser is reused when the parameters are
        the same) and cross-entropy. `augment(x_batch, rng) -> x_batch` runs on each batch.
        `seed` fixes shuffling, augmentation and dropout: the same seed and thread count give
        bit-identical weights. Ctrl-C ends training after the step in progress and returns the
        History (`history.interrupted` is True).
        """
        from .fit import fit

        return fit(self, x, y, epochs, batch_size=batch_size, optimizer=optimizer, loss=loss,
                   validation_data=validation_data, augment=augment, callbacks=callbacks, shuffle=shuffle,
                   seed=seed, verbose=verbose)

    # ------------------------------------------------------------------ state
    def params(self) -> list:
        out, seen = [], set()
        for layer in self.layers:
            for p in layer.params():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def zero_grad(self) -> None:
        for p in self.params():
            p.grad.fill(0.0)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def freeze(self, until=None):
        """Mark the parameters of layers [0, until) (all layers when None) as not trainable."""
        layers = self.layers if until is None else self.layers[:as_int(until, "until")]
        for layer in layers:
            for p in layer.params():
                p.trainable = False
        return self

    def unfreeze(self):
        """Make every parameter trainable again."""
        for p in self.params():
            p.trainable = True
        return self

    def state_dict(self) -> dict:
        """Copies of the weights and buffers under keys f"{position}.{name}" ("0.weight", ...)."""
        return {
            f"{i}.{name}": arr.copy()
            for i, layer in enumerate(self.layers)
            for name, arr in layer.named_tensors().items()
        }

    def _live_tensors(self) -> dict:
        return {
            f"{i}.{name}": arr
            for i, layer in enumerate(self.layers)
            for name, arr in layer.named_tensors().items()
        }

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays into the live weights and buffers (checked first: nothing changes on error).

        Missing or unexpected keys raise ValueError when `strict`; a shape mismatch always does.
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"state_dict must be a mapping of key -> array, got {type(state_dict).__name__}")
        live = self._live_tensors()
        missing = [k for k in live if k not in state_dict]
        unexpected = [k for k in state_dict if k not in live]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(repr(k) for k in missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(repr(k) for k in unexpected))
        converted = {}
        for key, value in state_dict.items():
            if key not in live:
                continue
            arr = as_float_array(value, f"state_dict[{key!r}]")
            if arr.shape != live[key].shape:
                problems.append(f"wrong shape for {key!r}: got {arr.shape}, the model has {live[key].shape}")
            converted[key] = arr
        if problems:
            raise ValueError("load_state_dict: " + "; ".join(problems))
        for key, arr in converted.items():
            np.copyto(live[key], arr)
        return IncompatibleKeys(missing, unexpected)

    def summary(self, input_shape=None) -> str:
        """Table of layers: type, output shape, parameters and FLOPs per sample, then totals.

        `input_shape` is the per-sample shape, e.g. (1, 28, 28); by default the one seen by the
        last forward/fit (or given as `Sequential(..., input_shape=...)`).
        """
        return summarize(self, input_shape)

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def flops(self, input_shape) -> int:
        shape, total = tuple(input_shape), 0
        for layer in self.layers:
            total += layer.flops(shape)
            shape = layer.output_shape(shape)
        return total

    def get_config(self) -> dict:
        """Architecture as JSON-able data: layer class names and constructor arguments."""
        return {
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
            "input_shape": None if self.input_shape is None else list(self.input_shape),
        }

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild from `get_config()` output using only classes in LAYER_REGISTRY."""
        from ..layers import LAYER_REGISTRY

        layers = []
        for i, spec in enumerate(config.get("layers", [])):
            name = spec.get("class_name")
            if name not in LAYER_REGISTRY:
                raise ValueError(f"unknown layer class {name!r} at position {i}")
            layers.append(LAYER_REGISTRY[name](**spec.get("config", {})))
        shape = config.get("input_shape")
        return cls(layers, input_shape=shape)

    # ------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Write one safetensors file: weights under state_dict keys, architecture as JSON."""
        from .. import io

        io.save(self, path)

    def __reduce__(self):
        from .. import io

        return (io.from_bytes, (io.to_bytes(self),))
