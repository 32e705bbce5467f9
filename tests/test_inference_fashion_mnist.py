"""InferenceModel on real data: the fmnist-cnn of benchmarks/bench_model.py trained briefly on
Fashion-MNIST, then the 10k test images served by InferenceModel against model.evaluate.

The images come from the Debian package dataset-fashion-mnist (idx files, gzip), read here with
gzip + struct + NumPy; nothing is downloaded. Training is a small seeded subset for one epoch:
the point is a real, non-trivial set of weights and inputs, not a good classifier.
"""

from __future__ import annotations

import gzip
import pathlib
import struct

import numpy as np
import pytest

import pyconvnet
from pyconvnet import InferenceModel, Sequential, init
from pyconvnet.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from pyconvnet.optim import Adam

from conftest import threads

DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
    "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz",
}
TRAIN_IMAGES = 4000  # one epoch of these reaches ~75% test accuracy in a few seconds on 2 cores

pytestmark = pytest.mark.skipif(
    not all((DATA / f).is_file() for f in FILES.values()),
    reason=f"Fashion-MNIST not installed: install the Debian package dataset-fashion-mnist ({DATA})")


def read_idx(path) -> np.ndarray:
    """An idx file (big-endian): 0, 0, type code, number of dims, the dims as uint32, the data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype_code == 0x08, f"{path}: not an unsigned-byte idx file"
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    assert data.size == int(np.prod(dims)), f"{path}: {data.size} bytes for dims {dims}"
    return data.reshape(dims)


def _images(a):
    return (a.astype(np.float32) / 255.0)[:, None, :, :]


@pytest.fixture(scope="module")
def data():
    d = {k: read_idx(DATA / f) for k, f in FILES.items()}
    assert d["train_x"].shape == (60000, 28, 28) and d["test_x"].shape == (10000, 28, 28)
    return d


def fmnist_cnn():
    """benchmarks/bench_model.py's fmnist-cnn."""
    return Sequential([
        Conv2d(1, 32, 5, padding=2), ReLU(), MaxPool2d(2),
        Conv2d(32, 64, 5, padding=2), ReLU(), MaxPool2d(2),
        Flatten(), Linear(3136, 1024), ReLU(), Dropout(0.4), Linear(1024, 10),
    ], input_shape=(1, 28, 28))


@pytest.fixture(scope="module")
def trained(data):
    init.manual_seed(0)
    model = fmnist_cnn()
    x = _images(data["train_x"][:TRAIN_IMAGES])
    y = data["train_y"][:TRAIN_IMAGES].astype(np.int64)
    model.fit(x, y, epochs=1, batch_size=32, optimizer=Adam(model.params(), lr=1e-3), seed=0, verbose=0)
    test_x, test_y = _images(data["test_x"]), data["test_y"].astype(np.int64)
    ev = model.evaluate(test_x, test_y)
    ref = model.predict(test_x)
    fp32 = InferenceModel(model).predict(test_x)
    return model, test_x, test_y, ev, ref, fp32


def test_fp32_serving_accuracy_equals_model_evaluate(trained):
    model, x, y, ev, ref, out = trained
    assert ev["accuracy"] > 0.6, f"training failed (test accuracy {ev['accuracy']:.3f}); the test means nothing"
    assert out.shape == (10000, 10) and out.dtype == np.float32
    scale = float(np.abs(ref).max())
    assert float(np.abs(out - ref).max()) <= 1e-4 * scale
    pred, ref_pred = out.argmax(axis=1), ref.argmax(axis=1)
    agree = float(np.mean(pred == ref_pred))
    assert agree >= 0.999, f"fp32 serving agrees with model.predict on {agree:.4%} of the test images"
    acc = float(np.mean(pred == y))
    assert abs(acc - ev["accuracy"]) <= 1.0 - agree + 1e-12, (acc, ev["accuracy"])


def test_fp32_serving_with_max_batch_gives_the_bits_of_each_slice(trained):
    """1000 test images with max_batch 97 on one thread: each slice has the bits of one call
    on that slice on two threads (bit-identical for every thread count)."""
    model, x, y, ev, ref, out = trained
    x = x[:1000]
    im = InferenceModel(model, max_batch=97)
    with threads(1):
        part = im.predict(x)
    whole = InferenceModel(model)
    for s in range(0, 1000, 97):
        assert part[s:s + 97].tobytes() == whole.predict(x[s:s + 97]).tobytes()
    assert float(np.mean(part.argmax(1) == out[:1000].argmax(1))) >= 0.999


@pytest.mark.skipif(not hasattr(pyconvnet._C, "round_to_bf16"),
                    reason="bf16 serving needs _C.round_to_bf16 and the bf16 PackedLinear (packed-linear branch)")
def test_bf16_serving_keeps_the_accuracy(trained):
    model, x, y, ev, ref, fp32 = trained
    out = InferenceModel(model, precision="bf16").predict(x)
    pred, fp32_pred = out.argmax(axis=1), fp32.argmax(axis=1)
    acc, acc32 = float(np.mean(pred == y)), float(np.mean(fp32_pred == y))
    assert abs(acc - acc32) <= 0.003, f"bf16 accuracy {acc:.4f} vs fp32 {acc32:.4f}"
    agree = float(np.mean(pred == fp32_pred))
    assert agree >= 0.99, f"bf16 agrees with fp32 on {agree:.4%} of the test images"
    assert not np.array_equal(out, fp32)  # the rounding really happens
