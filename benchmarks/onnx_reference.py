"""ONNX Runtime counterparts for the benchmarks (optional: `pip install onnx onnxruntime`).

Builds ONNX graphs directly with `onnx.helper` (no exporter) for a single convolution and for
a pyconvnet Sequential made of Conv2d / ReLU / MaxPool2d / Flatten / Linear / Dropout layers,
with the same weights, and runs them with a fixed number of intra-op threads.
`sequential_onnx` returns the model's graph itself, for other runtimes that read ONNX
(OpenVINO in bench_serving.py).
"""

from __future__ import annotations

import numpy as np
import pytest


def _modules():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    return onnx, ort


def _model(onnx, graph):
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = min(model.ir_version, 9)
    return model


def _session(onnx, ort, graph, threads: int):
    model = _model(onnx, graph)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def run(x):
        return sess.run(None, {"x": x})[0]

    return run


def conv2d(x_shape, w, b, stride: int, pad: int, threads: int):
    """Callable x -> conv2d(x, w, b) in ONNX Runtime."""
    onnx, ort = _modules()
    h = onnx.helper
    tp = onnx.TensorProto
    n, c, hh, ww = x_shape
    oh = (hh + 2 * pad - w.shape[2]) // stride + 1
    ow = (ww + 2 * pad - w.shape[3]) // stride + 1
    node = h.make_node("Conv", ["x", "w", "b"], ["y"], strides=[stride, stride], pads=[pad] * 4,
                       kernel_shape=list(w.shape[2:]))
    graph = h.make_graph(
        [node], "conv2d",
        [h.make_tensor_value_info("x", tp.FLOAT, list(x_shape))],
        [h.make_tensor_value_info("y", tp.FLOAT, [n, w.shape[0], oh, ow])],
        initializer=[onnx.numpy_helper.from_array(w, "w"), onnx.numpy_helper.from_array(b, "b")],
    )
    return _session(onnx, ort, graph, threads)


def sequential(model, x_shape, threads: int):
    """Callable x -> model.predict(x) in ONNX Runtime (inference graph, same weights)."""
    onnx, ort = _modules()
    return _session(onnx, ort, _sequential_graph(onnx, model, x_shape), threads)


def sequential_onnx(model, x_shape):
    """The ONNX ModelProto of `model`'s inference graph for input shape `x_shape` (input "x",
    output "y"), for other runtimes that read ONNX (needs only the onnx package)."""
    onnx = pytest.importorskip("onnx")
    return _model(onnx, _sequential_graph(onnx, model, x_shape))


def _sequential_graph(onnx, model, x_shape):
    from pyconvnet.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU

    h = onnx.helper
    tp = onnx.TensorProto
    nodes, inits = [], []
    cur = "x"
    for i, layer in enumerate(model.layers):
        out = f"t{i}"
        if isinstance(layer, Conv2d):
            t, l_, bt, r = layer.padding4
            inits += [onnx.numpy_helper.from_array(layer.weight.data, f"w{i}"),
                      onnx.numpy_helper.from_array(layer.bias.data, f"b{i}")]
            nodes.append(h.make_node("Conv", [cur, f"w{i}", f"b{i}"], [out], strides=list(layer.stride),
                                     pads=[t, l_, bt, r], dilations=list(layer.dilation), group=layer.groups,
                                     kernel_shape=list(layer.kernel_size)))
        elif isinstance(layer, ReLU):
            nodes.append(h.make_node("Relu", [cur], [out]))
        elif isinstance(layer, MaxPool2d):
            nodes.append(h.make_node("MaxPool", [cur], [out], kernel_shape=list(layer.kernel_size),
                                     strides=list(layer.stride)))
        elif isinstance(layer, Flatten):
            nodes.append(h.make_node("Flatten", [cur], [out], axis=1))
        elif isinstance(layer, Linear):
            inits += [onnx.numpy_helper.from_array(layer.weight.data, f"w{i}"),
                      onnx.numpy_helper.from_array(layer.bias.data, f"b{i}")]
            nodes.append(h.make_node("Gemm", [cur, f"w{i}", f"b{i}"], [out], transB=1))
        elif isinstance(layer, Dropout):
            continue  # identity at inference
        else:  # pragma: no cover - only the benchmark networks are needed
            raise TypeError(f"no ONNX mapping for {type(layer).__name__}")
        cur = out
    nodes.append(h.make_node("Identity", [cur], ["y"]))
    out_shape = list(model.output_shape((x_shape[0],) + tuple(x_shape[1:])))
    graph = h.make_graph(nodes, "sequential", [h.make_tensor_value_info("x", tp.FLOAT, list(x_shape))],
                         [h.make_tensor_value_info("y", tp.FLOAT, out_shape)], initializer=inits)
    return graph
