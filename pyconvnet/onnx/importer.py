"""ONNX file -> pyconvnet.Model.

The file is untrusted input: it is parsed, its tensors' sizes checked against their declared
dimensions, and its graph checked (every input defined, no cycles, no duplicate outputs) before
anything is built; violations raise ValueError. Nodes then run in topological order: a node
whose inputs are all constants is evaluated with NumPy (constant folding), any other is turned
into layers by its converter in `operators.py`. What a converter cannot express raises
NotImplementedError naming the operator and the node.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict, deque

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import layers as L
from ..init import _skipping_init
from ..layers.base import Parameter
from ..layers.node import Input
from ..model import Model
from .operators import OPERATORS, Sym, malformed, unsupported

__all__ = ["load_model"]

# The contract's opsets are 9-21; 22-25 changed the operators read here only by allowing more
# element types (bfloat16, float8, 4-bit), so files of those opsets import the same way.
MIN_OPSET, MAX_OPSET = 9, 25
# Larger tensors or dimensions can only be corrupt or hostile files (2**31 floats is 8 GiB).
MAX_ELEMENTS = 1 << 31
MAX_DIM = 1 << 31
MAX_NODES = 1 << 20

_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
# data type -> the typed field that holds its values when raw_data is absent
_FIELDS = {
    onnx.TensorProto.FLOAT: "float_data", onnx.TensorProto.DOUBLE: "double_data",
    onnx.TensorProto.INT64: "int64_data", onnx.TensorProto.UINT64: "uint64_data",
    onnx.TensorProto.INT32: "int32_data", onnx.TensorProto.INT16: "int32_data",
    onnx.TensorProto.INT8: "int32_data", onnx.TensorProto.UINT8: "int32_data",
    onnx.TensorProto.UINT16: "int32_data", onnx.TensorProto.BOOL: "int32_data",
    onnx.TensorProto.FLOAT16: "int32_data", onnx.TensorProto.UINT32: "uint64_data",
}


# ------------------------------------------------------------------------------ reading
def _read(source) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    else:
        raise TypeError(f"source must be a path, bytes or onnx.ModelProto, got {type(source).__name__}")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError (or RuntimeError for some inputs)
        raise ValueError(f"not a valid ONNX file: {exc}") from None
    if not model.HasField("graph"):
        raise ValueError("not a valid ONNX file: it holds no graph")
    return model


def tensor_to_array(t, where: str) -> np.ndarray:
    """A TensorProto as a NumPy array, after checking its size against its dimensions."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise NotImplementedError(f"{where}: tensors stored in external data files are not supported")
    if t.data_type not in _FIELDS:
        raise NotImplementedError(f"{where}: tensor data type {onnx.TensorProto.DataType.Name(t.data_type)}")
    dims = list(t.dims)
    if any(d < 0 or d > MAX_DIM for d in dims):
        raise ValueError(f"{where}: invalid dimensions {dims}")
    count = math.prod(dims)
    if count > MAX_ELEMENTS:
        raise ValueError(f"{where}: {count} elements is too large")
    np_type = helper.tensor_dtype_to_np_dtype(t.data_type)
    if t.HasField("raw_data") or t.raw_data:
        if len(t.raw_data) != count * np.dtype(np_type).itemsize:
            raise ValueError(f"{where}: raw data holds {len(t.raw_data)} bytes, dimensions {dims} need "
                             f"{count * np.dtype(np_type).itemsize}")
    else:
        have = len(getattr(t, _FIELDS[t.data_type]))
        if have != count:
            raise ValueError(f"{where}: holds {have} values, dimensions {dims} need {count}")
    try:
        return np.array(numpy_helper.to_array(t))
    except Exception as exc:
        raise ValueError(f"{where}: unreadable tensor data: {exc}") from None


def _attributes(node) -> dict:
    attrs = {}
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise unsupported(node, f"subgraph attribute {a.name!r}")
        if a.type == onnx.AttributeProto.TENSOR:
            attrs[a.name] = tensor_to_array(a.t, f"node {node.name!r} attribute {a.name!r}")
            continue
        if a.type == onnx.AttributeProto.SPARSE_TENSOR:
            raise unsupported(node, f"sparse tensor attribute {a.name!r}")
        try:
            v = helper.get_attribute_value(a)
        except Exception as exc:  # an attribute whose type field is corrupt
            raise malformed(node, f"unreadable attribute {a.name!r}: {exc}") from None
        if v is None:
            raise malformed(node, f"attribute {a.name!r} has no value")
        attrs[a.name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
    return attrs


def _opset(model) -> int:
    version = None
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            version = int(imp.version)
    if version is None:
        raise ValueError("the model imports no version of the default ONNX operator set")
    if not MIN_OPSET <= version <= MAX_OPSET:
        raise NotImplementedError(f"opset {version}: pyconvnet imports opsets {MIN_OPSET} to {MAX_OPSET}")
    return version


def _check_strings(graph):
    """Names that are not valid UTF-8 reach Python as bytes: reject them up front."""
    def bad(v):
        return not isinstance(v, str)

    for t in list(graph.initializer) + list(graph.input) + list(graph.output):
        if bad(t.name):
            raise ValueError(f"a graph name is not valid UTF-8: {t.name!r}")
    for n in graph.node:
        if any(bad(v) for v in [n.name, n.op_type, n.domain, *n.input, *n.output]):
            raise ValueError(f"a name in a node is not valid UTF-8 (node {n.name!r})")


def _order(graph, known: set) -> list:
    """The nodes in an order where each runs after its inputs' producers; ValueError on dangling
    inputs, duplicate outputs and cycles."""
    nodes = list(graph.node)
    if len(nodes) > MAX_NODES:
        raise ValueError(f"the graph has {len(nodes)} nodes, more than {MAX_NODES}")
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if not o:
                continue
            if o in producer or o in known:
                raise ValueError(f"value {o!r} is produced twice (node {n.name!r})")
            producer[o] = i
    deps = [set() for _ in nodes]
    users = defaultdict(list)
    for i, n in enumerate(nodes):
        for name in n.input:
            if not name or name in known:
                continue
            if name not in producer:
                raise ValueError(f"node {n.name!r} ({n.op_type}) reads {name!r}, which no node, input or "
                                 "initializer defines")
            j = producer[name]
            if j not in deps[i]:
                deps[i].add(j)
                users[j].append(i)
    ready = deque(i for i, d in enumerate(deps) if not d)
    left = [len(d) for d in deps]
    order = []
    while ready:
        i = ready.popleft()
        order.append(nodes[i])
        for u in users[i]:
            left[u] -= 1
            if left[u] == 0:
                ready.append(u)
    if len(order) != len(nodes):
        stuck = [nodes[i].name or nodes[i].op_type for i in range(len(nodes)) if left[i] > 0][:3]
        raise ValueError(f"the graph has a cycle (through nodes {stuck})")
    for o in graph.output:
        if o.name not in producer and o.name not in known:
            raise ValueError(f"graph output {o.name!r} is not computed by any node")
    return order


def _input_shape(vi) -> tuple:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type"):
        raise NotImplementedError(f"graph input {vi.name!r} is not a tensor")
    if t.elem_type not in _FLOAT_TYPES:
        raise NotImplementedError(f"graph input {vi.name!r} has data type "
                                  f"{onnx.TensorProto.DataType.Name(t.elem_type)}; only floating-point inputs")
    if not t.HasField("shape"):
        raise ValueError(f"graph input {vi.name!r} has no shape")
    dims = []
    for k, d in enumerate(t.shape.dim):
        if d.HasField("dim_value"):
            if not 0 < d.dim_value <= MAX_DIM:
                raise ValueError(f"graph input {vi.name!r} has dimension {d.dim_value}")
            dims.append(int(d.dim_value))
        elif k == 0:
            dims.append(None)
        else:
            raise NotImplementedError(f"graph input {vi.name!r}: dimension {k} is dynamic "
                                      f"({d.dim_param or '?'}); only the batch dimension may be")
    if len(dims) < 2:
        raise NotImplementedError(f"graph input {vi.name!r} of rank {len(dims)}: inputs need a batch "
                                  "dimension and at least one more")
    return tuple(dims)


# ------------------------------------------------------------------------------ context
class ImportContext:
    """What converters use to build layers; also holds the fusions (BatchNorm into Conv, ...)."""

    def __init__(self, opset, uses, outputs, static_batch):
        self.opset = opset
        self.uses = uses
        self.outputs = outputs
        self.static_batch = static_batch
        self.names = set()
        self.owned = set()  # ids of layers this import created (only those are rewritten)
        self.produced_as = {}  # id(Sym.node) -> the ONNX value name it was produced under
        self.node = None

    # -- helpers for converters
    def check_size(self, node, shape):
        if math.prod(shape) > MAX_ELEMENTS:
            raise malformed(node, f"a tensor of shape {list(shape)} is too large")

    def is_used(self, name) -> bool:
        return self.uses.get(name, 0) > 0

    def _name(self, node, suffix):
        base = node.name or ""
        name = f"{base}_{suffix}" if (base and suffix) else base
        if not name or len(name) > 256 or not name.isprintable() or name in self.names:
            return None
        self.names.add(name)
        return name

    def apply(self, node, layer, x, suffix=None):
        """Call `layer` on the Sym(s) `x`; return the output Sym."""
        if isinstance(layer, L.Reshape) and isinstance(x, Sym) and self._owned_layer(x, L.Reshape):
            parent = x.node.parents[0]
            if tuple(layer.target_shape) == parent.shape:
                return Sym(parent, (None,) + parent.shape)
            x = Sym(parent, (None,) + parent.shape)  # a reshape of a reshape is one reshape
        layer.name = self._name(node, suffix)
        self.owned.add(id(layer))
        try:
            out = layer([s.node for s in x] if isinstance(x, list) else x.node)
        except ValueError as exc:
            raise malformed(node, str(exc)) from None
        if node.output:
            self.produced_as[id(out)] = node.output[0]
        return Sym(out, (None,) + out.shape)

    def _owned_layer(self, x, cls):
        layer = x.node.layer
        return layer is not None and id(layer) in self.owned and type(layer) is cls

    def _single_use(self, x) -> bool:
        name = self.produced_as.get(id(x.node))
        return name is not None and self.uses.get(name, 0) == 1 and name not in self.outputs \
            and self.node.input and self.node.input[0] == name

    def linear(self, node, x, weight, bias):
        layer = L.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        layer.weight.data[...] = weight
        if bias is not None:
            layer.bias.data[...] = bias
        return self.apply(node, layer, x)

    def affine(self, node, x, mul, add):
        layer = L.ChannelAffine(x.shape[1])
        layer.weight.data[...] = mul
        layer.bias.data[...] = add
        return self.apply(node, layer, x)

    def affine_or_fold(self, node, x, mul, add):
        folded = self.fold_into_producer(x, mul, add)
        return folded if folded is not None else self.affine(node, x, mul, add)

    def fold_into_producer(self, x, mul, add):
        """y = x * mul[c] + add[c] folded into the Conv2d / Linear / ChannelAffine that made x
        (when nothing else reads x); returns x, now meaning y, or None."""
        layer = x.node.layer
        if layer is None or id(layer) not in self.owned or not self._single_use(x):
            return None
        mul = np.asarray(mul, np.float64)
        add = np.asarray(add, np.float64)
        if isinstance(layer, (L.Conv2d, L.Linear)):
            w = layer.weight.data.astype(np.float64)
            layer.weight.data[...] = w * mul.reshape((-1,) + (1,) * (w.ndim - 1))
            b = np.zeros(w.shape[0]) if layer.bias is None else layer.bias.data.astype(np.float64)
            if layer.bias is None:
                layer.bias = Parameter(np.zeros(w.shape[0], np.float32))
            layer.bias.data[...] = b * mul + add
        elif isinstance(layer, L.ChannelAffine):
            layer.weight.data[...] = layer.weight.data * mul
            layer.bias.data[...] = layer.bias.data * mul + add
        else:
            return None
        self.produced_as[id(x.node)] = self.node.output[0]
        return x

    def channel_shuffle_pattern(self, node, x, perm):
        """Reshape (N, C, H, W) -> (N, g, C/g, H, W), Transpose (0, 2, 1, 3, 4): ShuffleNet's
        channel shuffle, computed by ChannelShuffle (the Reshape back is then a no-op)."""
        if perm != [0, 2, 1, 3, 4] or len(x.shape) != 5 or not self._owned_layer(x, L.Reshape):
            return None
        parent = x.node.parents[0]
        if len(parent.shape) != 3 or parent.shape[1:] != x.shape[3:]:
            return None
        g, k = x.shape[1], x.shape[2]
        shuffled = self.apply(node, L.ChannelShuffle(g), Sym(parent, (None,) + parent.shape))
        return self.apply(node, L.Reshape((k, g) + x.shape[3:]), shuffled, suffix="split")


# ------------------------------------------------------------------------------ import
def _run(ctx, op, node, args, attrs):
    present = [a for a in args if a is not None]
    if op.fold is not None and all(isinstance(a, np.ndarray) for a in present):
        return [r if r is None or isinstance(r, Sym) else np.asarray(r) for r in op.fold(ctx, node, args, attrs)]
    if op.convert is not None:
        if not present:
            raise malformed(node, "no inputs")
        return op.convert(ctx, node, args, attrs)
    raise unsupported(node, "its inputs must be constants (it is only folded at load)")


def load_model(source, initializers=None):
    # every weight of an imported layer is overwritten from the file: skip drawing them
    with _skipping_init():
        return _load(source, initializers)


def _load(source, initializers):
    model = _read(source)
    opset = _opset(model)
    for imp in model.opset_import:
        if imp.domain not in ("", "ai.onnx"):
            used = [n for n in model.graph.node if n.domain == imp.domain]
            if used:
                raise unsupported(used[0], f"operator domain {imp.domain!r}")
    graph = model.graph
    _check_strings(graph)

    values = {}
    for i, t in enumerate(graph.initializer):
        if not t.name:
            raise ValueError(f"initializer {i} has no name")
        if t.name in values:
            raise ValueError(f"initializer {t.name!r} is defined twice")
        values[t.name] = tensor_to_array(t, f"initializer {t.name!r}")
    for name, arr in (initializers or {}).items():
        values[name] = np.array(arr)

    data_inputs = [vi for vi in graph.input if vi.name not in values]
    if not data_inputs:
        raise ValueError("the graph has no input that is not an initializer")
    input_names = [vi.name for vi in data_inputs]
    if len(set(input_names)) != len(input_names):
        raise ValueError("the graph declares an input twice")
    inputs = []
    static_batch = None
    for vi in data_inputs:
        shape = _input_shape(vi)
        if static_batch is None and shape[0] is not None:
            static_batch = shape[0]
        node = Input(shape[1:], name=vi.name)
        inputs.append(node)
        values[vi.name] = Sym(node, (None,) + shape[1:])

    order = _order(graph, set(values))
    uses = defaultdict(int)
    for n in graph.node:
        for name in n.input:
            if name:
                uses[name] += 1
    outputs = {o.name for o in graph.output}
    for name in outputs:
        uses[name] += 1
    ctx = ImportContext(opset, uses, outputs, static_batch)

    for node in order:
        if node.domain not in ("", "ai.onnx"):
            raise unsupported(node, f"operator domain {node.domain!r}")
        op = OPERATORS.get(node.op_type)
        if op is None:
            raise NotImplementedError(f"ONNX operator {node.op_type} (node {node.name!r}) is not supported; "
                                      f"pyconvnet imports {', '.join(sorted(OPERATORS))}")
        args = [values[name] if name else None for name in node.input]
        attrs = _attributes(node)
        ctx.node = node
        try:
            results = _run(ctx, op, node, args, attrs)
        except (TypeError, KeyError, IndexError) as exc:
            # attributes of the wrong type or count, missing required ones: a malformed file
            raise malformed(node, f"invalid attributes or inputs ({type(exc).__name__}: {exc})") from None
        for name, value in zip(node.output, results):
            if name:
                values[name] = value

    if not graph.output:
        raise ValueError("not a usable ONNX model: the graph declares no outputs")
    outs = []
    for o in graph.output:
        if o.name not in values:
            raise ValueError(f"not a usable ONNX model: graph output {o.name!r} is computed by no node")
        v = values[o.name]
        if not isinstance(v, Sym):
            raise NotImplementedError(f"graph output {o.name!r} is a constant; pyconvnet models compute "
                                      "their outputs from their inputs")
        if v.node.layer is None:  # an output that is an input: give it a layer to be computed by
            v = ctx.apply(onnx.NodeProto(name=o.name), L.Identity(), v)
        outs.append(v.node)
    return Model(inputs if len(inputs) > 1 else inputs[0], outs if len(outs) > 1 else outs[0])
