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
from .layers.base import window_out_size
from .layers import (
    ELU, Add, AvgPool2d, Concat, Multiply, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool2d, LeakyReLU, Linear,
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
    """One step of the frozen network: an operator, its frozen data, the layers it covers, the
    values it reads (`refs`) and the value it makes (`out`), numbered as in the model's graph
    (inputs first, then one value per layer call)."""

    def __init__(self, op, layers, refs=(), out=None, **data):
        self.op = op
        self.layers = layers
        self.refs = tuple(refs)
        self.out = out
        self.data = data


class _GraphView:
    """What freezing needs of a model's graph: the calls (layer, refs) in topological order,
    the inputs' per-sample shapes, the outputs, and each value's consumers."""

    def __init__(self, model):
        g = model._graph()
        self.n_in = g.n_in
        self.calls = [(g.layers[li], tuple(refs)) for li, refs in g.calls]
        self.names = [g.value_name(g.n_in + i) for i in range(len(g.calls))]
        self.input_names = [g.value_name(k) for k in range(g.n_in)]
        self.outputs = list(g.outputs)
        self.single_input = g.single_input
        self.single_output = g.single_output
        self.is_chain = (g.n_in == 1 and self.outputs == [len(g.calls)]
                         and all(refs == (i,) for i, (_, refs) in enumerate(g.calls)))
        shapes = [s for _, s in g.inputs]
        if self.is_chain and getattr(model, "input_shape", None) is not None:
            shapes = [tuple(model.input_shape)]
        self.input_shapes = [None if s is None else tuple(int(d) for d in s) for s in shapes]
        self.readers = [[] for _ in range(self.n_in + len(self.calls))]
        for i, (_, refs) in enumerate(self.calls):
            for r in refs:
                self.readers[r].append(i)

    def only_reader(self, v):
        """The call that alone reads value v (which is no model output), or None."""
        if v in self.outputs or len(self.readers[v]) != 1:
            return None
        return self.readers[v][0]


def _merge_op(layer):
    if isinstance(layer, Add):
        return "add"
    if isinstance(layer, Multiply):
        return "multiply"
    if isinstance(layer, Concat):
        return "concat"
    return None


def _freeze(view, precision):
    """The model's calls as a list of _Entry with frozen (copied, folded, packed) weights."""
    bf16 = precision == "bf16"
    entries = []
    absorbed = set()  # calls folded into an earlier entry
    n_in = view.n_in

    def fuse_next(i, test):
        """The call that alone reads call i's output, when `test(layer)` holds for it."""
        j = view.only_reader(n_in + i)
        if j is not None and j not in absorbed and test(view.calls[j][0]) and len(view.calls[j][1]) == 1:
            return j
        return None

    for i, (layer, refs) in enumerate(view.calls):
        if i in absorbed:
            continue
        names = [type(layer).__name__]
        last = i  # the call whose value this entry makes

        def take_act():
            nonlocal last
            j = fuse_next(last, lambda lay: _act_of(lay) is not None)
            if j is None:
                return None
            absorbed.add(j)
            names.append(type(view.calls[j][0]).__name__)
            last = j
            return _act_of(view.calls[j][0])

        if isinstance(layer, Conv2d):
            w = layer.weight.data.copy()
            b = None if layer.bias is None else layer.bias.data.copy()
            j = fuse_next(i, lambda lay: isinstance(lay, BatchNorm2d))
            if j is not None:
                w, b = _fold_batch_norm(w, b, view.calls[j][0])
                names.append("BatchNorm2d")
                absorbed.add(j)
                last = j
            act = take_act()
            if bf16:
                w = round_to_bf16(w)
            entries.append(_Entry("conv", names, refs, n_in + last, weight=np.ascontiguousarray(w, np.float32),
                                  bias=None if b is None else np.ascontiguousarray(b, np.float32),
                                  stride=tuple(layer.stride), padding=tuple(layer.padding4),
                                  dilation=tuple(layer.dilation), groups=layer.groups, act=act))
        elif isinstance(layer, Linear):
            act = take_act()
            b = None if layer.bias is None else layer.bias.data
            packed = _C.PackedLinear(np.ascontiguousarray(layer.weight.data), b, precision)
            entries.append(_Entry("linear", names, refs, n_in + last, packed=packed, act=act,
                                  bias=None if b is None else b.copy()))
        elif isinstance(layer, BatchNorm2d):
            inv = 1.0 / np.sqrt(layer.running_var.astype(np.float64) + layer.eps)
            scale = layer.weight.data.astype(np.float64) * inv
            shift = layer.bias.data.astype(np.float64) - layer.running_mean.astype(np.float64) * scale
            entries.append(_Entry("affine", names, refs, n_in + i, scale=scale.astype(np.float32),
                                  shift=shift.astype(np.float32)))
        elif isinstance(layer, (MaxPool2d, AvgPool2d, LPPool2d)):
            kind = "max" if isinstance(layer, MaxPool2d) else "avg" if isinstance(layer, AvgPool2d) else "lp"
            entries.append(_Entry("pool", names, refs, n_in + i, kind=kind, kernel_size=tuple(layer.kernel_size),
                                  stride=tuple(layer.stride), padding=tuple(layer.padding),
                                  ceil_mode=layer.ceil_mode,
                                  count_include_pad=getattr(layer, "count_include_pad", True),
                                  norm_type=float(getattr(layer, "norm_type", 2.0))))
        elif isinstance(layer, GlobalAvgPool2d):
            entries.append(_Entry("global_avg_pool", names, refs, n_in + i))
        elif _act_of(layer) is not None:
            entries.append(_Entry("activation", names, refs, n_in + i, act=_act_of(layer)))
        elif isinstance(layer, Flatten):
            entries.append(_Entry("flatten", names, refs, n_in + i))
        elif isinstance(layer, Dropout):
            entries.append(_Entry("identity", names, refs, n_in + i))  # the identity in eval mode: no step
        elif _merge_op(layer) == "add" and len(refs) >= 2:
            act = take_act()
            entries.append(_Entry("add", names, refs, n_in + last, act=act))
        elif _merge_op(layer) == "multiply" and len(refs) >= 2:
            entries.append(_Entry("multiply", names, refs, n_in + i))
        elif _merge_op(layer) == "concat":
            entries.append(_Entry("concat", names, refs, n_in + i, axis=int(layer.axis)))
        else:
            # no native step: the layer's own eval path, on a private copy
            entries.append(_Entry("python", names, refs, n_in + i, layer=copy.deepcopy(layer)))
    return entries


def _native_softmax(entry_layer, ndim):
    """Whether a Softmax layer reduces over the channel axis of `ndim`-D input."""
    axis = entry_layer.axis
    return axis == 1 or (ndim == 2 and axis == -1) or (ndim == 4 and axis == -3)


def _native_concat(axis, shapes):
    """Whether Concat(axis) of per-sample `shapes` joins channels (or the features of vectors)."""
    ndim = len(shapes[0]) + 1
    if any(len(s) + 1 != ndim for s in shapes) or ndim not in (2, 4):
        return False
    return axis == 1 or axis == -(ndim - 1)


class _Compiled:
    """The frozen entries compiled for per-sample input shapes: native segments (each a
    `_C.Network` with the values it reads from before as inputs and the values later needed as
    outputs) and Python fallbacks, in order."""

    # Operators that read images (N, C, H, W) or flat vectors (N, F), as their layers demand.
    _IMAGE_OPS = ("conv", "pool", "global_avg_pool", "affine")
    _VECTOR_OPS = ("linear",)

    def __init__(self, entries, graph, sample_shapes, bf16):
        self.rows = []  # (layers, kernel, output shape, weight bytes, reads) for summary()
        shapes = {k: tuple(s) for k, s in enumerate(sample_shapes)}
        alias = {}

        def real(v):
            while v in alias:
                v = alias[v]
            return v

        # Entries resolved to their native or Python form, with the value shapes they give.
        plan = []
        identity_rows = {}  # position in plan -> summary rows of identities met just before
        for e in entries:
            refs = tuple(real(r) for r in e.refs)
            ins = [shapes[r] for r in refs]
            if e.op == "python" and isinstance(e.data["layer"], Softmax) and _native_softmax(e.data["layer"], len(ins[0]) + 1):
                e = _Entry("softmax", e.layers, e.refs, e.out)
            if e.op == "concat" and not _native_concat(e.data["axis"], ins):
                e = _Entry("python", e.layers, e.refs, e.out, layer=Concat(e.data["axis"]))
            if e.op == "identity":
                alias[e.out] = refs[0]
                identity_rows.setdefault(len(plan), []).append(
                    (" + ".join(e.layers), "none (the identity when serving)", ins[0], 0, refs))
                continue
            if e.op == "python":
                layer = e.data["layer"]
                arg = [(1,) + s for s in ins] if layer._takes_list else (1,) + ins[0]
                shapes[e.out] = tuple(layer.output_shape(arg)[1:])
            else:
                self._check(e, ins)
                shapes[e.out] = self._shape(e, ins)
            plan.append((e, refs, len(plan)))
        outputs = [real(v) for v in graph.outputs]
        # how many entries read each value (or return it): fusion needs a single reader
        uses = {}
        for v in outputs:
            uses[v] = uses.get(v, 0) + 1
        for e, refs, _ in plan:
            for r in set(refs):
                uses[r] = uses.get(r, 0) + 1

        # Native runs between Python entries; each reads the values made before it.
        runs, cur = [], None
        for e, refs, at in plan:
            if e.op == "python":
                cur = None
                runs.append(("python", [(e, refs, at)]))
            else:
                if cur is None:
                    cur = []
                    runs.append(("native", cur))
                cur.append((e, refs, at))
        needed_after = []  # per run: values read by later runs or returned
        later = set(outputs)
        for kind, items in reversed(runs):
            needed_after.append(set(later))
            for e, refs, _ in items:
                later.update(refs)
        needed_after.reverse()

        self.segments = []
        for (kind, items), after in zip(runs, needed_after):
            if kind == "python":
                e, refs, at = items[0]
                self.rows += identity_rows.get(at, [])
                self.segments.append(("python", e.data["layer"], refs, [e.out]))
                self.rows.append((" + ".join(e.layers), "python (layer.infer)", shapes[e.out], 0, refs))
                continue
            made = {e.out for e, _, _ in items}
            inputs = []
            for e, refs, _ in items:
                for r in refs:
                    if r not in made and r not in inputs:
                        inputs.append(r)
            outs = []
            for e, _, _ in items:
                if e.out in after and e.out not in outs:
                    outs.append(e.out)
            for s in (shapes[v] for v in inputs):
                if len(s) > 3:
                    raise ValueError(f"samples of shape {s}: at most (C, H, W) is supported")
            net = _C.Network([list(shapes[v]) for v in inputs], bf16)
            node = {v: k for k, v in enumerate(inputs)}
            step_row = prev_out = None  # the summary row and value of this network's last step
            for e, refs, at in items:
                self.rows += identity_rows.get(at, [])
                steps_before = len(net.describe())
                single = [uses.get(r, 0) == 1 for r in refs]
                node[e.out] = self._add(net, e, [node[r] for r in refs], single)
                desc = net.describe()
                step = desc[-1]
                layers = " + ".join(e.layers)
                if len(desc) == steps_before:  # fused into the previous step: one row for both
                    prev = self.rows[step_row]
                    refs = prev[4] + tuple(r for r in refs if r not in prev[4] and r != prev_out)
                    self.rows[step_row] = (prev[0] + " + " + layers, step[0], shapes[e.out], step[2], refs)
                else:
                    self.rows.append((layers, step[0], shapes[e.out], step[2], refs))
                    step_row = len(self.rows) - 1
                prev_out = e.out
            net.set_outputs([node[v] for v in outs])
            self.segments.append(("native", net, inputs, outs))
        self.rows += identity_rows.get(len(plan), [])
        self.shapes = shapes
        self.outputs = outputs
        self.output_shapes = [shapes[v] for v in outputs]

    def _check(self, e, ins):
        if e.op in self._IMAGE_OPS and len(ins[0]) != 3:
            raise ValueError(f"{e.layers[0]} expects samples of shape (C, H, W), got {ins[0]}")
        if e.op in self._VECTOR_OPS and len(ins[0]) != 1:
            raise ValueError(f"{e.layers[0]} expects samples of shape (features,), got {ins[0]}")
        if e.op in ("add", "multiply") and any(s != ins[0] for s in ins):
            raise ValueError(f"{e.layers[0]} inputs must have equal shapes, got {', '.join(map(str, ins))}")
        if e.op == "concat" and any(s[1:] != ins[0][1:] for s in ins):
            raise ValueError(f"{e.layers[0]} inputs must agree except along the channels, got "
                             f"{', '.join(map(str, ins))}")

    @staticmethod
    def _shape(e, ins):
        """The per-sample shape the model's layers would give (flat after Linear/Flatten)."""
        first, d = ins[0], e.data
        if e.op == "linear":
            if d["packed"].in_features != first[0]:
                raise ValueError(f"{e.layers[0]} expects {d['packed'].in_features} features, got {first[0]}")
            return (d["packed"].out_features,)
        if e.op == "conv":
            c, h, w = first
            oc, cg, kh, kw = d["weight"].shape
            if cg * d["groups"] != c:
                raise ValueError(f"{e.layers[0]} expects {cg * d['groups']} input channels, got {first}")
            t, left, b, r = d["padding"]
            (sh, sw), (dh, dw) = d["stride"], d["dilation"]
            return (oc, window_out_size(h, kh, sh, t + b, dh, False, t),
                    window_out_size(w, kw, sw, left + r, dw, False, left))
        if e.op == "pool":
            c, h, w = first
            (kh, kw), (sh, sw), (ph, pw) = d["kernel_size"], d["stride"], d["padding"]
            return (c, window_out_size(h, kh, sh, 2 * ph, 1, d["ceil_mode"], ph),
                    window_out_size(w, kw, sw, 2 * pw, 1, d["ceil_mode"], pw))
        if e.op == "global_avg_pool":
            return (first[0], 1, 1)
        if e.op == "flatten":
            return (int(np.prod(first)),)
        if e.op in ("activation", "softmax", "affine", "add", "multiply"):
            return first
        if e.op == "concat":
            return (sum(s[0] for s in ins),) + first[1:]
        raise AssertionError(e.op)  # pragma: no cover - _freeze makes only these

    @staticmethod
    def _add(net, e, nodes, single):
        """Appends e's step(s) reading `nodes` (single[k]: e alone reads nodes[k]); returns the
        node that holds e's value."""
        d = e.data
        act, param = d.get("act") or ("none", 0.0)
        if e.op in ("add", "multiply", "concat"):
            if e.op == "add":
                # folded into the convolution that made an operand when the add alone reads it
                desc = net.describe()
                last = desc[-1][3] if desc else -1
                fuse = any(n == last and one for n, one in zip(nodes, single))
                node = net.add_add(nodes, act, param, fuse)
            elif e.op == "multiply":
                node = net.add_multiply(nodes)
            else:
                node = net.add_concat(nodes)
            return node
        net.select(nodes[0])
        if e.op == "conv":
            net.add_conv(d["weight"], d["bias"], d["stride"], d["padding"], d["dilation"], d["groups"], act, param)
        elif e.op == "linear":
            net.add_linear(d["packed"], act, param)
        elif e.op == "pool":
            net.add_pool(d["kind"], d["kernel_size"], d["stride"], d["padding"], d["ceil_mode"],
                         d["count_include_pad"], d["norm_type"], single[0])
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
        return net.current

    def run(self, xs):
        values = dict(enumerate(xs))
        for kind, obj, refs, outs in self.segments:
            if kind == "native":
                ys = obj.run([np.ascontiguousarray(values[r]) for r in refs])
                n = ys[0].shape[0]
                for v, y in zip(outs, ys):
                    # the runtime sees (C, H, W); give the next layer the shape the model would
                    values[v] = y.reshape((n,) + self.shapes[v])
            else:
                arg = [values[r] for r in refs] if obj._takes_list else values[refs[0]]
                values[outs[0]] = obj.infer(arg)
        return [values[v] for v in self.outputs]


class _FrozenGraph:
    """The parts of a model's graph a frozen model keeps (picklable, no layers): the inputs and
    outputs, and the values' names for summary()."""

    def __init__(self, view):
        self.n_in = view.n_in
        self.outputs = list(view.outputs)
        self.single_input = view.single_input
        self.single_output = view.single_output
        self.is_chain = view.is_chain
        self.names = view.input_names + view.names


class InferenceModel:
    """A frozen copy of `model` for serving (see docs/API.md, "InferenceModel").

    model: a Sequential or a graph Model. precision: "fp32", or "bf16" (weights and activations
    rounded to bfloat16, float32 accumulation). max_batch: at most this many samples per native
    call (bounds the activation buffers); None runs each `predict` batch in one call.
    """

    def __init__(self, model, precision="fp32", max_batch=None):
        from .model import Model

        if not isinstance(model, Model):
            raise TypeError(f"model must be a pyconvnet Sequential or Model, got {type(model).__name__}")
        if not isinstance(precision, str) or precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self.max_batch = None if max_batch is None else as_int(max_batch, "max_batch", 1)
        view = _GraphView(model)
        self._graph = _FrozenGraph(view)
        self._input_shapes = view.input_shapes
        self._entries = _freeze(view, precision)
        self._lock = threading.Lock()
        self._compiled = {}
        if all(s is not None for s in self._input_shapes):
            self._compile(tuple(self._input_shapes), "the model's input_shape")

    @property
    def input_shape(self):
        """The per-sample input shape (a list of them for several inputs), or None."""
        if self._graph.single_input:
            return self._input_shapes[0]
        return None if any(s is None for s in self._input_shapes) else list(self._input_shapes)

    # ------------------------------------------------------------------ compile per shape
    _MAX_SHAPES = 8  # compiled input shapes kept (the oldest is dropped past this)

    def _compile(self, sample_shapes, what="x with samples of shape"):
        got = self._compiled.get(sample_shapes)
        if got is not None:
            return got
        with self._lock:
            got = self._compiled.get(sample_shapes)
            if got is None:
                try:
                    got = _Compiled(self._entries, self._graph, sample_shapes, self.precision == "bf16")
                except ValueError as e:
                    shown = sample_shapes[0] if len(sample_shapes) == 1 else list(sample_shapes)
                    raise ValueError(f"{what} {shown} does not fit this model: {e}") from None
                # a new dict swapped in whole: readers without the lock see the old or the new
                kept = list(self._compiled.items())[-(self._MAX_SHAPES - 1):]
                self._compiled = dict(kept + [(sample_shapes, got)])
        return got

    # ------------------------------------------------------------------ public API
    def _inputs(self, x):
        n_in = self._graph.n_in
        if n_in == 1 and self._graph.single_input:
            xs = [x]
        else:
            if not isinstance(x, (list, tuple)) or len(x) != n_in:
                raise ValueError(f"x must be a list of {n_in} arrays (one per model input), got "
                                 f"{type(x).__name__}" + (f" of {len(x)}" if isinstance(x, (list, tuple)) else ""))
            xs = list(x)
        out = []
        for k, a in enumerate(xs):
            a = as_float_array(a, "x" if n_in == 1 else f"x[{k}]")
            if a.ndim < 2 or a.shape[0] == 0:
                raise ValueError(f"x must be a batch (N, ...) of at least one sample, got shape {a.shape}")
            want = self._input_shapes[k]
            if want is not None and tuple(a.shape[1:]) != want:
                if len(a.shape[1:]) != len(want) or a.shape[1] != want[0]:
                    raise ValueError(f"x{'' if n_in == 1 else f'[{k}]'} must have shape (N, {', '.join(map(str, want))}), "
                                     f"got {a.shape}")
            if out and a.shape[0] != out[0].shape[0]:
                raise ValueError(f"all inputs must hold the same number of samples, got {out[0].shape[0]} and {a.shape[0]}")
            out.append(a)
        return out

    def predict(self, x):
        """Outputs for the batch `x` (N, ...) as `model.predict` would give them: an array, or
        a list for a model with several outputs; `x` is a list for several inputs."""
        xs = self._inputs(x)
        compiled = self._compile(tuple(tuple(a.shape[1:]) for a in xs))
        n, step = xs[0].shape[0], self.max_batch or xs[0].shape[0]
        if n <= step:
            outs = [y.reshape((n,) + s) for y, s in zip(compiled.run(xs), compiled.output_shapes)]
        else:
            outs = [np.empty((n,) + s, np.float32) for s in compiled.output_shapes]
            for s in range(0, n, step):
                for o, y in zip(outs, compiled.run([a[s:s + step] for a in xs])):
                    o[s:s + step] = y.reshape((-1,) + o.shape[1:])
        return outs[0] if self._graph.single_output else outs

    __call__ = predict

    def summary(self, input_shape=None) -> str:
        """Table of steps: the layers each covers, the kernel it runs, output shape, bytes (and
        for a graph, the values each step reads)."""
        if input_shape is not None:
            shapes = [input_shape] if self._graph.single_input else list(input_shape)
        else:
            shapes = self._input_shapes
        if any(s is None for s in shapes):
            raise ValueError("input_shape is needed: the model was built without one and has not been called")
        shapes = tuple(tuple(int(d) for d in s) for s in shapes)
        compiled = self._compile(shapes)
        graph = not self._graph.is_chain
        head = ("layers", "kernel", "output", "weight bytes") + (("reads",) if graph else ())
        rows = [head]
        for a, b, c, d, refs in compiled.rows:
            row = (a, b, str(tuple(c)), f"{d:,}")
            if graph:
                row += (", ".join(self._graph.names[r] for r in refs),)
            rows.append(row)
        widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
        shown = shapes[0] if len(shapes) == 1 else list(shapes)
        lines = [f"InferenceModel (precision {self.precision}, ISA {_C.isa()}, "
                 f"{len(compiled.rows)} steps, input {shown})"]
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
            entries.append((e.op, list(e.layers), e.refs, e.out, data))
        return {"precision": self.precision, "max_batch": self.max_batch,
                "input_shapes": self._input_shapes, "graph": self._graph, "entries": entries}

    def __setstate__(self, state):
        self.precision = state["precision"]
        self.max_batch = state["max_batch"]
        self._input_shapes = state["input_shapes"]
        self._graph = state["graph"]
        self._entries = []
        for op, layers, refs, out, data in state["entries"]:
            if op == "linear":
                data = dict(data)
                data["packed"] = _C.PackedLinear(data.pop("weight"), data["bias"], self.precision)
            self._entries.append(_Entry(op, layers, refs, out, **data))
        self._lock = threading.Lock()
        self._compiled = {}
        if all(s is not None for s in self._input_shapes):
            self._compile(tuple(self._input_shapes))

    def __repr__(self):
        return f"InferenceModel(precision={self.precision!r}, max_batch={self.max_batch!r}, steps={len(self._entries)})"
