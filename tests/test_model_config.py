"""The architecture format (model/config.py): one format for get_config and files, graph
models saved and loaded bit-exactly, files of the previous writer still load, and hostile
graph architectures rejected with ValueError."""

from __future__ import annotations

import copy
import json
import pathlib
import pickle

import numpy as np
import pytest

pytest.importorskip("safetensors")
import safetensors.numpy as stnp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import pyconvnet  # noqa: E402
from pyconvnet import Input, Model, Sequential, io  # noqa: E402
from pyconvnet.layers import (  # noqa: E402
    Add, BatchNorm2d, Concat, Conv2d, Dropout, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, Multiply, ReLU,
)

DATA = pathlib.Path(__file__).resolve().parent / "data"


def graph_model():
    """Two inputs, two outputs, a shared layer, all three merges, BatchNorm buffers, a frozen
    parameter and a layer in eval mode."""
    pyconvnet.manual_seed(3)
    img = Input((2, 6, 6), name="image")
    vec = Input((4,))
    conv = Conv2d(2, 4, 3, padding=1)
    bn = BatchNorm2d(4, name="bn")
    h = ReLU()(bn(conv(img)))
    shared = Conv2d(4, 4, 3, padding=1, name="shared")
    a = shared(h)
    b = shared(ReLU()(a))
    res = Add()([h, b])
    g = GlobalAvgPool2d()(MaxPool2d(2)(res))
    gate = Linear(4, 4)(vec)
    mixed = Multiply()([Flatten()(g), gate])
    both = Concat()([mixed, vec])
    head = Linear(8, 3, name="head")(Dropout(0.5)(both))
    aux = Linear(4, 2, name="aux")(mixed)
    model = Model([img, vec], [head, aux])
    rng = np.random.default_rng(0)
    bn.running_mean[:] = rng.normal(size=4)
    bn.running_var[:] = rng.uniform(0.5, 2, size=4)
    conv.bias.trainable = False
    model.get_layer("aux").eval()
    return model


def inputs(n=3, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.random((n, 2, 6, 6), dtype=np.float32), rng.random((n, 4), dtype=np.float32)]


def assert_same(a, b):
    assert type(a) is type(b)
    assert a.get_config() == b.get_config()
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sb[k].dtype == np.float32 and np.array_equal(sa[k], sb[k]), k
    assert [p.trainable for p in a.params()] == [p.trainable for p in b.params()]
    assert [layer.training for layer in a.layers] == [layer.training for layer in b.layers]
    x = inputs()
    for ya, yb in zip(a.predict(x), b.predict(x)):
        assert np.array_equal(ya, yb)


def test_graph_round_trips_are_bit_exact(tmp_path):
    m = graph_model()
    p = tmp_path / "g.safetensors"
    m.save(p)
    assert_same(m, pyconvnet.load(p))
    assert_same(m, io.from_bytes(io.to_bytes(m)))
    assert_same(m, pickle.loads(pickle.dumps(m)))
    clone = Model.from_config(m.get_config())
    clone.load_state_dict(m.state_dict())
    assert_same(m, clone)
    # the file's tensors are the state_dict, by layer name
    assert set(stnp.load_file(str(p))) == set(m.state_dict())
    assert "shared.weight" in m.state_dict() and "bn.running_var" in m.state_dict()


def test_one_format_for_get_config_and_files(tmp_path):
    m = graph_model()
    p = tmp_path / "g"
    m.save(p)
    from safetensors import safe_open

    with safe_open(str(p), framework="numpy") as f:
        arch = json.loads(f.metadata()[io.ARCHITECTURE_KEY])
    assert arch == m.get_config()
    assert arch["format_version"] == io.FORMAT_VERSION
    assert [e["class"] for e in arch["layers"]] == [type(layer).__name__ for layer in m.layers]
    assert [e["name"] for e in arch["layers"]] == m.layer_names
    calls = arch["graph"]["calls"]
    assert sum(c["layer"] == "shared" for c in calls) == 2
    seq = Sequential([Conv2d(1, 2, 3), ReLU()], input_shape=(1, 5, 5))
    cfg = seq.get_config()
    assert set(cfg) == {"format_version", "layers", "input_shape"}
    assert cfg["layers"][0]["class"] == "Conv2d" and "name" not in cfg["layers"][0]
    assert isinstance(Model.from_config(cfg), Sequential)
    with pytest.raises(ValueError, match="describes a Model, not a Sequential"):
        Sequential.from_config(m.get_config())


def test_files_of_the_previous_writer_still_load():
    """tests/data/main_format_v1.safetensors was written by pyconvnet 0.1.0 before graph models
    (Sequential of Conv2d, BatchNorm2d, ReLU, MaxPool2d, Dropout, Flatten, Linear; the conv
    weight frozen, the Dropout in eval mode, input_shape (1, 8, 8))."""
    path = DATA / "main_format_v1.safetensors"
    m = pyconvnet.load(path)
    assert isinstance(m, Sequential)
    assert [type(layer).__name__ for layer in m] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout", "Flatten", "Linear"]
    assert m.input_shape == (1, 8, 8)
    stored = stnp.load_file(str(path))
    sd = m.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "6.weight", "6.bias"]
    for k in sd:
        assert np.array_equal(sd[k], stored[k])
    assert not m[0].weight.trainable and m[0].bias.trainable
    assert not m[4].training and m[0].training
    # and saving it again writes the same architecture
    assert io.from_bytes(io.to_bytes(m)).get_config() == m.get_config()
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        assert json.loads(f.metadata()[io.ARCHITECTURE_KEY]) == m.get_config()


def test_from_config_reads_the_older_get_config_spelling():
    m = Sequential.from_config({"layers": [{"class_name": "Linear", "config": {"in_features": 2, "out_features": 3}}],
                                "input_shape": [2]})
    assert isinstance(m[0], Linear) and m.input_shape == (2,)


# ----------------------------------------------------------------------------- hostile input
def craft(arch, tensors=None):
    return stnp.save(tensors or {}, metadata={io.ARCHITECTURE_KEY: json.dumps(arch)})


LIN = {"class": "Linear", "config": {"in_features": 2, "out_features": 2, "bias": False}}


def graph_arch(**changes):
    arch = {
        "format_version": 1,
        "layers": [dict(LIN, name="a"), dict(LIN, name="b"), {"class": "Add", "config": {}, "name": "add"}],
        "graph": {"inputs": [{"name": "x", "shape": [2]}],
                  "calls": [{"layer": "a", "inputs": [0]}, {"layer": "b", "inputs": [1]},
                            {"layer": "add", "inputs": [1, 2]}],
                  "outputs": 3},
    }
    for path, value in changes.items():
        node = arch
        keys = path.split("/")
        for k in keys[:-1]:
            node = node[int(k) if isinstance(node, list) else k]
        last = int(keys[-1]) if isinstance(node, list) else keys[-1]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return arch


TENSORS = {"a.weight": np.eye(2, dtype=np.float32), "b.weight": 2 * np.eye(2, dtype=np.float32)}


def test_crafted_graph_loads_and_runs():
    m = io.from_bytes(craft(graph_arch(), TENSORS))
    x = np.array([[1.0, -2.0]], np.float32)
    np.testing.assert_array_equal(m.predict(x), 3 * x)  # a(x) + b(a(x)) = x + 2x
    assert m.layer_names == ["a", "b", "add"] and m.input_names == ["x"]


@pytest.mark.parametrize("changes, match", [
    # cycles and dangling references: a call may only read earlier values
    ({"graph/calls/0/inputs": [1]}, "earlier value"),
    ({"graph/calls/1/inputs": [2]}, "earlier value"),
    ({"graph/calls/2/inputs": [1, 7]}, "earlier value"),
    ({"graph/calls/2/inputs": [1, -1]}, "earlier value"),
    ({"graph/calls/2/inputs": [1, True]}, "earlier value"),
    ({"graph/calls/2/inputs": []}, "list of 1 to"),
    ({"graph/calls/2/inputs": [1] * 5000}, "list of 1 to"),
    ({"graph/outputs": 4}, "outputs"),
    ({"graph/outputs": []}, "outputs"),
    ({"graph/outputs": "3"}, "outputs"),
    # names
    ({"layers/1/name": "a"}, "unique"),
    ({"graph/inputs/0/name": "add"}, "used twice"),
    ({"layers/0/name": ""}, "name"),
    ({"layers/0/name": 5}, "name"),
    ({"layers/0/name": KeyError}, "name"),
    ({"graph/calls/0/layer": "nope"}, "not one of the architecture's layers"),
    # structure
    ({"layers/2/class": "Evil"}, "unknown layer class"),
    ({"graph/calls/0/inputs": [0, 0]}, "takes one input"),
    ({"graph/calls/1/layer": "a"}, "never called"),
    ({"graph/extra": 1}, "exactly the keys"),
    ({"graph/calls/0/extra": 1}, "exactly the keys"),
    ({"graph/inputs": []}, "inputs"),
    ({"graph/inputs/0/shape": []}, "shape"),
    ({"graph/inputs/0/shape": [2**40]}, "shape"),
    ({"graph/inputs/0/shape": [1] * 9}, "shape"),
    ({"graph/inputs/0/shape": [3]}, "shapes do not fit"),
    ({"graph": [1]}, "exactly the keys"),
    ({"input_shape": [2]}, "input_shape"),
    ({"layers/0/config": {"in_features": 10**6, "out_features": 10**6}}, "more parameters"),
])
def test_malformed_graphs_raise_value_error(changes, match, tmp_path):
    data = craft(graph_arch(**changes), TENSORS)
    with pytest.raises(ValueError, match=match):
        io.from_bytes(data)
    p = tmp_path / "bad"
    p.write_bytes(data)
    with pytest.raises(ValueError, match=match):
        pyconvnet.load(p)


def test_absurd_counts_are_refused_before_building():
    many = {"format_version": 1, "layers": [{"class": "ReLU", "config": {}}] * 70_000, "input_shape": None}
    with pytest.raises(ValueError, match="more than the 65536"):
        io.from_bytes(craft(many))
    arch = graph_arch()
    arch["graph"]["calls"] = arch["graph"]["calls"] * 90_000
    with pytest.raises(ValueError, match="at most 262144 calls"):
        io.from_bytes(craft(arch, TENSORS))
    arch = graph_arch()
    arch["graph"]["inputs"] = [{"name": f"i{k}", "shape": [2]} for k in range(1025)]
    with pytest.raises(ValueError, match="1 to 1024"):
        io.from_bytes(craft(arch, TENSORS))


def test_a_long_chain_of_calls_loads_without_recursion():
    n = 3000
    arch = {"format_version": 1, "layers": [{"class": "ReLU", "config": {}, "name": f"r{i}"} for i in range(n)],
            "graph": {"inputs": {"name": "x", "shape": [2]},
                      "calls": [{"layer": f"r{i}", "inputs": [i]} for i in range(n)], "outputs": n}}
    m = io.from_bytes(craft(arch))
    np.testing.assert_array_equal(m.predict(np.array([[-1.0, 2.0]], np.float32)), [[0.0, 2.0]])


@pytest.mark.parametrize("input_shape, match", [
    ([3, 8, 8], "does not fit"),   # 3 channels into a 1-channel conv
    ([8, 8], "does not fit"),      # rank 2 into a conv
    ([], "input_shape"),           # empty
    ([1, 0, 8], "input_shape"),
])
def test_sequential_input_shape_contradicting_the_layers_is_rejected(input_shape, match):
    arch = {"format_version": 1, "input_shape": input_shape,
            "layers": [{"class": "Conv2d", "config": {"in_channels": 1, "out_channels": 1, "kernel_size": 3,
                                                      "bias": False}}]}
    with pytest.raises(ValueError, match=match):
        io.from_bytes(craft(arch, {"0.weight": np.ones((1, 1, 3, 3), np.float32)}))


_GRAPH_BYTES = None


def _good_arch():
    global _GRAPH_BYTES
    if _GRAPH_BYTES is None:
        m = graph_model()
        _GRAPH_BYTES = (m.get_config(), m._live_tensors())
    return _GRAPH_BYTES


def _mutations(draw, arch):
    """Replace one value somewhere in the architecture JSON by another plausible value."""
    paths = []

    def walk(node, path):
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in items:
            paths.append(path + [k])
            walk(v, path + [k])

    walk(arch, [])
    path = draw(st.sampled_from(paths))
    value = draw(st.one_of(st.integers(-3, 40), st.sampled_from([None, True, "x", "shared", [], {}, [0], [1, 0],
                                                                   2**63, -(2**31), 1.5, [2**31, 1]])))
    node = arch
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzzed_graph_architectures_raise_only_value_error(data):
    arch, tensors = _good_arch()
    arch = copy.deepcopy(arch)
    for _ in range(data.draw(st.integers(1, 3))):
        _mutations(data.draw, arch)
    try:
        m = io.from_bytes(craft(arch, tensors))
    except ValueError:
        return
    x = inputs(2)
    try:
        m.predict(x)
    except (ValueError, TypeError):
        pass  # a config that loads but does not take these inputs (say, a new input shape)


@pytest.mark.parametrize("cls,config", [
    ("Conv2d", {"in_channels": 4096, "out_channels": 4096, "kernel_size": 64}),
    ("ConvTranspose2d", {"in_channels": 4096, "out_channels": 4096, "kernel_size": 64}),
    ("Linear", {"in_features": 10**6, "out_features": 10**5}),
])
def test_weights_a_file_cannot_hold_are_refused_before_allocating(cls, config):
    """A 64 GiB weight declared by a file of a few bytes fails the parameter budget, not malloc."""
    arch = {"format_version": 1, "layers": [{"class": cls, "config": config}], "input_shape": None}
    with pytest.raises(ValueError, match="more parameters than"):
        io.from_bytes(craft(arch, {"0.weight": np.zeros(1, np.float32)}))
