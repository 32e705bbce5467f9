"""pyconvnet.Model / Sequential -> ONNX file.

The model's graph (`Model._graph()`: layers, calls, inputs, outputs) is walked in call order;
each layer call becomes the nodes `operators.EXPORTERS` writes for its class, with the
weights as initializers named after the layer. The batch dimension is the symbol "N".
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .operators import EXPORTERS

__all__ = ["export_model"]

MIN_EXPORT_OPSET, MAX_EXPORT_OPSET = 13, 21


class ExportContext:
    """Collects nodes and initializers; names values uniquely."""

    def __init__(self, opset):
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.shapes = {}
        self.used = set()
        self.prefix = ""

    def fresh(self, base):
        base = base or "v"
        name, k = base, 1
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        return name

    def const(self, array, hint):
        name = self.fresh(f"{self.prefix}.{hint}")
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.fresh(f"{self.prefix}/{op}")
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out

    def shape(self, value):
        s = self.shapes.get(value)
        if s is None or any(d is None for d in s[1:]):
            raise ValueError(f"exporting this layer needs the shape of its input; give the model an input "
                             f"shape (export(..., input_shape=(C, H, W)))")
        return s

    def rank(self, value):
        s = self.shapes.get(value)
        if s is None:
            raise ValueError("exporting this layer needs the rank of its input; pass input_shape=")
        return len(s)


def _graph_of(model, input_shape):
    g = model._graph()
    inputs = list(g.inputs)
    if input_shape is not None:
        if len(inputs) != 1:
            raise ValueError("input_shape= is only for models with one input")
        inputs = [(inputs[0][0], tuple(int(d) for d in input_shape))]
    shapes = g.shapes([s for _, s in inputs]) if all(s is not None for _, s in inputs) else None
    return g, inputs, shapes


def export_model(model, path, opset=17, input_shape=None):
    if isinstance(opset, bool) or not isinstance(opset, int):
        raise TypeError(f"opset must be an int, got {type(opset).__name__}")
    if not MIN_EXPORT_OPSET <= opset <= MAX_EXPORT_OPSET:
        raise ValueError(f"opset must be in [{MIN_EXPORT_OPSET}, {MAX_EXPORT_OPSET}], got {opset}")
    if not hasattr(model, "_graph"):
        raise TypeError(f"model must be a pyconvnet Model or Sequential, got {type(model).__name__}")
    g, inputs, shapes = _graph_of(model, input_shape)
    ctx = ExportContext(opset)

    value_names = []
    graph_inputs = []
    for k, (name, shape) in enumerate(inputs):
        vname = ctx.fresh(name or f"input_{k}")
        value_names.append(vname)
        if shape is None:
            raise ValueError("the model's input shape is unknown: pass input_shape=(C, H, W) to export")
        ctx.shapes[vname] = (None,) + tuple(shape)
        graph_inputs.append(helper.make_tensor_value_info(vname, TensorProto.FLOAT, ["N"] + list(shape)))

    for i, (li, refs) in enumerate(g.calls):
        layer = g.layers[li]
        kind = type(layer).__name__
        fn = EXPORTERS.get(kind)
        if fn is None:
            raise NotImplementedError(f"layer {g.names[li]!r} ({kind}) has no ONNX export; exportable layers: "
                                      f"{', '.join(sorted(EXPORTERS))}")
        ctx.prefix = g.names[li]
        out = fn(ctx, layer, [value_names[r] for r in refs])
        value_names.append(out)
        if shapes is not None:
            ctx.shapes[out] = shapes[g.n_in + i]

    graph_outputs = []
    for k, r in enumerate(g.outputs):
        name = value_names[r]
        shape = shapes[r] if shapes is not None else None
        dims = None if shape is None else ["N"] + list(shape[1:])
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))

    graph = helper.make_graph(ctx.nodes, "pyconvnet", graph_inputs, graph_outputs, ctx.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pyconvnet")
    # the lowest IR version that carries this opset, so that older runtimes read the file
    proto.ir_version = min(proto.ir_version, 8 if opset <= 18 else 9 if opset <= 20 else 10)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        with open(os.fspath(path), "wb") as f:
            f.write(proto.SerializeToString())
    return proto
