"""Model: a graph of layer calls (Keras functional style). `Sequential` is its chain case.

The graph is data (`Graph`): the distinct layers with their names, the model inputs, the layer
calls in topological order (each reading earlier values by index: inputs first, then call
outputs), and the output values. Running, training, state, summaries and the architecture
format all walk that one description.

A layer called twice shares its weights. Layers keep what `backward` needs in `_cache`; the
model records each call's cache at forward and puts it back before that call's backward, so
the two uses of a shared layer backpropagate through their own inputs and their parameter
gradients add up.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from .._validate import as_bool, as_float_array, as_int
from ..layers.activation import ReLU
from ..layers.base import Layer
from ..layers.conv import Conv2d
from ..layers.linear import Linear
from ..layers.node import Node
from ..layers.pool import MaxPool2d

__all__ = ["Model", "Graph", "IncompatibleKeys", "default_layer_name"]

# Layers whose kernels apply a following ReLU in their epilogue (exact types only: a subclass
# may change forward, so it runs unfused).
_RELU_EPILOGUE = (Conv2d, Linear)


# How a step calls its layer (Graph.steps).
_ONE, _LIST, _RELU_AFTER, _ADOPT = range(4)


class IncompatibleKeys(NamedTuple):
    missing_keys: list
    unexpected_keys: list


def default_layer_name(cls_name: str) -> str:
    """'BatchNorm2d' -> 'batch_norm2d', 'LeakyReLU' -> 'leaky_relu', 'LPPool2d' -> 'lp_pool2d'."""
    name = cls_name.replace("ReLU", "Relu")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return name.lower()


class Graph:
    """A model's graph as data, with the tables the running code needs.

    - `layers`, `names`: the distinct layers (in order of first call) and their names;
    - `inputs`: [(name, per-sample shape or None)];
    - `calls`: [(layer index, refs)]; value k < len(inputs) is input k, value len(inputs) + i
      is the output of call i; refs only point at earlier values;
    - `outputs`: value indices; `single_input`/`single_output`: whether the model takes and
      returns one array rather than a list.
    """

    def __init__(self, layers, names, inputs, calls, outputs, single_input=True, single_output=True):
        self.layers = list(layers)
        self.names = list(names)
        self.inputs = [(n, None if s is None else tuple(s)) for n, s in inputs]
        self.calls = [(int(li), tuple(refs)) for li, refs in calls]
        self.outputs = list(outputs)
        self.single_input = bool(single_input) and len(self.inputs) == 1
        self.single_output = bool(single_output) and len(self.outputs) == 1
        n_in = self.n_in = len(self.inputs)
        n_values = n_in + len(self.calls)
        consumers = [0] * n_values
        last_use = [-1] * n_values
        for i, (_, refs) in enumerate(self.calls):
            for r in refs:
                consumers[r] += 1
                last_use[r] = i
        for r in self.outputs:
            last_use[r] = len(self.calls)  # kept to the end
        self.consumers = consumers
        self.last_use = last_use
        out_set = set(self.outputs)

        def single_use(r):
            return r >= n_in and consumers[r] == 1 and r not in out_set

        # Conv2d/Linear call i whose only consumer is a ReLU call j: one kernel call with the
        # ReLU in its epilogue (same values); the ReLU adopts the result.
        self.relu_after = {}
        self.adopts = set()
        # ReLU call i whose only consumer is a MaxPool2d call j: backward masks the pooled
        # gradient instead of the input-sized one.
        self.pool_through_relu = {}
        for j, (lj, refs) in enumerate(self.calls):
            if len(refs) != 1 or not single_use(refs[0]):
                continue
            i = refs[0] - n_in
            li = self.calls[i][0]
            tj, ti = type(self.layers[lj]), type(self.layers[li])
            if tj is ReLU and ti in _RELU_EPILOGUE:
                self.relu_after[i] = j
                self.adopts.add(j)
            elif tj is MaxPool2d and ti is ReLU:
                self.pool_through_relu[j] = i
        # What the running loops read per call: (layer, how to call it, value refs, values
        # whose last reader this call is, freed after it).
        self.steps = []
        for i, (li, refs) in enumerate(self.calls):
            layer = self.layers[li]
            how = (_ADOPT if i in self.adopts else _RELU_AFTER if i in self.relu_after
                   else _LIST if layer._takes_list else _ONE)
            self.steps.append((layer, how, refs, tuple(r for r in set(refs) if last_use[r] == i)))
        # What backward reads per call: (layer, refs, whether it reads another call's output
        # (so its input gradient is needed), (relu layer, relu call, relu input) for a MaxPool2d
        # that backpropagates through the ReLU before it, else None).
        self.back = []
        for j, (lj, refs) in enumerate(self.calls):
            through = None
            i = self.pool_through_relu.get(j)
            if i is not None:
                through = (self.layers[self.calls[i][0]], i, self.calls[i][1][0])
            self.back.append((self.layers[lj], refs, any(r >= n_in for r in refs), through))

    def value_name(self, r: int) -> str:
        """How summaries and errors refer to value r: the input's or the layer's name
        (with the call number for the second and later calls of a shared layer)."""
        if r < self.n_in:
            return self.inputs[r][0]
        i = r - self.n_in
        li = self.calls[i][0]
        k = sum(1 for c in self.calls[:i] if c[0] == li)
        return self.names[li] + (f"[{k}]" if k else "")

    def call_label(self, i: int) -> str:
        li = self.calls[i][0]
        return f"{self.names[li]} ({type(self.layers[li]).__name__})"

    def shapes(self, input_shapes=None):
        """Per-value shapes (batch dimension None) for per-sample `input_shapes` (default: the
        inputs' own); ValueError naming the layer call that cannot take its input."""
        if input_shapes is None:
            input_shapes = [s for _, s in self.inputs]
        shapes = [None if s is None else (None,) + tuple(s) for s in input_shapes]
        for i, (li, refs) in enumerate(self.calls):
            layer = self.layers[li]
            ins = [shapes[r] for r in refs]
            if any(s is None for s in ins):
                shapes.append(None)
                continue
            arg = ins if layer._takes_list else ins[0]
            try:
                shapes.append(tuple(layer.output_shape(arg)))
            except (ValueError, TypeError) as exc:
                got = ", ".join(str(tuple(s[1:])) for s in ins)
                raise ValueError(f"layer {self.call_label(i)} cannot take input of per-sample shape {got}: {exc}") from None
        return shapes


def _node_list(obj, what):
    if isinstance(obj, Node):
        return [obj], True
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(n, Node) for n in obj):
        return list(obj), False
    raise TypeError(f"{what} must be a node (from pyconvnet.Input or a layer call) or a non-empty list of nodes, "
                    f"got {type(obj).__name__}")


def _graph_from_nodes(inputs, outputs, single_input, single_output) -> Graph:
    """Walk back from the outputs and lay the calls out in topological order."""
    if len({id(n) for n in inputs}) != len(inputs):
        raise ValueError("inputs lists the same node twice")
    for k, n in enumerate(inputs):
        if n.layer is not None:
            raise ValueError(f"inputs[{k}] is the output of {n.layer._label()}, not a pyconvnet.Input")
    index = {id(n): k for k, n in enumerate(inputs)}
    order = []
    done = set(index)
    for out in outputs:
        stack = [(out, 0)]
        while stack:
            node, k = stack.pop()
            if id(node) in done:
                continue
            if node.layer is None:
                raise ValueError(f"the outputs depend on an Input of shape {node.shape}"
                                 + (f" ({node.name!r})" if node.name else "") + " that is not in inputs")
            if k < len(node.parents):
                stack.append((node, k + 1))
                stack.append((node.parents[k], 0))
            else:
                done.add(id(node))
                order.append(node)
    n_in = len(inputs)
    for i, node in enumerate(order):
        index[id(node)] = n_in + i
    layers, layer_index = [], {}
    calls = []
    for node in order:
        li = layer_index.get(id(node.layer))
        if li is None:
            li = layer_index[id(node.layer)] = len(layers)
            layers.append(node.layer)
        calls.append((li, tuple(index[id(p)] for p in node.parents)))
    # Names: the given ones must be unique; the others get class-based names not yet taken.
    given = [n.name for n in inputs if n.name] + [getattr(layer, "name", None) for layer in layers]
    given = [g for g in given if g]
    dup = sorted({g for g in given if given.count(g) > 1})
    if dup:
        raise ValueError(f"names must be unique in a model; used more than once: {', '.join(map(repr, dup))}")
    taken = set(given)
    counters = {}

    def fresh(base):
        k = counters.get(base, 0)
        while True:
            k += 1
            name = f"{base}_{k}"
            if name not in taken:
                counters[base] = k
                taken.add(name)
                return name

    input_specs = [(n.name or fresh("input"), n.shape) for n in inputs]
    names = [getattr(layer, "name", None) or fresh(default_layer_name(type(layer).__name__)) for layer in layers]
    return Graph(layers, names, input_specs, calls, [index[id(n)] for n in outputs], single_input, single_output)


def _add(grads, r, g):
    # a new array: the same gradient array may reach several values (Add passes grad_y on)
    grads[r] = g if grads[r] is None else grads[r] + g


class Model:
    """A graph of layer calls from `inputs` to `outputs` (a node or a list of nodes each).

    - `forward`/`backward` run the calls and keep what backward needs (training code);
    - `predict`/`evaluate` use each layer's eval-mode `infer`, keep nothing and change no state,
      so several Python threads may call them at once; the model's mode is left as it was.
    """

    def __init__(self, inputs, outputs):
        ins, single_in = _node_list(inputs, "inputs")
        outs, single_out = _node_list(outputs, "outputs")
        self._graph_data = _graph_from_nodes(ins, outs, single_in, single_out)
        self._init_state()

    @classmethod
    def _from_graph(cls, graph: Graph):
        model = cls.__new__(cls)
        model._graph_data = graph
        model._init_state()
        return model

    def _init_state(self):
        layers = self._graph().layers
        self.training = all(layer.training for layer in layers) if layers else True
        self.stop_training = False
        self.history = None
        self.optimizer = None
        self.loss = None
        self._run = None

    def _graph(self) -> Graph:
        return self._graph_data

    # -------------------------------------------------------------- structure
    @property
    def layers(self) -> list:
        """The distinct layers, in order of their first call."""
        return list(self._graph().layers)

    @property
    def layer_names(self) -> list:
        return list(self._graph().names)

    @property
    def input_names(self) -> list:
        return [n for n, _ in self._graph().inputs]

    @property
    def output_names(self) -> list:
        g = self._graph()
        return [g.value_name(r) for r in g.outputs]

    @property
    def input_shape(self):
        """The per-sample input shape (a list of them for several inputs)."""
        g = self._graph()
        shapes = [s for _, s in g.inputs]
        return shapes[0] if g.single_input else shapes

    def get_layer(self, name):
        """The layer called `name` (a str), or the layer at position `name` (an int)."""
        g = self._graph()
        if isinstance(name, str):
            if name not in g.names:
                raise ValueError(f"no layer named {name!r}; the layers are {', '.join(map(repr, g.names))}")
            return g.layers[g.names.index(name)]
        idx = as_int(name, "name")
        if not -len(g.layers) <= idx < len(g.layers):
            raise ValueError(f"layer index {idx} is out of range for a model of {len(g.layers)} layers")
        return g.layers[idx]

    def _layer_positions(self, which) -> list:
        """Positions of the layers named or indexed by `which` (one or a list)."""
        items = which if isinstance(which, (list, tuple)) else [which]
        g = self._graph()
        ids = [id(self.get_layer(item)) for item in items]
        return [k for k, layer in enumerate(g.layers) if id(layer) in ids]

    def __repr__(self) -> str:
        g = self._graph()
        lines = [f"  {g.call_label(i)} <- {', '.join(g.value_name(r) for r in refs)}"
                 for i, (_, refs) in enumerate(g.calls)]
        outs = ", ".join(g.value_name(r) for r in g.outputs)
        return f"{type(self).__name__}(\n" + "\n".join(lines) + f"\n  outputs: {outs}\n)"

    # ---------------------------------------------------------------- running
    def _as_inputs(self, x, what="x") -> list:
        """The model's input arrays: `x` itself for one input, else a list (in the order of the
        inputs) or a dict by input name. Checked against the inputs' shapes."""
        g = self._graph()
        if g.single_input:
            arr = as_float_array(x, what)
            name, shape = g.inputs[0]
            if shape is not None and arr.shape[1:] != shape:
                raise ValueError(f"input {name!r} takes samples of shape {shape}, got {what} of shape {arr.shape}")
            return [arr]
        if g.n_in == 1 and not isinstance(x, (list, tuple, dict)):
            xs = [x]
        elif isinstance(x, dict):
            names = [n for n, _ in g.inputs]
            unknown = [k for k in x if k not in names]
            missing = [n for n in names if n not in x]
            if unknown or missing:
                raise ValueError(f"{what} must have exactly the input names {names} as keys"
                                 + (f"; unknown: {unknown}" if unknown else "") + (f"; missing: {missing}" if missing else ""))
            xs = [x[n] for n in names]
        elif isinstance(x, (list, tuple)):
            if len(x) != g.n_in:
                raise ValueError(f"the model has {g.n_in} inputs, {what} holds {len(x)} arrays")
            xs = list(x)
        else:
            raise TypeError(f"the model has {g.n_in} inputs: pass {what} as a list of arrays or a dict by input name, "
                            f"got {type(x).__name__}")
        out = []
        for k, ((name, shape), v) in enumerate(zip(g.inputs, xs)):
            label = what if len(xs) == 1 else f"{what}[{name!r}]"
            arr = as_float_array(v, label)
            if shape is not None and arr.shape[1:] != shape:
                raise ValueError(f"input {name!r} takes samples of shape {shape}, got {label} of shape {arr.shape}")
            if out and arr.shape[:1] != out[0].shape[:1]:
                raise ValueError(f"all inputs must hold the same number of samples, got {out[0].shape[:1]} and "
                                 f"{arr.shape[:1]} ({label})")
            out.append(arr)
        return out

    def _outputs(self, g, values):
        outs = [values[r] for r in g.outputs]
        return outs[0] if g.single_output else outs

    def forward(self, x):
        """Outputs in the current mode, keeping what `backward` needs."""
        g = self._graph()
        xs = self._as_inputs(x)
        self._note_inputs(xs)
        values = xs + [None] * len(g.calls)
        caches = [None] * len(g.calls)
        n_in = g.n_in
        for i, (layer, how, refs, release) in enumerate(g.steps):
            if how == _ONE:
                y = layer.forward(values[refs[0]])
            elif how == _LIST:
                y = layer.forward([values[r] for r in refs])
            elif how == _RELU_AFTER:
                y = layer.forward(values[refs[0]], relu=True)
            else:
                y = layer._adopt_output(values[refs[0]])
            caches[i] = layer._cache
            values[n_in + i] = y
            for r in release:
                values[r] = None
        self._run = (g, caches)
        return self._outputs(g, values)

    __call__ = forward

    def _note_inputs(self, xs):
        """Hook for Sequential, which remembers the per-sample shape it was last run on."""

    def _default_input_shapes(self) -> list:
        return [s for _, s in self._graph().inputs]

    def backward(self, grad_y):
        """Backpropagate `grad_y` (the gradient of the loss with respect to the last forward's
        output; a list for several outputs). Adds the parameter gradients into
        `Parameter.grad` and returns the input gradient (a list for several inputs)."""
        return self._backward(grad_y, need_input_grad=True)

    def _backward(self, grad, need_input_grad=True):
        if self._run is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward(): run forward(x) first "
                               "(backward uses what the last forward kept)")
        g, caches = self._run
        n_in = g.n_in
        grads = [None] * (n_in + len(g.calls))
        if g.single_output:
            _add(grads, g.outputs[0], grad)
        else:
            if not isinstance(grad, (list, tuple)) or len(grad) != len(g.outputs):
                raise ValueError(f"grad_y must be a list of {len(g.outputs)} arrays (one per output)")
            for r, gr in zip(g.outputs, grad):
                if gr is not None:
                    _add(grads, r, as_float_array(gr, "grad_y"))
        for i in range(len(g.back) - 1, -1, -1):
            gy = grads[n_in + i]
            if gy is None:
                continue
            grads[n_in + i] = None
            layer, refs, reads_calls, through = g.back[i]
            layer._cache = caches[i]
            if through is not None:
                relu, j, r = through
                dx = layer._backward_through_relu(gy)
                relu._cache = caches[j]
                relu._take_cache(dx)  # the checks of the ReLU's own backward
                grads[r] = dx if grads[r] is None else grads[r] + dx
                continue
            dx = layer._backward(gy, need_input_grad or reads_calls)
            if dx is None:
                continue
            if not layer._takes_list:
                r = refs[0]
                grads[r] = dx if grads[r] is None else grads[r] + dx
                continue
            for r, d in zip(refs, dx):
                # a new array: Add hands the same gradient to each of its inputs
                grads[r] = d if grads[r] is None else grads[r] + d
        if not need_input_grad:
            return None
        ins = grads[:n_in]
        return ins[0] if g.single_input else ins

    def _infer_list(self, xs):
        """Eval-mode outputs (a list) of one batch of checked input arrays, keeping nothing."""
        g = self._graph()
        values = list(xs)
        append = values.append
        one, relu_after = _ONE, _RELU_AFTER
        for layer, how, refs, release in g.steps:
            if how == one:
                append(layer.infer(values[refs[0]]))
            elif how == relu_after:
                append(layer.infer(values[refs[0]], relu=True))
            elif how == _LIST:
                append(layer.infer([values[r] for r in refs]))
            else:
                append(values[refs[0]])  # the ReLU ran in the previous kernel's epilogue
            for r in release:
                values[r] = None
        return [values[r] for r in g.outputs]

    def infer(self, x):
        """Eval-mode forward of one batch that keeps nothing (what `predict` runs per batch)."""
        outs = self._infer_list(self._as_inputs(x))
        return outs[0] if self._graph().single_output else outs

    def predict(self, x, batch_size: int = 256, steps=None):
        """Outputs for `x` in eval mode, `batch_size` samples at a time (a list of arrays for
        several outputs). `x` may also be a DataLoader or another iterable of batches (`x`, or
        tuples `(x, ...)` whose targets are ignored), read once, or for `steps` batches. The
        mode is not changed and nothing is cached, so several threads may call `predict` on
        one model at once."""
        from .batches import is_batch_source, predict_batches

        if is_batch_source(x):
            return predict_batches(self, x, steps)
        if steps is not None:
            raise ValueError("steps is for an iterable x (e.g. a DataLoader)")
        g = self._graph()
        xs = self._as_inputs(x)
        batch_size = as_int(batch_size, "batch_size", 1)
        if xs[0].ndim < 1 or xs[0].shape[0] == 0:
            raise ValueError(f"x must hold at least one sample, got shape {xs[0].shape}")
        n = xs[0].shape[0]
        outs = None
        for start in range(0, n, batch_size):
            ys = self._infer_list([x[start:start + batch_size] for x in xs])
            if outs is None:
                if n <= batch_size:
                    outs = ys
                    break
                outs = [np.empty((n,) + y.shape[1:], dtype=y.dtype) for y in ys]
            for o, y in zip(outs, ys):
                o[start:start + y.shape[0]] = y
        return outs[0] if g.single_output else outs

    def evaluate(self, x, y=None, batch_size: int = 256, loss=None, metrics=None, steps=None) -> dict:
        """Mean loss and metrics on (x, y), in eval mode.

        The loss is `loss`, else the one of the last `fit`, else cross-entropy. `metrics` as
        in `fit` (default: accuracy for integer class labels). `x` may be a DataLoader or
        another iterable of `(x, y)` / `(x, y, sample_weight)` batches (then `y=None`), read
        once, or for `steps` batches. With several outputs, `y` and `loss` are lists or dicts
        by output name; the result then also holds `"{output}_loss"` (and
        `"{output}_accuracy"`), and "loss" is their sum weighted by the last fit's
        `loss_weights`.
        """
        from .evaluate import evaluate

        return evaluate(self, x, y, batch_size=batch_size, loss=loss, metrics=metrics, steps=steps)

    def fit(self, x, y=None, epochs=1, batch_size=32, optimizer=None, loss=None, validation_data=None, augment=None,
            callbacks=(), shuffle=True, seed=None, verbose=1, loss_weights=None, metrics=None, class_weight=None,
            sample_weight=None, steps_per_epoch=None):
        """Train with mini-batch gradient descent; returns the `History` callback.

        `x, y` are arrays, or `x` is a DataLoader or another iterable of `(x, y)` /
        `(x, y, sample_weight)` batches (`y=None`; `batch_size` and `shuffle` are then the
        loader's business); `steps_per_epoch` makes an epoch of that many batches, for endless
        iterables. Defaults: Adam(lr=1e-3) (the previous fit's optimiser is reused when the
        parameters are the same) and cross-entropy. `augment(x_batch, rng) -> x_batch` runs on
        each batch (one input). `metrics` (names such as "accuracy", "top_k_accuracy" or
        callables) are logged per epoch, on the validation data too. `class_weight` /
        `sample_weight` weigh each sample's loss (Keras's semantics). `seed` fixes shuffling,
        augmentation and dropout: the same seed and thread count give bit-identical weights.
        With several outputs, `y` and `loss` are lists or dicts by output name and
        `loss_weights` (list or dict, default all 1) weighs the per-output losses in the
        total. Ctrl-C ends training and returns the History (`history.interrupted` is True):
        during a step's forward or backward pass it abandons that step (the weights stay those
        of the last completed step), elsewhere training ends after the step; a second Ctrl-C
        raises KeyboardInterrupt at once.
        """
        from .fit import fit

        return fit(self, x, y, epochs, batch_size=batch_size, optimizer=optimizer, loss=loss,
                   validation_data=validation_data, augment=augment, callbacks=callbacks, shuffle=shuffle,
                   seed=seed, verbose=verbose, loss_weights=loss_weights, metrics=metrics,
                   class_weight=class_weight, sample_weight=sample_weight, steps_per_epoch=steps_per_epoch)

    # ------------------------------------------------------------------ state
    def params(self) -> list:
        """Every Parameter once (a shared layer's weights are listed once)."""
        out, seen = [], set()
        for layer in self._graph().layers:
            for p in layer.params():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
        return out

    def zero_grad(self) -> None:
        for p in self.params():
            p.grad.fill(0.0)

    def train(self, mode: bool = True):
        self.training = as_bool(mode, "mode")
        for layer in self._graph().layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def freeze(self, until=None, *, layers=None):
        """Mark parameters as not trainable: those of the layers before `until` (a layer name
        or position, in order of first call; all layers when both are None), or of `layers`
        (a name, a position or a list of them)."""
        g = self._graph()
        if layers is not None:
            if until is not None:
                raise ValueError("freeze takes until or layers, not both")
            chosen = [g.layers[k] for k in self._layer_positions(layers)]
        elif until is None:
            chosen = g.layers
        elif isinstance(until, str):
            chosen = g.layers[:g.layers.index(self.get_layer(until))]
        else:
            chosen = g.layers[:as_int(until, "until")]
        for layer in chosen:
            for p in layer.params():
                p.trainable = False
        return self

    def unfreeze(self, layers=None):
        """Make the parameters trainable again: every layer's, or those of `layers` (a name,
        a position or a list of them)."""
        g = self._graph()
        chosen = g.layers if layers is None else [g.layers[k] for k in self._layer_positions(layers)]
        for layer in chosen:
            for p in layer.params():
                p.trainable = True
        return self

    def _live_tensors(self) -> dict:
        """Live weight and buffer arrays under f"{layer name}.{tensor name}" keys."""
        g = self._graph()
        return {
            f"{name}.{tname}": arr
            for name, layer in zip(g.names, g.layers)
            for tname, arr in layer.named_tensors().items()
        }

    def state_dict(self) -> dict:
        """Copies of the weights and buffers under keys f"{layer name}.{tensor name}"."""
        return {k: arr.copy() for k, arr in self._live_tensors().items()}

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

    # ----------------------------------------------------------------- shapes
    def output_shape(self, input_shape):
        """Output shape(s) for the input shape(s) (batch dimension included)."""
        g = self._graph()
        given = [input_shape] if g.n_in == 1 else list(input_shape)
        shapes = g.shapes([tuple(s[1:]) for s in given])
        outs = [shapes[r] for r in g.outputs]
        if any(s is not None for s in outs):
            batch = given[0][0]
            outs = [None if s is None else (batch,) + tuple(s[1:]) for s in outs]
        return outs[0] if g.single_output else outs

    def flops(self, input_shape=None) -> int:
        """Floating-point operations of one forward for inputs of `input_shape` (batch
        dimension included, None = 1; default: one sample of the inputs' shapes)."""
        g = self._graph()
        if input_shape is None:
            defaults = self._default_input_shapes()
            if any(s is None for s in defaults):
                raise ValueError("the input shape is unknown: pass input_shape")
            given = [(None,) + tuple(s) for s in defaults]
        else:
            given = [tuple(input_shape)] if g.n_in == 1 else [tuple(s) for s in input_shape]
        shapes = g.shapes([s[1:] for s in given])
        batch = given[0][0]
        total = 0
        for i, (li, refs) in enumerate(g.calls):
            layer = g.layers[li]
            ins = [(batch,) + tuple(shapes[r][1:]) for r in refs]
            total += layer.flops(ins if layer._takes_list else ins[0])
        return total

    def summary(self, input_shape=None) -> str:
        """Table of layer calls: name and class, output shape, parameters, FLOPs per sample and
        the values each call reads, then totals."""
        from .summary import summarize_graph

        return summarize_graph(self, input_shape)

    # ------------------------------------------------------------ persistence
    def get_config(self) -> dict:
        """The architecture as JSON-able data (the format saved files hold)."""
        from .config import architecture

        return architecture(self)

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild from `get_config()` output using only classes in LAYER_REGISTRY."""
        from .config import from_architecture

        model = from_architecture(config, "config", require_version=False)
        if not isinstance(model, cls):
            raise ValueError(f"the config describes a {type(model).__name__}, not a {cls.__name__}")
        return model

    def save(self, path) -> None:
        """Write one safetensors file: weights under state_dict keys, architecture as JSON."""
        from .saving import save

        save(self, path)

    def __reduce__(self):
        from .saving import from_bytes, to_bytes

        return (from_bytes, (to_bytes(self),))
