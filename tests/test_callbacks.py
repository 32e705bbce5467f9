import io as stdio
import pickle

import numpy as np
import pytest

from pyconvnet import init
from pyconvnet.layers import Linear, ReLU
from pyconvnet.model import (Callback, CallbackList, EarlyStopping, History, ModelCheckpoint, ProgressBar,
                             Sequential)


def mlp(seed=0):
    init.manual_seed(seed)
    return Sequential([Linear(2, 8), ReLU(), Linear(8, 2)])


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    return x, (x[:, 0] * x[:, 1] > 0).astype(np.int64)


class Scripted(Callback):
    """Replaces the monitored metric by a scripted sequence, to drive EarlyStopping exactly."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = values, key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


def test_callback_list_adds_history_and_progress_bar():
    cbl = CallbackList([], add_history=True, add_progbar=True)
    kinds = [type(cb) for cb in cbl]
    assert kinds == [History, ProgressBar]
    h = History()
    assert CallbackList([h], add_history=True).history is h
    with pytest.raises(TypeError, match="Callback instances"):
        CallbackList([print])


def test_history_records_epochs():
    x, y = data()
    model = mlp()
    hist = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert hist.epoch == [0, 1, 2]
    assert len(hist.history["loss"]) == 3 and len(hist.history["accuracy"]) == 3
    assert "epochs=3" in repr(hist)


def test_early_stopping_patience_and_restore_best_weights():
    x, y = data()
    model = mlp()
    snapshots = []

    class Snap(Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append(self.model.state_dict())

    #            epoch: 0    1    2    3    4    5    6
    script = Scripted([1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.9, 0.1, 0.1, 0.1])
    es = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(x, y, epochs=10, batch_size=16, verbose=0, callbacks=[script, Snap(), es])
    # best at epoch 3, no improvement at 4 and 5 -> stop after epoch 5
    assert hist.epoch == [0, 1, 2, 3, 4, 5]
    assert es.stopped_epoch == 5 and es.best_epoch == 3 and es.best == 0.4
    best = snapshots[3]
    now = model.state_dict()
    for k in best:
        assert np.array_equal(now[k], best[k]), k
    assert not np.array_equal(now["2.weight"], snapshots[5]["2.weight"])


def test_early_stopping_max_mode_min_delta_and_no_restore():
    x, y = data()
    model = mlp()
    es = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)
    assert es.mode == "max"
    script = Scripted([0.5, 0.52, 0.9, 0.93, 0.2], key="val_accuracy")
    hist = model.fit(x, y, epochs=5, batch_size=64, verbose=0, callbacks=[script, es])
    # 0.52 is not > 0.5 + 0.05 -> stop after epoch 1
    assert hist.epoch == [0, 1] and es.best == 0.5
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="up")


def test_early_stopping_warns_on_missing_metric():
    x, y = data()
    model = mlp()
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs"):
        hist = model.fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping()])
    assert hist.epoch == [0, 1]


def test_model_checkpoint_saves_through_model_save(tmp_path):
    pytest.importorskip("safetensors")
    import pyconvnet.io as pio

    x, y = data()
    model = mlp()
    ck = ModelCheckpoint(tmp_path / "ck-{epoch:02d}.safetensors", monitor="val_loss", save_best_only=True)
    script = Scripted([0.5, 0.7, 0.3])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[script, ck])
    assert [p.rsplit("/", 1)[-1] for p in ck.saved] == ["ck-01.safetensors", "ck-03.safetensors"]
    loaded = pio.load(ck.saved[-1])
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_model_checkpoint_every_epoch_formats_logs(tmp_path):
    saved = []

    class FakeModel:
        def save(self, path):
            saved.append(path)

    ck = ModelCheckpoint(str(tmp_path / "m-{epoch}-{loss:.2f}.st"))
    ck.set_model(FakeModel())
    ck.on_epoch_end(0, {"loss": 1.234})
    ck.on_epoch_end(1, {"loss": 0.5})
    assert [p.rsplit("/", 1)[-1] for p in saved] == ["m-1-1.23.st", "m-2-0.50.st"]


def test_text_progress_bar_and_verbose_2():
    x, y = data()
    buf = stdio.StringIO()
    model = mlp()
    model.fit(x, y, epochs=2, batch_size=16, verbose=1, callbacks=[ProgressBar(stream=buf, use_tqdm=False,
                                                                                 interval=0)])
    text = buf.getvalue()
    assert "Epoch 1/2 [" in text and "4/4" in text and "img/s" in text and "accuracy" in text
    buf2 = stdio.StringIO()
    model.fit(x, y, epochs=2, batch_size=16, verbose=2, callbacks=[ProgressBar(stream=buf2)])
    lines = buf2.getvalue().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "loss" in lines[1]


def test_pickle_and_save_roundtrip(tmp_path):
    pytest.importorskip("safetensors")
    from pyconvnet import io as pio

    model = mlp()
    x, _ = data(8)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    model.save(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(pio.load(tmp_path / "m.safetensors").predict(x), model.predict(x))
