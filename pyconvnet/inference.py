"""InferenceModel: a frozen copy of a model for serving.

The model's layers are compiled, once per input shape, into a `_C.Network`: a list of steps
run on the whole batch by one C++ call with the GIL released. On the way:

- Flatten (a view of the same floats) and Dropout (the identity in eval mode) cost nothing;
- BatchNorm2d right after a Conv2d is folded into the convolution's weights and bias;
- an activation right after Conv2d or Linear runs on the kernel's output (ReLU inside the
  kernel's epilogue, the others in one pass over the output while it is in cache);
- weights are packed once, in the layout each kernel reads (`_C.PackedLinear` for Linear).

Layers the runtime has no step for (a Softmax over an axis other than the channels) run
their own `infer` between native segments; `summary()` shows which.
"""

from __future__ import annotations

import copy
import threading

import numpy as np

from . import _C
from ._validate import as_float_array, as_int
from .layers import (
    ELU, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool2d, LeakyReLU, Linear,
    LPPool2d, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh,
)

__all__ = ["InferenceModel", "round_to_bf16"]

PRECISIONS = ("fp32", "bf16")
_ACTIVATIONS = {ReLU: "relu", LeakyReLU: "leaky_relu", Sigmoid: "sigmoid", Tanh: "tanh", ELU: "elu"}


def round_to_bf16(a) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32."""
    return _C.round_to_bf16(np.ascontiguousarray(a, dtype=np.float32))


def _act_of(layer):
    """(name, parameter) of an activation layer, or None."""
    name = _ACTIVATIONS.get(type(layer))
    if name is None:
        return None
    if isinstance(layer, LeakyReLU):
        return name, float(layer.negative_slope)
    if isinstance(layer, ELU):
        return name, float(layer.alpha)
    return name, 0.0


def _fold_batch_norm(w, b, bn):
    """Weights and bias of conv followed by eval-mode BatchNorm2d, computed in float64."""
    scale = bn.weight.data.astype(np.float64) / np.sqrt(bn.running_var.astype(np.float64) + bn.eps)
    w = w.astype(np.float64) * scale[:, None, None, None]
    b = np.zeros(w.shape[0]) if b is None else b.astype(np.float64)
    b = (b - bn.running_mean.astype(np.float64)) * scale + bn.bias.data.astype(np.float64)
    return w.astype(np.float32), b.astype(np.float32)


class _Entry:
    """One step of the frozen network: an operator, its frozen data, and the layers it covers."""

    def __init__(self, op, layers, **data):
        self.op = op
        self.layers = layers
        self.data = data


def _freeze(layers, precision):
    """The model's layers as a list of _Entry with frozen (copied, folded, packed) weights."""
    bf16 = precision == "bf16"
    entries = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        names = [type(layer).__name__]
        if isinstance(layer, Conv2d):
            w = layer.weight.data.copy()
            b = None if layer.bias is None else layer.bias.data.copy()
            if i + 1 < len(layers) and isinstance(layers[i + 1], BatchNorm2d):
                w, b = _fold_batch_norm(w, b, layers[i + 1])
                names.append("BatchNorm2d")
                i += 1
            act = None
            if i + 1 < len(layers) and _act_of(layers[i + 1]) is not None:
                act = _act_of(layers[i + 1])
                names.append(type(layers[i + 1]).__name__)
                i += 1
            if bf16:
                w = round_to_bf16(w)
            entries.append(_Entry("conv", names, weight=np.ascontiguousarray(w, np.float32),
                                  bias=None if b is None else np.ascontiguousarray(b, np.float32),
                                  stride=tuple(layer.stride), padding=tuple(layer.padding4),
                                  dilation=tuple(layer.dilation), groups=layer.groups, act=act))
        elif isinstance(layer, Linear):
            act = None
            if i + 1 < len(layers) and _act_of(layers[i + 1]) is not None:
                act = _act_of(layers[i + 1])
                names.append(type(layers[i + 1]).__name__)
                i += 1
            b = None if layer.bias is None else layer.bias.data
            packed = _C.PackedLinear(np.ascontiguousarray(layer.weight.data), b, precision)
            entries.append(_Entry("linear", names, packed=packed, act=act,
                                  bias=None if b is None else b.copy()))
        elif isinstance(layer, BatchNorm2d):
            inv = 1.0 / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
            scale = layer.weight.data.astype(np.float64) * inv
            shift = layer.bias.data.astype(np.float64) - layer.running_mean.astype(np.float64) * scale
            entries.append(_Entry("affine", names, scale=scale.astype(np.float32), shift=shift.astype(np.float32)))
        elif isinstance(layer, (MaxPool2d, AvgPool2d, LPPool2d)):
            kind = "max" if isinstance(layer, MaxPool2d) else "avg" if isinstance(layer, AvgPool2d) else "lp"
            entries.append(_Entry("pool", names, kind=kind, kernel_size=tuple(layer.kernel_size),
                                  stride=tuple(layer.stride), padding=tuple(layer.padding),
                                  ceil_mode=layer.ceil_mode,
                                  count_include_pad=getattr(layer, "count_include_pad", True),
                                  norm_type=float(getattr(layer, "norm_type", 2.0))))
        elif isinstance(layer, GlobalAvgPool2d):
            entries.append(_Entry("global_avg_pool", names))
        elif _act_of(layer) is not None:
            entries.append(_Entry("activation", names, act=_act_of(layer)))
        elif isinstance(layer, Flatten):
            entries.append(_Entry("flatten", names))
        elif isinstance(layer, Dropout):
            entries.append(_Entry("identity", names))  # the identity in eval mode: no step
        else:
            # no native step: the layer's own eval path, on a private copy
            entries.append(_Entry("python", names, layer=copy.deepcopy(layer)))
        i += 1
    return entries


def _native_softmax(entry_layer, ndim):
    """Whether a Softmax layer reduces over the channel axis of `ndim`-D input."""
    axis = entry_layer.axis
    return axis == 1 or (ndim == 2 and axis == -1) or (ndim == 4 and axis == -3)


class _Compiled:
    """The frozen entries compiled for one per-sample input shape: native segments and Python
    fallbacks, in order."""

    # Operators that read images (N, C, H, W) or flat vectors (N, F), as their layers demand.
    _IMAGE_OPS = ("conv", "pool", "global_avg_pool", "affine")
    _VECTOR_OPS = ("linear",)

    def __init__(self, entries, sample_shape, bf16):
        self.segments = []  # (kind, runner, per-sample output shape), kind "native" or "python"
        self.rows = []  # (layers, kernel, output shape, weight bytes) for summary()
        shape = tuple(sample_shape)
        net = None
        for e in entries:
            if e.op == "python" and isinstance(e.data["layer"], Softmax) and _native_softmax(e.data["layer"], len(shape) + 1):
                e = _Entry("softmax", e.layers)
            if e.op == "identity":
                self.rows.append((" + ".join(e.layers), "none (the identity when serving)", shape, 0))
                continue
            if e.op == "python":
                if net is not None:
                    self.segments.append(("native", net, shape))
                    net = None
                layer = e.data["layer"]
                shape = tuple(layer.output_shape((1,) + shape)[1:])
                self.segments.append(("python", layer, shape))
                self.rows.append((" + ".join(e.layers), "python (layer.infer)", shape, 0))
                continue
            if e.op in self._IMAGE_OPS and len(shape) != 3:
                raise ValueError(f"{e.layers[0]} expects samples of shape (C, H, W), got {shape}")
            if e.op in self._VECTOR_OPS and len(shape) != 1:
                raise ValueError(f"{e.layers[0]} expects samples of shape (features,), got {shape}")
            if net is None:
                if len(shape) > 3:
                    raise ValueError(f"samples of shape {shape}: at most (C, H, W) is supported")
                net = _C.Network(list(shape), bf16)
            steps_before = len(net.describe())
            self._add(net, e)
            step = net.describe()[-1]
            shape = self._shape(net.output_shape, e, shape)
            layers = " + ".join(e.layers)
            if len(net.describe()) == steps_before:  # fused into the previous step
                layers = self.rows.pop()[0] + " + " + layers
            self.rows.append((layers, step[0], shape, step[2]))
        if net is not None:
            self.segments.append(("native", net, shape))
        self.output_shape = shape

    @staticmethod
    def _shape(dims, entry, previous):
        """The per-sample shape the model's layers would give (flat after Linear/Flatten)."""
        if entry.op in ("linear", "flatten"):
            return (dims[0],)
        if entry.op in ("activation", "softmax", "affine"):
            return previous
        return tuple(dims)

    @staticmethod
    def _add(net, e):
        d = e.data
        act, param = d.get("act") or ("none", 0.0)
        if e.op == "conv":
            net.add_conv(d["weight"], d["bias"], d["stride"], d["padding"], d["dilation"], d["groups"], act, param)
        elif e.op == "linear":
            net.add_linear(d["packed"], act, param)
        elif e.op == "pool":
            net.add_pool(d["kind"], d["kernel_size"], d["stride"], d["padding"], d["ceil_mode"],
                         d["count_include_pad"], d["norm_type"])
        elif e.op == "global_avg_pool":
            net.add_global_avg_pool()
        elif e.op == "activation":
            net.add_activation(act, param)
        elif e.op == "flatten":
            net.add_flatten()
        elif e.op == "softmax":
            net.add_softmax()
        elif e.op == "affine":
            net.add_affine(d["scale"], d["shift"])
        else:  # pragma: no cover - _freeze makes only these
            raise AssertionError(e.op)

    def run(self, x):
        for kind, obj, shape in self.segments:
            if kind == "native":
                # the runtime sees (C, H, W); give the next layer the shape the model would
                x = obj.run(np.ascontiguousarray(x)).reshape((x.shape[0],) + shape)
            else:
                x = obj.infer(x)
        return x


class InferenceModel:
    """A frozen copy of `model` for serving (see docs/API.md, "InferenceModel").

    precision: "fp32", or "bf16" (weights and activations rounded to bfloat16, float32
    accumulation). max_batch: at most this many samples per native call (bounds the activation
    buffers); None runs each `predict` batch in one call.
    """

    def __init__(self, model, precision="fp32", max_batch=None):
        from .model import Sequential

        if not isinstance(model, Sequential):
            raise TypeError(f"model must be a pyconvnet Sequential, got {type(model).__name__}")
        if not isinstance(precision, str) or precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.max_batch = None if max_batch is None else as_int(max_batch, "max_batch", 1)
        self.input_shape = None if model.input_shape is None else tuple(model.input_shape)
        self._entries = _freeze(list(model.layers), precision)
        self._lock = threading.Lock()
        self._compiled = {}
        if self.input_shape is not None:
            self._compile(self.input_shape, "the model's input_shape")

    # ------------------------------------------------------------------ compile per shape
    _MAX_SHAPES = 8  # compiled input shapes kept (the oldest is dropped past this)

    def _compile(self, sample_shape, what="x with samples of shape"):
        got = self._compiled.get(sample_shape)
        if got is not None:
            return got
        with self._lock:
            got = self._compiled.get(sample_shape)
            if got is None:
                try:
                    got = _Compiled(self._entries, sample_shape, self.precision == "bf16")
                except ValueError as e:
                    raise ValueError(f"{what} {sample_shape} does not fit this model: {e}") from None
                # a new dict swapped in whole: readers without the lock see the old or the new
                kept = list(self._compiled.items())[-(self._MAX_SHAPES - 1):]
                self._compiled = dict(kept + [(sample_shape, got)])
        return got

    # ------------------------------------------------------------------ public API
    def predict(self, x) -> np.ndarray:
        """Outputs for the batch `x` (N, ...) as `model.predict` would give them."""
        x = as_float_array(x, "x")
        if x.ndim < 2 or x.shape[0] == 0:
            raise ValueError(f"x must be a batch (N, ...) of at least one sample, got shape {x.shape}")
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            if len(x.shape[1:]) != len(self.input_shape) or x.shape[1] != self.input_shape[0]:
                raise ValueError(f"x must have shape (N, {', '.join(map(str, self.input_shape))}), "
                                 f"got {x.shape}")
        compiled = self._compile(tuple(x.shape[1:]))
        n, step = x.shape[0], self.max_batch or x.shape[0]
        if n <= step:
            return compiled.run(x).reshape((n,) + compiled.output_shape)
        out = np.empty((n,) + compiled.output_shape, np.float32)
        for s in range(0, n, step):
            out[s:s + step] = compiled.run(x[s:s + step]).reshape((-1,) + compiled.output_shape)
        return out

    __call__ = predict

    def summary(self, input_shape=None) -> str:
        """Table of steps: the layers each covers, the kernel it runs, output shape, bytes."""
        shape = tuple(input_shape) if input_shape is not None else self.input_shape
        if shape is None:
            raise ValueError("input_shape is needed: the model was built without one and has not been called")
        compiled = self._compile(tuple(int(d) for d in shape))
        rows = [("layers", "kernel", "output", "weight bytes")]
        rows += [(a, b, str(tuple(c)), f"{d:,}") for a, b, c, d in compiled.rows]
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines = [f"InferenceModel (precision {self.precision}, ISA {_C.isa()}, "
                 f"{len(compiled.rows)} steps, input {tuple(shape)})"]
        for k, r in enumerate(rows):
            lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines.append(f"weights held: {self.weight_bytes():,} bytes")
        return "\n".join(lines)

    def weight_bytes(self) -> int:
        """Bytes of frozen weights: packed linear layers plus the convolution and batch-norm
        arrays (the per-shape packed convolution weights are counted by summary())."""
        total = 0
        for e in self._entries:
            if e.op == "linear":
                total += e.data["packed"].nbytes
                continue
            for k in ("weight", "bias", "scale", "shift"):
                v = e.data.get(k)
                if isinstance(v, np.ndarray):
                    total += v.nbytes
        return total

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        entries = []
        for e in self._entries:
            data = dict(e.data)
            if e.op == "linear":
                packed = data.pop("packed")
                data["weight"] = packed.unpack()
            entries.append((e.op, list(e.layers), data))
        return {"precision": self.precision, "max_batch": self.max_batch,
                "input_shape": self.input_shape, "entries": entries}

    def __setstate__(self, state):
        self.precision = state["precision"]
        self.max_batch = state["max_batch"]
        self.input_shape = state["input_shape"]
        self._entries = []
        for op, layers, data in state["entries"]:
            if op == "linear":
                data = dict(data)
                data["packed"] = _C.PackedLinear(data.pop("weight"), data["bias"], self.precision)
            self._entries.append(_Entry(op, layers, **data))
        self._lock = threading.Lock()
        self._compiled = {}
        if self.input_shape is not None:
            self._compile(self.input_shape)

    def __repr__(self):
        return f"InferenceModel(precision={self.precision!r}, max_batch={self.max_batch!r}, steps={len(self._entries)})"
