"""One rule per argument: each layer and its functional twin get the same bad arguments and must
raise the same exception with the same message (both call the same check). Also: layer
arguments are strict at construction and at load (ints of 2**63, floats, bools, None, strings
for flags)."""

import json
import math

import numpy as np
import pytest

from pyconvnet import io
import pyconvnet.functional as F

from pyconvnet.layers import (
    ELU, AvgPool2d, Conv2d, Dropout, Flatten, LeakyReLU, Linear, LPPool2d, MaxPool2d, Softmax,
)
from pyconvnet.losses import CrossEntropyLoss
from pyconvnet.model import Sequential

BIG = 2**63
IMG = np.zeros((1, 2, 8, 8), np.float32)

# (argument, bad value) for the convolution's keyword arguments.
CONV_BAD = [
    ("stride", 0), ("stride", -1), ("stride", BIG), ("stride", 2.0), ("stride", None), ("stride", True),
    ("stride", np.bool_(True)), ("stride", "2"), ("stride", (1, 2, 3)), ("stride", (1, 2.0)),
    ("stride", (1, BIG)), ("stride", np.uint64(BIG)),
    ("padding", "SAME"), ("padding", "Same"), ("padding", "full"), ("padding", -1), ("padding", (1, -1)),
    ("padding", BIG), ("padding", 1.5), ("padding", None), ("padding", True),
    ("dilation", 0), ("dilation", BIG), ("dilation", 2.0), ("dilation", None), ("dilation", False),
    ("groups", 0), ("groups", 3), ("groups", BIG), ("groups", 2.0), ("groups", None), ("groups", True),
]


def _conv_twins(arg, value, **other):
    kwargs = {arg: value, **other}
    layer = lambda: Conv2d(2, 4, 3, **kwargs)  # noqa: E731
    fn = lambda: F.conv2d(IMG, np.zeros((4, 2, 3, 3), np.float32), **kwargs)  # noqa: E731
    return layer, fn


POOL_BAD = [
    ("kernel_size", 0), ("kernel_size", BIG), ("kernel_size", 2.0), ("kernel_size", None), ("kernel_size", (2,)),
    ("kernel_size", True), ("stride", 0), ("stride", 2.0), ("stride", BIG), ("stride", "1"),
    ("padding", -1), ("padding", 2), ("padding", (0, 2)), ("padding", BIG), ("padding", None),
    ("ceil_mode", "no"), ("ceil_mode", 1), ("ceil_mode", None), ("ceil_mode", 0.0),
]

LP_BAD = [("norm_type", v) for v in (math.inf, 0, -1.0, math.nan, "2", True, None)] + [
    ("kernel_size", 0), ("kernel_size", 2.5), ("stride", BIG), ("ceil_mode", "yes"),
]

SLOPE_BAD = [math.nan, math.inf, -math.inf, "0.1", None, True, np.bool_(False)]
P_BAD = [-0.1, 1.5, math.nan, "0.5", None, True]
AXIS_BAD = [2, -3, 1.0, None, True, BIG]


def _cases():
    for arg, value in CONV_BAD:
        yield f"conv-{arg}={value!r}", *_conv_twins(arg, value)
    yield "conv-same-stride2", *_conv_twins("padding", "same", stride=2)
    x1 = np.zeros((1, 1, 8, 8), np.float32)
    for arg, value in POOL_BAD:
        kw = {"kernel_size": 2, arg: value}
        yield f"maxpool-{arg}={value!r}", (lambda kw=kw: MaxPool2d(**kw)), (lambda kw=kw: F.max_pool2d(x1, **kw))
        yield f"avgpool-{arg}={value!r}", (lambda kw=kw: AvgPool2d(**kw)), (lambda kw=kw: F.avg_pool2d(x1, **kw))
    for value in ("yes", 1, None):
        kw = {"kernel_size": 2, "count_include_pad": value}
        yield f"avgpool-cip={value!r}", (lambda kw=kw: AvgPool2d(**kw)), (lambda kw=kw: F.avg_pool2d(x1, **kw))
    for arg, value in LP_BAD:
        kw = {"norm_type": 2.0, "kernel_size": 2, arg: value}
        yield f"lppool-{arg}={value!r}", (lambda kw=kw: LPPool2d(**kw)), (lambda kw=kw: F.lp_pool2d(x1, **kw))
    xs = np.zeros((2, 3), np.float32)
    for v in SLOPE_BAD:
        yield (f"leaky-{v!r}", lambda v=v: LeakyReLU(v), lambda v=v: F.leaky_relu(xs, v))
        yield (f"elu-{v!r}", lambda v=v: ELU(v), lambda v=v: F.elu(xs, v))
    for v in P_BAD:
        yield (f"dropout-{v!r}", lambda v=v: Dropout(v), lambda v=v: F.dropout(xs, v))
    for v in AXIS_BAD:
        yield (f"softmax-{v!r}", lambda v=v: Softmax(v).infer(xs), lambda v=v: F.softmax(xs, v))
    # Data that does not fit the arguments: the same check with the same words.
    yield ("conv-channels", lambda: Conv2d(3, 4, 3).forward(IMG),
           lambda: F.conv2d(IMG, np.zeros((4, 3, 3, 3), np.float32)))
    yield ("conv-channels-groups", lambda: Conv2d(4, 4, 3, groups=2).forward(IMG),
           lambda: F.conv2d(IMG, np.zeros((4, 2, 3, 3), np.float32), groups=2))
    yield ("linear-features", lambda: Linear(5, 4).forward(xs),
           lambda: F.linear(xs, np.zeros((4, 5), np.float32)))
    yield ("pool-kernel-larger", lambda: MaxPool2d(9).forward(x1), lambda: F.max_pool2d(x1, 9))
    yield ("pool-empty", lambda: AvgPool2d(1).forward(x1[:, :, :0]), lambda: F.avg_pool2d(x1[:, :, :0], 1))


CASES = list(_cases())


def _outcome(f):
    try:
        f()
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    return None


@pytest.mark.parametrize("name,layer,fn", CASES, ids=[c[0] for c in CASES])
def test_layer_and_function_reject_alike(name, layer, fn):
    got_layer = _outcome(layer)
    assert got_layer is not None, f"{name}: the layer accepted it"
    assert got_layer == _outcome(fn)


@pytest.mark.parametrize("target,etype", [
    (np.array([0, 1, 3, 1]), ValueError), ([0, -1, 2, 1], ValueError), (np.array([0, 1, 2]), ValueError),
    (np.zeros((2, 2), np.int64), ValueError), (np.array([0.0, 1.0, 2.0, 1.0]), TypeError),
    (np.array([True, False, True, False]), TypeError), (np.array([0, BIG, 1, 1], np.uint64), ValueError),
    (["a", "b", "c", "d"], TypeError),
])
def test_cross_entropy_loss_and_function_check_labels_alike(target, etype):
    """The same rule; the message names the logits by each API's argument name."""
    logits = np.zeros((4, 3), np.float32)
    with pytest.raises(etype) as from_loss:
        CrossEntropyLoss().forward(logits, target)
    with pytest.raises(etype) as from_fn:
        F.cross_entropy(logits, target)
    assert str(from_loss.value).replace("pred", "logits") == str(from_fn.value)


def test_good_arguments_still_agree():
    """Accepted spellings (NumPy ints and bools, pairs) build the layer the function runs."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    layer = Conv2d(2, 4, 3, stride=np.int64(1), padding="same", dilation=(np.int32(2), 1), bias=np.bool_(True))
    want = F.conv2d(x, layer.weight.data, layer.bias.data, 1, "same", (2, 1))
    np.testing.assert_array_equal(layer.forward(x), want)
    assert layer.get_config()["dilation"] == [2, 1] and type(layer.get_config()["dilation"][0]) is int
    pool = MaxPool2d(np.int64(3), stride=2, padding=1, ceil_mode=np.bool_(True))
    np.testing.assert_array_equal(pool.forward(x), F.max_pool2d(x, 3, 2, 1, True))
    assert pool.ceil_mode is True


@pytest.mark.parametrize("kwargs,etype,word", [
    ({"in_channels": BIG}, ValueError, "in_channels"), ({"out_channels": 2.0}, TypeError, "out_channels"),
    ({"in_channels": None}, TypeError, "in_channels"), ({"kernel_size": BIG}, ValueError, "kernel_size"),
    ({"kernel_size": (3, 2.0)}, TypeError, "kernel_size"), ({"bias": "False"}, TypeError, "bias"),
    ({"bias": 0}, TypeError, "bias"), ({"kernel_size": 2**20}, ValueError, "weight of shape"),
    ({"out_channels": 2**40}, ValueError, "weight of shape"),
])
def test_conv2d_constructor_is_strict(kwargs, etype, word):
    args = {"in_channels": 2, "out_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(etype, match=word):
        Conv2d(**args)


@pytest.mark.parametrize("kwargs,etype,word", [
    ({"in_features": BIG}, ValueError, "in_features"), ({"out_features": np.float64(3)}, TypeError, "out_features"),
    ({"bias": "True"}, TypeError, "bias"), ({"bias": None}, TypeError, "bias"),
    ({"in_features": 2**33}, ValueError, "weight of shape"),
])
def test_linear_constructor_is_strict(kwargs, etype, word):
    args = {"in_features": 3, "out_features": 4, **kwargs}
    with pytest.raises(etype, match=word):
        Linear(**args)


def test_function_flags_are_strict():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(TypeError, match="relu must be a bool"):
        F.conv2d(x, np.zeros((1, 2, 3, 3), np.float32), relu="yes")
    with pytest.raises(TypeError, match="relu must be a bool"):
        F.linear(np.zeros((1, 2), np.float32), np.zeros((3, 2), np.float32), relu=1)
    with pytest.raises(TypeError, match="training must be a bool"):
        F.dropout(x, 0.5, training="False")
    with pytest.raises(TypeError, match="return_indices must be a bool"):
        F.max_pool2d(x, 2, return_indices="yes")


def _edited_file(tmp_path, model, edit):
    """A file written by pyconvnet.save whose architecture JSON went through `edit(arch)`."""
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    path = tmp_path / "model.safetensors"
    io.save(model, path)
    with safe_open(str(path), "np") as f:
        metadata = f.metadata()
    arch = json.loads(metadata[io.ARCHITECTURE_KEY])
    edit(arch)
    metadata[io.ARCHITECTURE_KEY] = json.dumps(arch)
    save_file(load_file(str(path)), str(path), metadata=metadata)
    return path


def _model():
    return Sequential([Conv2d(1, 2, 3, padding=1), MaxPool2d(2), Flatten(), Linear(8, 2)], input_shape=(1, 4, 4))


@pytest.mark.parametrize("layer,key,value", [
    (0, "stride", [BIG, 1]), (0, "padding", [1, BIG]), (0, "dilation", BIG), (0, "kernel_size", [3, BIG]),
    (0, "groups", BIG), (0, "in_channels", BIG), (0, "stride", [1.0, 1]), (0, "bias", "False"),
    (0, "bias", 1), (0, "padding", "SAME"), (1, "ceil_mode", "no"), (1, "ceil_mode", 0),
    (1, "kernel_size", 2.0), (1, "stride", 1.0), (3, "bias", "True"), (3, "in_features", BIG),
])
def test_load_rejects_what_the_constructor_rejects(tmp_path, layer, key, value):
    pytest.importorskip("safetensors")
    model = _model()
    io.load(_edited_file(tmp_path, model, lambda a: None))  # the unedited file loads

    def edit(arch):
        arch["layers"][layer]["config"][key] = value

    path = _edited_file(tmp_path, model, edit)
    with pytest.raises(ValueError, match=rf"layer {layer} ") as exc:
        io.load(path)
    # Huge sizes may already fail the file's parameter budget, before any constructor runs.
    assert key in str(exc.value) or "more parameters than" in str(exc.value)


@pytest.mark.parametrize("mode", ["False", 0, 1, None])
def test_train_mode_is_a_bool_for_layers_and_models(mode):
    """`train("False")` would otherwise switch training on by truthiness."""
    layer = Conv2d(1, 1, 1)
    with pytest.raises(TypeError, match="mode must be a bool"):
        layer.train(mode)
    with pytest.raises(TypeError, match="mode must be a bool"):
        Sequential([layer]).train(mode)
    assert layer.train(np.bool_(False)).training is False
