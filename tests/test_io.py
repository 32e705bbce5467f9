"""pyconvnet.io: save/load/to_bytes/from_bytes, pickling, hostile files, PyTorch interop."""

import builtins
import json
import os
import pickle
import struct

import numpy as np
import pytest

pytest.importorskip("safetensors")
import safetensors.numpy as stnp  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pyconvnet import io  # noqa: E402
from pyconvnet.layers import (  # noqa: E402
    BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU,
)
from pyconvnet.model import Sequential  # noqa: E402


def small_model():
    m = Sequential([
        Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Dropout(0.25),
        Flatten(), Linear(4 * 4 * 4, 3),
    ])
    # make the BatchNorm buffers non-trivial
    rng = np.random.default_rng(0)
    m[1].running_mean[:] = rng.normal(size=4)
    m[1].running_var[:] = rng.uniform(0.5, 2, size=4)
    m[1].weight.data[:] = rng.normal(size=4)
    return m


X = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)


def assert_same_model(a, b):
    assert [type(layer) for layer in a] == [type(layer) for layer in b]
    assert [layer.get_config() for layer in a] == [layer.get_config() for layer in b]
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sb[k].dtype == np.float32 and np.array_equal(sa[k], sb[k]), k
    assert np.array_equal(a.predict(X), b.predict(X))
    assert [p.trainable for p in a.params()] == [p.trainable for p in b.params()]
    assert [layer.training for layer in a] == [layer.training for layer in b]


def test_file_round_trip(tmp_path):
    m = small_model()
    p = tmp_path / "m.safetensors"
    io.save(m, p)
    m2 = io.load(p)
    assert isinstance(m2, Sequential)
    assert_same_model(m, m2)
    # the loaded weights are independent arrays
    m2[0].weight.data[:] = 0
    assert not np.array_equal(m[0].weight.data, m2[0].weight.data)


def test_sequential_save_delegates(tmp_path):
    m = small_model()
    m.save(str(tmp_path / "m.st"))
    assert_same_model(m, io.load(str(tmp_path / "m.st")))


def test_modes_frozen_flags_and_input_shape_survive(tmp_path):
    m = small_model()
    m.forward(X)  # records input_shape
    m.freeze(until=2)
    m.eval()
    m[4].train()
    io.save(m, tmp_path / "m")
    m2 = io.load(tmp_path / "m")
    assert_same_model(m, m2)
    assert [p.trainable for p in m2.params()] == [False] * 4 + [True] * 2
    assert m2.input_shape == (1, 8, 8)


def test_bytes_and_pickle_round_trip():
    m = small_model()
    data = io.to_bytes(m)
    assert isinstance(data, bytes)
    assert_same_model(m, io.from_bytes(data))
    assert_same_model(m, io.from_bytes(bytearray(data)))
    assert_same_model(m, io.from_bytes(memoryview(data)))
    m2 = pickle.loads(pickle.dumps(m, protocol=pickle.HIGHEST_PROTOCOL))
    assert_same_model(m, m2)
    # a pickle holds only the safetensors bytes and a reference to pyconvnet.io.from_bytes
    assert len(pickle.dumps(m)) < len(data) + 200


def test_slice_saves_renumbered_keys(tmp_path):
    m = small_model()
    trunk = m[2:]
    io.save(trunk, tmp_path / "t")
    keys = set(stnp.load_file(str(tmp_path / "t")))
    assert keys == {"4.weight", "4.bias"}
    assert np.array_equal(io.load(tmp_path / "t").predict(m[:2].predict(X)), trunk.predict(m[:2].predict(X)))


def test_file_is_plain_safetensors(tmp_path):
    from safetensors import safe_open

    m = small_model()
    p = str(tmp_path / "m.safetensors")
    io.save(m, p)
    tensors = stnp.load_file(p)
    sd = m.state_dict()
    assert tensors.keys() == sd.keys()
    for k in sd:
        assert tensors[k].dtype == np.float32 and np.array_equal(tensors[k], sd[k])
    with safe_open(p, framework="numpy") as f:
        arch = json.loads(f.metadata()[io.ARCHITECTURE_KEY])
    assert arch["format_version"] == 1
    assert [layer["class"] for layer in arch["layers"]] == [type(layer).__name__ for layer in m]
    assert arch["layers"][0]["config"] == m[0].get_config()


def test_save_is_atomic_and_overwrites(tmp_path):
    m = small_model()
    p = tmp_path / "m"
    p.write_bytes(b"old")
    io.save(m, p)
    assert os.listdir(tmp_path) == ["m"]
    assert_same_model(m, io.load(p))


def test_empty_model_round_trip(tmp_path):
    io.save(Sequential([]), tmp_path / "e")
    assert len(io.load(tmp_path / "e")) == 0


def test_loading_does_not_touch_the_global_generator(tmp_path):
    from pyconvnet import init

    io.save(Sequential([Linear(300, 200), ReLU(), Linear(200, 10)]), tmp_path / "m")
    state = init.default_generator().bit_generator.state
    io.load(tmp_path / "m")
    assert init.default_generator().bit_generator.state == state


def test_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="model"):
        io.save(object(), tmp_path / "x")
    with pytest.raises(TypeError, match="model"):
        io.to_bytes([Linear(2, 2)])
    with pytest.raises(TypeError, match="data"):
        io.from_bytes("text")
    with pytest.raises(TypeError, match="path"):
        io.load(3.5)
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "missing")


def test_missing_safetensors_says_what_to_install(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "safetensors" or name.startswith("safetensors."):
            raise ImportError("nope")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install pyconvnet\[io\]"):
        io.to_bytes(small_model())


# ---------------------------------------------------------------------------------------------
# Hostile and broken files


def craft(layers=None, tensors=None, version=1, extra_meta=None, arch=None):
    """Bytes of a safetensors file with the given architecture and tensors."""
    if arch is None:
        arch = json.dumps({"format_version": version, "layers": layers, "input_shape": None})
    meta = {io.ARCHITECTURE_KEY: arch}
    meta.update(extra_meta or {})
    return stnp.save(tensors or {}, metadata=meta)


LIN = {"class": "Linear", "config": {"in_features": 2, "out_features": 3, "bias": True}}
LIN_T = {"0.weight": np.ones((3, 2), np.float32), "0.bias": np.zeros(3, np.float32)}


def test_crafted_valid_file_loads():
    m = io.from_bytes(craft([LIN], LIN_T))
    assert np.array_equal(m[0].weight.data, np.ones((3, 2)))


@pytest.mark.parametrize(
    "layers, tensors, match",
    [
        ([{"class": "os.system", "config": {}}], {}, "unknown layer class"),
        ([{"class": "Sequential", "config": {}}], {}, "unknown layer class"),
        ([{"class": "__import__", "config": {"name": "os"}}], {}, "unknown layer class"),
        ([{"class": 3, "config": {}}], {}, "unknown layer class"),
        ([{"config": {}}], {}, "class"),
        (["Linear"], {}, "JSON object"),
        ([{"class": "ReLU", "config": []}], {}, "config must be"),
        ([{"class": "ReLU", "config": "x"}], {}, "config must be"),
        ([{"class": "ReLU", "config": {}, "code": "print(1)"}], {}, "keys"),
        ([{"class": "ReLU", "config": {"inplace": True}}], {}, "invalid config"),
        ([{"class": "Linear", "config": {"in_features": "2", "out_features": 3}}], LIN_T, "invalid config"),
        ([{"class": "Linear", "config": {"in_features": 2.5, "out_features": 3}}], LIN_T, "invalid config"),
        ([{"class": "Linear", "config": {"in_features": -2, "out_features": 3}}], LIN_T, "invalid config"),
        ([{"class": "Linear", "config": {"in_features": 2}}], LIN_T, "invalid config"),
        ([{"class": "Linear", "config": {"in_features": [2], "out_features": 3}}], LIN_T, "invalid config"),
        ([{"class": "Conv2d", "config": {"in_channels": 1, "out_channels": 2, "kernel_size": [3, 3, 3]}}], {},
         "invalid config|more parameters"),
        ([{"class": "Dropout", "config": {"p": 2.0}}], {}, "invalid config"),
        ([{"class": "ReLU", "config": {}, "training": "yes"}], {}, "training"),
        ([{"class": "Linear", "config": LIN["config"], "frozen": ["gamma"]}], LIN_T, "frozen"),
        ([{"class": "Linear", "config": LIN["config"], "frozen": "weight"}], LIN_T, "frozen"),
        # weights inconsistent with the architecture
        ([LIN], {"0.weight": np.ones((3, 2), np.float32)}, "missing"),
        ([LIN], dict(LIN_T, **{"1.weight": np.ones(2, np.float32)}), "unexpected"),
        ([LIN], {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(3, np.float32)}, "shape"),
        ([LIN], {"0.weight": np.ones((3, 2), np.float64), "0.bias": np.zeros(3, np.float32)}, "F32"),
        ([LIN], {"0.weight": np.ones((3, 2), np.int32), "0.bias": np.zeros(3, np.float32)}, "F32"),
        # a huge layer asked for by a small file: refused before allocating anything
        ([{"class": "Linear", "config": {"in_features": 10**6, "out_features": 10**6}}], LIN_T, "more parameters"),
        ([{"class": "Conv2d", "config": {"in_channels": 10**5, "out_channels": 10**5, "kernel_size": 99}}], {},
         "more parameters"),
    ],
)
def test_bad_architectures_raise_value_error(layers, tensors, match, tmp_path):
    data = craft(layers, tensors)
    with pytest.raises(ValueError, match=match):
        io.from_bytes(data)
    p = tmp_path / "f"
    p.write_bytes(data)
    with pytest.raises(ValueError, match=match):
        io.load(p)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(arch="not json"), "not valid JSON"),
        (dict(arch="[1, 2]"), "JSON object"),
        (dict(arch='{"format_version": 1, "layers": [], "input_shape": NaN}'), "not valid JSON"),
        (dict(arch='{"format_version": 1, "layers": [], "layers": []}'), "duplicate"),
        (dict(arch="[" * 100000 + "]" * 100000), "nested|JSON"),
        (dict(arch='{"format_version": 1, "layers": {}}'), "list"),
        (dict(arch='{"format_version": 1, "layers": [], "hook": "x"}'), "unexpected"),
        (dict(arch='{"format_version": 1, "layers": [], "input_shape": [-1]}'), "input_shape"),
        (dict(layers=[], version=2), "format_version"),
        (dict(layers=[], version="1"), "format_version"),
    ],
)
def test_bad_architecture_json(kwargs, match):
    with pytest.raises(ValueError, match=match):
        io.from_bytes(craft(**kwargs))


def test_not_a_pyconvnet_file():
    data = stnp.save({"w": np.ones(3, np.float32)})
    with pytest.raises(ValueError, match="pyconvnet.architecture"):
        io.from_bytes(data)


def good_bytes():
    return io.to_bytes(small_model())


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 100, -1, -4, -100])
def test_truncated(tmp_path, cut):
    data = good_bytes()
    data = data[:cut] if cut >= 0 else data[:len(data) + cut]
    with pytest.raises(ValueError):
        io.from_bytes(data)
    p = tmp_path / "t"
    p.write_bytes(data)
    with pytest.raises(ValueError):
        io.load(p)


def test_trailing_bytes(tmp_path):
    data = good_bytes() + b"\0" * 4
    with pytest.raises(ValueError, match="trailing"):
        io.from_bytes(data)
    p = tmp_path / "t"
    p.write_bytes(data)
    with pytest.raises(ValueError):
        io.load(p)


@pytest.mark.parametrize("n", [2**64 - 1, 2**63, 10**12, 100_000_001])
def test_oversized_header_length(tmp_path, n):
    data = good_bytes()
    bad = struct.pack("<Q", n) + data[8:]
    with pytest.raises(ValueError, match="header length"):
        io.from_bytes(bad)
    p = tmp_path / "big"
    p.write_bytes(bad)
    with pytest.raises(ValueError):
        io.load(p)


def test_header_json_tampering():
    data = good_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]

    def rebuild(h):
        text = json.dumps(h).encode()
        return struct.pack("<Q", len(text)) + text + body

    h = json.loads(json.dumps(header))
    first = next(k for k in h if k != "__metadata__")
    h[first]["data_offsets"][1] += 4
    with pytest.raises(ValueError):
        io.from_bytes(rebuild(h))
    h = json.loads(json.dumps(header))
    h[first]["shape"] = [10**9, 10**9]
    with pytest.raises(ValueError):
        io.from_bytes(rebuild(h))
    h = json.loads(json.dumps(header))
    h[first]["dtype"] = "F128"
    with pytest.raises(ValueError):
        io.from_bytes(rebuild(h))
    h = json.loads(json.dumps(header))
    h["__metadata__"] = {"pyconvnet.architecture": 3}
    with pytest.raises(ValueError):
        io.from_bytes(rebuild(h))
    h = json.loads(json.dumps(header))
    del h["__metadata__"]
    with pytest.raises(ValueError, match="pyconvnet.architecture"):
        io.from_bytes(rebuild(h))


def check_only_value_error(data, tmp_path=None):
    try:
        m = io.from_bytes(data)
    except ValueError:
        return
    assert isinstance(m, Sequential)  # a harmless mutation (e.g. inside the weights) may load


_GOOD = None


def good_cached():
    global _GOOD
    if _GOOD is None:
        _GOOD = good_bytes()
    return _GOOD


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutations_raise_only_value_error(data):
    blob = bytearray(good_cached())
    n_header = struct.unpack("<Q", blob[:8])[0] + 8
    kind = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "splice"]))
    # bias towards the header, where the parsing happens
    hi = data.draw(st.sampled_from([8, n_header, len(blob)]))
    pos = data.draw(st.integers(0, max(0, hi - 1)))
    if kind == "flip":
        blob[pos] ^= 1 << data.draw(st.integers(0, 7))
    elif kind == "set":
        blob[pos] = data.draw(st.sampled_from(list(b'0129"{}[],:-e.\\ \x00\xff')))
    elif kind == "insert":
        blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del blob[pos:pos + data.draw(st.integers(1, 8))]
    elif kind == "truncate":
        del blob[pos:]
    else:
        blob[pos:pos + 8] = data.draw(st.binary(min_size=8, max_size=8))
    check_only_value_error(bytes(blob))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(blob):
    check_only_value_error(blob)
    check_only_value_error(good_cached()[:8] + blob)


@settings(max_examples=40, deadline=None)
@given(pos=st.integers(0, 10**6), bit=st.integers(0, 7), cut=st.booleans())
def test_fuzz_files(tmp_path_factory, pos, bit, cut):
    blob = bytearray(good_cached())
    n_header = struct.unpack("<Q", blob[:8])[0] + 8
    pos %= n_header
    if cut:
        del blob[pos:]
    else:
        blob[pos] ^= 1 << bit
    p = tmp_path_factory.mktemp("fz") / "m"
    p.write_bytes(bytes(blob))
    try:
        io.load(p)
    except ValueError:
        pass


# ---------------------------------------------------------------------------------------------
# PyTorch interop: the same weights give the same outputs both ways


def fmnist_pair(torch):
    nn = torch.nn
    tm = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Dropout(0.4), nn.Linear(1024, 10),
    )
    pm = Sequential([
        Conv2d(1, 32, 5, padding=2), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 5, padding=2), ReLU(), MaxPool2d(2),
        Flatten(), Linear(3136, 1024), ReLU(), Dropout(0.4), Linear(1024, 10),
    ])
    return tm, pm, (1, 28, 28)


def cifar_pair(torch):
    nn = torch.nn
    tm = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4096, 256), nn.ReLU(), nn.Linear(256, 10),
    )
    pm = Sequential([
        Conv2d(3, 32, 3, padding=1), ReLU(), Conv2d(32, 32, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 3, padding=1), ReLU(), Conv2d(64, 64, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(4096, 256), ReLU(), Linear(256, 10),
    ])
    return tm, pm, (3, 32, 32)


def bn_pair(torch):
    nn = torch.nn
    tm = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                       nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    pm = Sequential([Conv2d(3, 8, 3, padding=1, bias=False), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                     Flatten(), Linear(8 * 16 * 16, 10)])
    return tm, pm, (3, 32, 32)


def torch_state(torch, tm):
    # torch adds BatchNorm's num_batches_tracked, which has no pyconvnet counterpart
    return {k: v.detach().numpy() for k, v in tm.state_dict().items() if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("make", [fmnist_pair, cifar_pair, bn_pair], ids=["fmnist-cnn", "cifar-cnn", "bn"])
def test_torch_round_trip(make, tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm, pm, shape = make(torch)
    tm.eval()
    if isinstance(tm[1], torch.nn.BatchNorm2d):  # non-trivial running statistics
        with torch.no_grad():
            tm[1].running_mean.uniform_(-0.5, 0.5)
            tm[1].running_var.uniform_(0.5, 2.0)
            tm[1].weight.uniform_(0.5, 1.5)
    x = np.random.default_rng(0).random((4,) + shape, dtype=np.float32)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()

    # torch -> pyconvnet: same keys, same layouts
    sd = torch_state(torch, tm)
    assert set(sd) == set(pm.state_dict())
    pm.load_state_dict(sd, strict=True)
    got = pm.predict(x)
    assert np.max(np.abs(got - want)) < 1e-5

    # pyconvnet -> file -> torch (safetensors.torch reads the pyconvnet file directly)
    from safetensors.torch import load_file

    pm[0].weight.data *= 0.5  # change something so the direction matters
    p = str(tmp_path / "m.safetensors")
    pm.save(p)
    tm2 = make(torch)[0]
    missing, unexpected = tm2.load_state_dict(load_file(p), strict=False)
    assert unexpected == [] and all(k.endswith("num_batches_tracked") for k in missing)
    tm2.eval()
    with torch.no_grad():
        want2 = tm2(torch.from_numpy(x)).numpy()
    got2 = io.load(p).predict(x)
    assert np.max(np.abs(got2 - want2)) < 1e-5

    # torch -> pyconvnet -> torch is exact
    pm.load_state_dict(sd)
    back = {k: torch.from_numpy(v) for k, v in pm.state_dict().items()}
    tm3 = make(torch)[0]
    tm3.load_state_dict(back, strict=False)
    for k, v in tm.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(tm3.state_dict()[k], v), k
