"""pyconvnet.onnx: import across opsets (checked against onnx's ReferenceEvaluator), constant
folding, a dynamic batch, malformed and unsupported files, torch-exported models, and export
round trips checked by ONNX Runtime and onnx.checker."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import pyconvnet  # noqa: E402
import pyconvnet.onnx as pcn_onnx  # noqa: E402
from pyconvnet import layers as L  # noqa: E402

RNG = np.random.default_rng(0)


def make(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 8
    return model


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def reference(model, x):
    """ONNX Runtime's output (onnx's ReferenceEvaluator without it), one sample at a time so
    that files declaring batch 1 run on a batch."""
    try:
        import onnxruntime as ort
    except ImportError:
        run = ReferenceEvaluator(model).run
    else:
        run = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run
    name = model.graph.input[0].name
    return np.concatenate([run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def check_against_reference(model, x, rtol=1e-5, atol=1e-5):
    ours = pcn_onnx.load(model).predict(x)
    np.testing.assert_allclose(ours, reference(model, x), rtol=rtol, atol=atol)
    return ours


# ------------------------------------------------------------------ opset differences
@pytest.mark.parametrize("opset", [9, 11, 13, 21])
def test_clip_min_max_as_attributes_or_inputs(opset):
    if opset < 11:
        node = helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.25)
        inits = []
    else:
        node = helper.make_node("Clip", ["x", "lo", "hi"], ["y"])
        inits = [init("lo", np.float32(-0.5)), init("hi", np.float32(0.25))]
    model = make([node], [vi("x", [1, 3, 4])], [vi("y", [1, 3, 4])], inits, opset)
    check_against_reference(model, RNG.normal(size=(2, 3, 4)).astype(np.float32))


@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze_unsqueeze_axes_attribute_or_input(opset):
    if opset < 13:
        nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[2]),
                 helper.make_node("Squeeze", ["u"], ["y"], axes=[2])]
        inits = []
    else:
        nodes = [helper.make_node("Unsqueeze", ["x", "ax"], ["u"]),
                 helper.make_node("Squeeze", ["u", "ax"], ["y"])]
        inits = [init("ax", np.array([2], np.int64))]
    nodes.append(helper.make_node("Relu", ["y"], ["z"]))
    model = make(nodes, [vi("x", [1, 3, 4])], [vi("z", [1, 3, 4])], inits, opset)
    check_against_reference(model, RNG.normal(size=(3, 3, 4)).astype(np.float32))


@pytest.mark.parametrize("opset", [9, 13, 19])
def test_pad_attribute_or_input(opset):
    pads = [0, 0, 1, 2, 0, 0, 3, 0]
    if opset < 11:
        node = helper.make_node("Pad", ["x"], ["y"], pads=pads, value=0.5, mode="constant")
        inits = []
    else:
        node = helper.make_node("Pad", ["x", "p", "v"], ["y"], mode="constant")
        inits = [init("p", np.array(pads, np.int64)), init("v", np.float32(0.5))]
    model = make([node], [vi("x", [1, 2, 3, 3])], [vi("y", [1, 2, 7, 5])], inits, opset)
    check_against_reference(model, RNG.normal(size=(2, 2, 3, 3)).astype(np.float32))


@pytest.mark.parametrize("opset", [9, 12, 13])
def test_dropout_is_the_identity_in_inference(opset):
    attrs = {"ratio": 0.3} if opset < 12 else {}
    node = helper.make_node("Dropout", ["x"], ["y"], **attrs)
    relu = helper.make_node("Relu", ["y"], ["z"])
    model = make([node, relu], [vi("x", [1, 5])], [vi("z", [1, 5])], [], opset)
    x = RNG.normal(size=(4, 5)).astype(np.float32)
    np.testing.assert_array_equal(pcn_onnx.load(model).predict(x), np.maximum(x, 0))


@pytest.mark.parametrize("opset", [9, 13])
def test_softmax_axis_default_changed_in_opset_13(opset):
    node = helper.make_node("Softmax", ["x"], ["y"])
    model = make([node], [vi("x", [1, 3, 4])], [vi("y", [1, 3, 4])], [], opset)
    x = RNG.normal(size=(2, 3, 4))
    # before 13: over all axes from 1 on (the input seen as 2-D); from 13: over the last axis
    # (onnx's ReferenceEvaluator applies the new rule to old opsets, so the oracle is written here)
    flat = x.reshape(2, -1) if opset < 13 else x
    e = np.exp(flat - flat.max(axis=-1, keepdims=True))
    want = (e / e.sum(axis=-1, keepdims=True)).reshape(x.shape)
    np.testing.assert_allclose(pcn_onnx.load(model).predict(x.astype(np.float32)), want, rtol=1e-5, atol=1e-6)


def test_conv_asymmetric_pads_same_upper_and_bn_fold():
    w = RNG.normal(size=(4, 3, 3, 3)).astype(np.float32)
    b = RNG.normal(size=4).astype(np.float32)
    bn = [RNG.uniform(0.5, 1.5, 4), RNG.normal(size=4), RNG.normal(size=4), RNG.uniform(0.5, 2, 4)]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[0, 1, 2, 1], strides=[2, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["n"], epsilon=1e-3),
        helper.make_node("Conv", ["n", "w2"], ["d"], auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("MaxPool", ["d"], ["y"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]),
    ]
    inits = [init("w", w), init("b", b), init("w2", RNG.normal(size=(5, 4, 3, 3)).astype(np.float32))]
    inits += [init(n, v.astype(np.float32)) for n, v in zip("somv", bn)]
    model = make(nodes, [vi("x", ["N", 3, 9, 8])], [vi("y", None)], inits)
    check_against_reference(model, RNG.normal(size=(2, 3, 9, 8)).astype(np.float32), rtol=1e-4, atol=1e-4)
    imported = pcn_onnx.load(model)
    kinds = [type(layer).__name__ for layer in imported.layers]
    assert "BatchNorm2d" not in kinds  # folded into the convolution before it


def test_constant_subgraph_folds_to_a_batch_keeping_reshape():
    """torch's flatten of old: Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["f"]),
        helper.make_node("Gemm", ["f", "w"], ["y"], transB=1),
    ]
    inits = [init("zero", np.array(0, np.int64)), init("ax", np.array([0], np.int64)),
             init("minus1", np.array([-1], np.int64)), init("w", RNG.normal(size=(3, 24)).astype(np.float32))]
    model = make(nodes, [vi("x", ["N", 2, 3, 4])], [vi("y", ["N", 3])], inits)
    x = RNG.normal(size=(5, 2, 3, 4)).astype(np.float32)
    out = check_against_reference(model, x)
    assert out.shape == (5, 3)
    assert [type(layer).__name__ for layer in pcn_onnx.load(model).layers] == ["Reshape", "Linear"]


def test_batch_stays_dynamic_for_a_file_exported_with_batch_1():
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["f"]), helper.make_node("Relu", ["f"], ["y"])]
    model = make(nodes, [vi("x", [1, 2, 3])], [vi("y", [1, 6])], [init("shape", np.array([1, 6], np.int64))])
    x = RNG.normal(size=(4, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(pcn_onnx.load(model).predict(x), np.maximum(x.reshape(4, 6), 0))


def test_merge_operators_and_per_channel_constants():
    nodes = [
        helper.make_node("Mul", ["x", "scale"], ["a"]),
        helper.make_node("Add", ["a", "shift"], ["b"]),
        helper.make_node("Sub", ["b", "shift"], ["b2"]),
        helper.make_node("Div", ["b2", "scale"], ["b3"]),
        helper.make_node("Sum", ["x", "b3", "b"], ["c"]),
        helper.make_node("Mul", ["c", "x"], ["d"]),
        helper.make_node("Concat", ["d", "x"], ["y"], axis=1),
    ]
    inits = [init("scale", RNG.uniform(1, 2, size=(3, 1, 1)).astype(np.float32)),
             init("shift", RNG.normal(size=(1, 3, 1, 1)).astype(np.float32))]
    model = make(nodes, [vi("x", [1, 3, 4, 4])], [vi("y", [1, 6, 4, 4])], inits)
    check_against_reference(model, RNG.normal(size=(2, 3, 4, 4)).astype(np.float32))


def test_shufflenet_pattern_becomes_channel_shuffle():
    nodes = [
        helper.make_node("Reshape", ["x", "s5"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t", "s4"], ["y"]),
    ]
    inits = [init("s5", np.array([1, 3, 2, 5, 5], np.int64)), init("s4", np.array([1, -1, 5, 5], np.int64))]
    model = make(nodes, [vi("x", [1, 6, 5, 5])], [vi("y", [1, 6, 5, 5])], inits)
    check_against_reference(model, RNG.normal(size=(2, 6, 5, 5)).astype(np.float32))
    assert [type(layer).__name__ for layer in pcn_onnx.load(model).layers] == ["ChannelShuffle"]


# ------------------------------------------------------------------ malformed and unsupported
def relu_model():
    return make([helper.make_node("Relu", ["x"], ["y"], name="r")], [vi("x", [1, 3])], [vi("y", [1, 3])])


def test_bad_bytes_raise_value_error():
    with pytest.raises(ValueError, match="ONNX"):
        pcn_onnx.load(b"\x08\x07garbage\xff\xff\xff")
    good = relu_model().SerializeToString()
    with pytest.raises(ValueError):
        pcn_onnx.load(good[: len(good) // 2])
    with pytest.raises(TypeError, match="source"):
        pcn_onnx.load(12)


def test_dangling_input_cycle_and_duplicate_output():
    dangling = make([helper.make_node("Relu", ["nowhere"], ["y"], name="r")], [vi("x", [1, 3])], [vi("y", [1, 3])])
    with pytest.raises(ValueError, match="nowhere"):
        pcn_onnx.load(dangling)
    cycle = make([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                  helper.make_node("Relu", ["a"], ["b"], name="n2")], [vi("x", [1, 3])], [vi("b", [1, 3])])
    with pytest.raises(ValueError, match="cycle"):
        pcn_onnx.load(cycle)
    twice = make([helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Relu", ["x"], ["y"], name="b")],
                 [vi("x", [1, 3])], [vi("y", [1, 3])])
    with pytest.raises(ValueError, match="twice"):
        pcn_onnx.load(twice)


def test_graphs_without_outputs_or_inputs_or_with_an_unproduced_output():
    """Found by tools/fuzz/fuzz_onnx_load.py: these raised IndexError/KeyError."""
    relu = helper.make_node("Relu", ["x"], ["y"], name="r")
    with pytest.raises(ValueError, match="no outputs"):
        pcn_onnx.load(make([relu], [vi("x", [1, 3])], []))
    with pytest.raises(ValueError, match="no input"):
        pcn_onnx.load(make([helper.make_node("Relu", ["w"], ["y"], name="r")], [], [vi("y", [3])],
                           [init("w", np.ones(3, np.float32))]))
    with pytest.raises(ValueError, match="'z'"):
        pcn_onnx.load(make([relu], [vi("x", [1, 3])], [vi("z", [1, 3])]))


def raw_tensor(name, dims, raw):
    """A float tensor whose raw bytes need not match its dimensions (onnx.helper checks them)."""
    t = TensorProto()
    t.name, t.data_type, t.raw_data = name, TensorProto.FLOAT, raw
    t.dims.extend(dims)
    return t


def test_wrong_initializer_size_and_absurd_dims():
    bad = raw_tensor("w", [3, 4], np.zeros(5, np.float32).tobytes())
    model = make([helper.make_node("MatMul", ["x", "w"], ["y"], name="m")], [vi("x", [1, 3])], [vi("y", [1, 4])], [bad])
    with pytest.raises(ValueError, match="'w'"):
        pcn_onnx.load(model)
    huge = raw_tensor("w", [1 << 20, 1 << 20], b"")
    model = make([helper.make_node("MatMul", ["x", "w"], ["y"], name="m")], [vi("x", [1, 3])], [vi("y", [1, 4])], [huge])
    with pytest.raises(ValueError, match="too large|need"):
        pcn_onnx.load(model)
    with pytest.raises(ValueError, match="dimension"):
        pcn_onnx.load(make([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1, -5])], [vi("y", [1, 3])]))
    shape = init("s", np.array([1 << 40, 1 << 40], np.int64))
    cos = make([helper.make_node("ConstantOfShape", ["s"], ["c"], name="k"), helper.make_node("Add", ["x", "c"], ["y"])],
               [vi("x", [1, 3])], [vi("y", [1, 3])], [shape])
    with pytest.raises(ValueError, match="too large"):
        pcn_onnx.load(cos)


def test_unsupported_operator_and_attribute_name_the_node():
    model = make([helper.make_node("Sin", ["x"], ["y"], name="my_sin")], [vi("x", [1, 3])], [vi("y", [1, 3])])
    with pytest.raises(NotImplementedError, match="Sin.*my_sin"):
        pcn_onnx.load(model)
    pool = make([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], storage_order=1)],
                [vi("x", [1, 1, 4, 4])], [vi("y", [1, 1, 2, 2])])
    with pytest.raises(NotImplementedError, match="MaxPool.*'p'.*storage_order"):
        pcn_onnx.load(pool)
    conv3d = make([helper.make_node("Conv", ["x", "w"], ["y"], name="c3")], [vi("x", [1, 1, 4, 4, 4])],
                  [vi("y", None)], [init("w", np.zeros((1, 1, 2, 2, 2), np.float32))])
    with pytest.raises(NotImplementedError, match="Conv.*'c3'"):
        pcn_onnx.load(conv3d)
    with pytest.raises(NotImplementedError, match="opset"):
        pcn_onnx.load(make([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1, 3])], [vi("y", [1, 3])], opset=8))
    batch_axis = make([helper.make_node("Softmax", ["x"], ["y"], name="s", axis=0)], [vi("x", [2, 3])], [vi("y", [2, 3])])
    with pytest.raises(NotImplementedError, match="batch"):
        pcn_onnx.load(batch_axis)


def test_missing_onnx_gives_a_clear_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pyconvnet\[onnx\]"):
        pcn_onnx.load(b"")


# ------------------------------------------------------------------ torch-exported models
def torch_export(net, shape):
    torch = pytest.importorskip("torch")
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net.eval(), (torch.zeros(*shape),), f, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    return f.getvalue()


def test_torch_small_cnn_and_resnet_like():
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 8, 3, groups=2, padding=1), nn.Hardswish(),
                        nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(), nn.Dropout(), nn.Linear(32, 5), nn.Softmax(1))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
                if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return torch.relu(self.b2(self.c2(torch.relu(self.b1(self.c1(x))))) + self.down(x))

    resnet = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                           Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(64, 10))
    for m in resnet.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    for net, shape in ((cnn, (1, 3, 8, 8)), (resnet, (1, 3, 32, 32))):
        model = pcn_onnx.load(torch_export(net, shape))
        x = RNG.normal(size=(3,) + shape[1:]).astype(np.float32)
        with torch.no_grad():
            want = net.eval()(torch.tensor(x)).numpy()
        got = model.predict(x)
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * scale)


# ------------------------------------------------------------------ export round trips
def ort_run(proto, x):
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})


def test_export_sequential_round_trip(tmp_path):
    pyconvnet.manual_seed(0)
    model = pyconvnet.Sequential([
        L.Conv2d(3, 8, 3, padding=1), L.BatchNorm2d(8), L.ReLU(), L.MaxPool2d(2, ceil_mode=True),
        L.Conv2d(8, 8, 3, padding="same", groups=2), L.LeakyReLU(0.1), L.LocalResponseNorm(3), L.ChannelShuffle(2),
        L.AvgPool2d(3, 2, 1, count_include_pad=False), L.ReLU6(), L.Hardswish(), L.ELU(), L.Tanh(), L.Sigmoid(),
        L.ConstantPad2d((1, 0, 0, 1), 0.25), L.GlobalMaxPool2d(), L.Flatten(), L.Dropout(0.3), L.Linear(8, 4),
        L.Softmax(),
    ])
    bn = model[1]
    bn.running_mean[:] = RNG.normal(size=8)
    bn.running_var[:] = RNG.uniform(0.5, 2, size=8)
    x = RNG.normal(size=(2, 3, 9, 9)).astype(np.float32)
    path = tmp_path / "m.onnx"
    proto = pcn_onnx.export(model, path, input_shape=(3, 9, 9))
    onnx.checker.check_model(onnx.load(path), full_check=True)
    want = model.predict(x)
    np.testing.assert_allclose(ort_run(proto, x)[0], want, rtol=0, atol=1e-4 * np.abs(want).max())
    back = pcn_onnx.load(path)
    np.testing.assert_allclose(back.predict(x), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_export_graph_model_round_trip(tmp_path):
    pyconvnet.manual_seed(1)
    inp = pyconvnet.Input((4, 6, 6))
    a = L.Conv2d(4, 4, 3, padding=1)(inp)
    b = L.ReLU()(a)
    shared = L.Conv2d(4, 4, 1)
    c = L.Add()([shared(b), shared(inp)])
    d = L.Multiply()([c, L.Sigmoid()(c)])
    e = L.Concat(axis=1)([d, inp])
    f = L.ChannelAffine(8)(e)
    g = L.Permute((1, 3, 2))(f)
    h = L.Reshape((8, 36))(g)
    out1 = L.Softmax(axis=2)(h)
    out2 = L.Linear(8, 3)(L.Flatten()(L.GlobalAvgPool2d()(e)))
    model = pyconvnet.Model(inp, [out1, out2])
    model.layers[-1].weight.data[:] *= 3
    x = RNG.normal(size=(3, 4, 6, 6)).astype(np.float32)
    proto = pcn_onnx.export(model, tmp_path / "g.onnx", opset=13)
    want = model.predict(x)
    got = ort_run(proto, x)
    for w, o in zip(want, got):
        np.testing.assert_allclose(o, w, rtol=0, atol=1e-4 * np.abs(w).max())
    back = pcn_onnx.load(tmp_path / "g.onnx").predict(x)
    for w, o in zip(want, back):
        np.testing.assert_allclose(o, w, rtol=0, atol=1e-5 * np.abs(w).max())


def test_export_rejects_bad_arguments(tmp_path):
    model = pyconvnet.Sequential([L.ReLU()])
    with pytest.raises(ValueError, match="opset"):
        pcn_onnx.export(model, tmp_path / "a.onnx", opset=7)
    with pytest.raises(ValueError, match="input_shape"):
        pcn_onnx.export(model, tmp_path / "a.onnx")
    with pytest.raises(TypeError, match="model"):
        pcn_onnx.export(object(), tmp_path / "a.onnx")


@pytest.mark.parametrize("upsample", [
    {"scale_factor": 2, "mode": "nearest"},
    {"scale_factor": (2, 3), "mode": "bilinear"},
    {"size": (11, 7), "mode": "bilinear", "align_corners": True},
    {"size": (12, 15), "mode": "nearest"},
])
def test_export_transposed_convolution_and_upsample(tmp_path, upsample):
    pyconvnet.manual_seed(2)
    model = pyconvnet.Sequential([
        L.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), L.ReLU(),
        L.ConvTranspose2d(4, 4, 2, groups=2, dilation=2, bias=False), L.Upsample(**upsample),
    ])
    x = RNG.normal(size=(2, 3, 4, 3)).astype(np.float32)
    proto = pcn_onnx.export(model, tmp_path / "t.onnx", input_shape=(3, 4, 3))
    want = model.predict(x)
    np.testing.assert_allclose(ort_run(proto, x)[0], want, rtol=0, atol=1e-4 * np.abs(want).max())
    np.testing.assert_allclose(pcn_onnx.load(tmp_path / "t.onnx").predict(x), want, rtol=0,
                               atol=1e-5 * np.abs(want).max())


def test_export_lp_pool_where_onnx_agrees(tmp_path):
    model = pyconvnet.Sequential([L.LPPool2d(2, 2), L.ReLU()])
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    proto = pcn_onnx.export(model, tmp_path / "lp.onnx", input_shape=(3, 6, 6))
    np.testing.assert_allclose(ort_run(proto, x)[0], model.predict(x), rtol=1e-5, atol=1e-6)
    for bad in (L.LPPool2d(3, 2), L.LPPool2d(2, 3, ceil_mode=True)):
        with pytest.raises(NotImplementedError, match="LPPool2d"):
            pcn_onnx.export(pyconvnet.Sequential([bad]), None, input_shape=(3, 7, 7))


def test_corrupted_files_raise_only_value_or_not_implemented_error():
    """Byte flips in a real model file: every outcome is a model, ValueError or
    NotImplementedError (never another exception or a crash)."""
    path = onnx.__file__.replace("__init__.py", "backend/test/data/light/light_squeezenet.onnx")
    with open(path, "rb") as f:
        data = f.read()
    rng = np.random.default_rng(7)
    for _ in range(200):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 8))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        try:
            pcn_onnx.load(bytes(b))
        except (ValueError, NotImplementedError):
            pass
