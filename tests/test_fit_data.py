"""fit / evaluate / predict on DataLoaders and other iterables, metrics=[...], class_weight and
sample_weight (Keras's semantics, checked against a float64 NumPy oracle)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import pyconvnet
from pyconvnet.data import ArrayDataset, DataLoader
from pyconvnet.layers import Flatten, Linear, ReLU
from pyconvnet.losses import MSELoss
from pyconvnet.model import Callback, Sequential
from pyconvnet.optim import SGD


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 2, 2), dtype=np.float32), rng.integers(0, 3, n)


def _model(seed=0):
    pyconvnet.manual_seed(seed)
    return Sequential([Flatten(), Linear(4, 8), ReLU(), Linear(8, 3)], input_shape=(1, 2, 2))


def _no_loader_threads():
    return not [t for t in threading.enumerate() if t.name.startswith("pyconvnet-data")]


def _weights(model):
    return [p.data.copy() for p in model.params()]


def test_a_loader_gives_the_same_training_as_the_arrays():
    x, y = _data()
    a, b = _model(), _model()
    ha = a.fit(x, y, epochs=3, batch_size=5, shuffle=False, optimizer=SGD(a.params(), lr=0.1), seed=1, verbose=0)
    loader = DataLoader(ArrayDataset(x, y), batch_size=5, shuffle=False, workers=2)
    hb = b.fit(loader, epochs=3, optimizer=SGD(b.params(), lr=0.1), seed=1, verbose=0)
    assert all(np.array_equal(p, q) for p, q in zip(_weights(a), _weights(b)))
    assert ha.history == hb.history and loader.epoch == 3
    assert _no_loader_threads()


def test_an_item_only_iterable_and_a_generator_of_batches():
    x, y = _data()

    class Batches:  # re-iterable, no len(): the progress bar counts steps
        def __iter__(self):
            for i in range(0, 24, 6):
                yield x[i:i + 6], y[i:i + 6]

    a, b = _model(), _model()
    a.fit(Batches(), epochs=2, optimizer=SGD(a.params(), lr=0.1), verbose=1, callbacks=[])
    b.fit(x, y, epochs=2, batch_size=6, shuffle=False, optimizer=SGD(b.params(), lr=0.1), verbose=0)
    assert all(np.array_equal(p, q) for p, q in zip(_weights(a), _weights(b)))


def test_steps_per_epoch_reads_an_endless_generator():
    x, y = _data()
    drawn = []

    def endless():
        i = 0
        while True:
            drawn.append(i)
            j = (i * 4) % 24
            yield x[j:j + 4], y[j:j + 4]
            i += 1

    model = _model()
    hist = model.fit(endless(), epochs=3, steps_per_epoch=2, verbose=0)
    assert len(hist.epoch) == 3 and drawn == list(range(6))


def test_steps_per_epoch_restarts_a_loader_across_epochs():
    x, y = _data(12)
    loader = DataLoader(ArrayDataset(x, y), batch_size=4, seed=0)  # 3 batches per pass
    sizes = []

    class Count(Callback):
        def on_train_batch_end(self, batch, logs=None):
            sizes.append(logs["size"])

    _model().fit(loader, epochs=3, steps_per_epoch=2, verbose=0, callbacks=[Count()])
    assert sizes == [4] * 6 and loader.epoch == 2
    assert _no_loader_threads()


def test_a_one_shot_iterator_runs_out_with_a_warning():
    x, y = _data()
    gen = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 24, 8))
    with pytest.warns(RuntimeWarning, match="ran out of batches after 1 epochs"):
        hist = _model().fit(gen, epochs=3, verbose=0)
    assert hist.epoch == [0]
    with pytest.raises(ValueError, match="yielded no batches"):
        _model().fit(iter([]), epochs=1, verbose=0)


def test_the_loader_stops_when_training_stops_early_or_fails():
    x, y = _data(200)

    class StopAfter(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    loader = DataLoader(ArrayDataset(x, y), batch_size=4, workers=2)
    _model().fit(loader, epochs=2, verbose=0, callbacks=[StopAfter()])
    assert _no_loader_threads()

    class Broken(ArrayDataset):
        def get_batch(self, idx):
            raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        _model().fit(DataLoader(Broken(x, y), batch_size=4, workers=2), epochs=1, verbose=0)
    assert _no_loader_threads()


def test_argument_errors():
    x, y = _data()
    loader = DataLoader(ArrayDataset(x, y), batch_size=4)
    with pytest.raises(ValueError, match="pass y=None"):
        _model().fit(loader, y, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch is for an iterable"):
        _model().fit(x, y, steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="fit needs targets y"):
        _model().fit(x, verbose=0)
    with pytest.raises(ValueError, match="pair"):
        _model().fit(iter([x[:4]]), verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        _model().fit(loader, steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match="sample_weight"):
        _model().fit(loader, sample_weight=np.ones(24), verbose=0)


def test_evaluate_and_predict_on_loaders_match_the_arrays():
    x, y = _data(30)
    model = _model()
    loader = DataLoader(ArrayDataset(x, y), batch_size=7, shuffle=False)
    ref = model.evaluate(x, y)
    got = model.evaluate(loader)
    assert got.keys() == ref.keys()
    assert got["loss"] == pytest.approx(ref["loss"], rel=1e-6) and got["accuracy"] == ref["accuracy"]
    assert np.array_equal(model.predict(loader), model.predict(x))
    xs_only = (x[i:i + 4] for i in range(0, 30, 4))
    assert np.array_equal(model.predict(xs_only), model.predict(x))

    def endless():
        while True:
            yield (x[:5],)

    assert model.predict(endless(), steps=3).shape == (15, 3)
    assert model.evaluate(((x[:5], y[:5]) for _ in range(100)), steps=2)["loss"] == pytest.approx(
        model.evaluate(x[:5], y[:5])["loss"], rel=1e-6)
    assert _no_loader_threads()


def test_validation_data_may_be_a_loader():
    x, y = _data()
    val = DataLoader(ArrayDataset(x, y), batch_size=8, shuffle=False)
    hist = _model().fit(x, y, epochs=2, validation_data=val, verbose=0, metrics=["accuracy", "top_2_accuracy"])
    assert set(hist.history) == {"loss", "accuracy", "top_2_accuracy", "val_loss", "val_accuracy",
                                 "val_top_2_accuracy"}
    assert val.epoch == 2


# ------------------------------------------------------------------ metrics

def test_metrics_by_name_and_callable():
    x, y = _data()
    model = _model()
    calls = []

    def fraction_of_class_0(y_true, y_pred):
        calls.append(len(y_true))
        return float(np.mean(y_true == 0))

    hist = model.fit(x, y, epochs=2, batch_size=5, verbose=0,
                     metrics=["top_k_accuracy", "accuracy", fraction_of_class_0])
    assert hist.history["top_k_accuracy"] == [1.0, 1.0]  # 3 classes: every label is in the top 5
    assert hist.history["fraction_of_class_0"] == [pytest.approx(np.mean(y == 0))] * 2  # batch-size weighted
    assert calls == [5, 5, 5, 5, 4] * 2
    ev = model.evaluate(x, y, metrics=["accuracy", "top_1_accuracy"])
    assert ev["accuracy"] == ev["top_1_accuracy"] == pytest.approx(np.mean(model.predict(x).argmax(1) == y))
    assert set(model.fit(x, y, epochs=1, verbose=0, metrics=[]).history) == {"loss"}


def test_metric_errors():
    x, y = _data()
    with pytest.raises(ValueError, match="unknown metric 'f2'"):
        _model().fit(x, y, metrics=["f2"], verbose=0)
    with pytest.raises(TypeError, match="metrics must hold"):
        _model().fit(x, y, metrics=[3], verbose=0)
    with pytest.raises(ValueError, match="need integer class labels"):
        _model().fit(x, np.zeros((24, 3), np.float32), loss=MSELoss(), metrics=["accuracy"], verbose=0)
    assert "accuracy" not in _model().fit(x, np.zeros((24, 3), np.float32), loss=MSELoss(), verbose=0).history


# ------------------------------------------------------------------ class_weight and sample_weight

def _oracle_step(model, x, y, w, lr):
    """One SGD step on the whole batch of sum_i w_i CE_i / N, in float64 (a 1-layer model)."""
    W = model[1].weight.data.astype(np.float64)
    b = model[1].bias.data.astype(np.float64)
    f = x.reshape(len(x), -1).astype(np.float64)
    z = f @ W.T + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    n = len(y)
    loss = float(np.sum(w * -np.log(p[np.arange(n), y])) / n)
    d = (p - np.eye(3)[y]) * w[:, None] / n
    return loss, W - lr * d.T @ f, b - lr * d.sum(axis=0)


def _linear(seed=0):
    pyconvnet.manual_seed(seed)
    return Sequential([Flatten(), Linear(4, 3)], input_shape=(1, 2, 2))


@pytest.mark.parametrize("how", ["class_weight", "sample_weight", "batches"])
def test_weights_scale_each_samples_loss_keras_style(how):
    x, y = _data(12)
    cw = {0: 2.0, 2: 0.5}  # class 1 is not named: weight 1
    w = np.array([cw.get(int(c), 1.0) for c in y])
    model = _linear()
    loss, W, b = _oracle_step(model, x, y, w, lr=0.5)
    opt = SGD(model.params(), lr=0.5)
    if how == "class_weight":
        hist = model.fit(x, y, epochs=1, batch_size=12, shuffle=False, optimizer=opt, class_weight=cw, verbose=0)
    elif how == "sample_weight":
        hist = model.fit(x, y, epochs=1, batch_size=12, optimizer=opt, sample_weight=w, verbose=0, seed=3)
    else:
        hist = model.fit(iter([(x, y, w)]), epochs=1, optimizer=opt, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(model[1].weight.data, W, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model[1].bias.data, b, rtol=0, atol=1e-6)


def test_uniform_weight_and_zero_weights():
    x, y = _data(12)
    model = _linear()
    loss1, _, _ = _oracle_step(model, x, y, np.ones(12), lr=0.0)
    hist = model.fit(x, y, epochs=1, batch_size=12, optimizer=SGD(model.params(), lr=0.0),
                     sample_weight=np.full(12, 3.0), verbose=0)
    assert hist.history["loss"][0] == pytest.approx(3 * loss1, rel=1e-5)
    model = _linear()
    before = _weights(model)
    model.fit(x, y, epochs=1, batch_size=4, optimizer=SGD(model.params(), lr=0.5), sample_weight=np.zeros(12),
              verbose=0)
    assert all(np.array_equal(p, q) for p, q in zip(before, _weights(model)))


def test_weight_errors():
    x, y = _data(12)
    with pytest.raises(ValueError, match="not both"):
        _linear().fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(12), verbose=0)
    with pytest.raises(ValueError, match=r"shape \(12,\)"):
        _linear().fit(x, y, sample_weight=np.ones(11), verbose=0)
    with pytest.raises(ValueError, match="finite weights >= 0"):
        _linear().fit(x, y, sample_weight=-np.ones(12), verbose=0)
    with pytest.raises(ValueError, match=r"class_weight\[1\]"):
        _linear().fit(x, y, class_weight={1: -2.0}, verbose=0)
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        _linear().fit(x, y, class_weight=[1.0, 2.0], verbose=0)
    with pytest.raises(ValueError, match="class_weight needs integer class labels"):
        _linear().fit(x, np.zeros((12, 3), np.float32), loss=MSELoss(), class_weight={0: 1.0}, verbose=0)
