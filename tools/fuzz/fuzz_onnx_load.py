"""Fuzz target: pyconvnet.onnx.load on arbitrary bytes, then one predict of what loads (see
harness.py). ONNX files are untrusted input: only ValueError/TypeError/NotImplementedError may
escape, never a crash, a hang or an unbounded allocation."""

import os
import tempfile

import harness

with harness.instrumented():
    import numpy as np
    import pyconvnet
    from pyconvnet import layers as L
    from pyconvnet import onnx as pcn_onnx


def _exported(model, shape) -> bytes:
    fd, path = tempfile.mkstemp(suffix=".onnx")
    os.close(fd)
    try:
        pcn_onnx.export(model, path, input_shape=shape)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.remove(path)


def seeds() -> dict:
    chain = pyconvnet.Sequential([L.Conv2d(1, 2, 3, padding=1), L.BatchNorm2d(2), L.ReLU(), L.MaxPool2d(2),
                                  L.Flatten(), L.Linear(2 * 2 * 2, 3), L.Softmax()], input_shape=(1, 4, 4))
    x = pyconvnet.Input((2, 4, 4))
    y = L.Conv2d(2, 2, 1)(x)
    z = L.Concat()([L.Add()([x, y]), L.Upsample(scale_factor=1)(y)])
    graph = pyconvnet.Model(x, L.GlobalAvgPool2d()(z))
    out = {"chain": _exported(chain, (1, 4, 4)), "graph": _exported(graph, (2, 4, 4))}
    out["chain_cut"] = out["chain"][: len(out["chain"]) // 2]
    return out


def one_input(data: bytes) -> None:
    model = pcn_onnx.load(data)
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if all(s is not None and 0 < int(np.prod(s)) <= 1 << 16 for s in shapes):
        xs = [np.zeros((1,) + s, np.float32) for s in shapes]
        model.predict(xs if len(xs) > 1 else xs[0])


if __name__ == "__main__":
    harness.main(one_input, tokens=(b"Conv", b"Relu", b"Add", b"Concat", b"Reshape", b"MaxPool", b"Gemm"))
