"""LearningRateScheduler: schedules stepped by fit per epoch or per batch, lr in logs and History."""

from __future__ import annotations

import io

import numpy as np
import pytest

import pyconvnet
from pyconvnet.layers import Flatten, Linear
from pyconvnet.model import LearningRateScheduler, ProgressBar, Sequential
from pyconvnet.optim import SGD
from pyconvnet.optim.lr_scheduler import CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, StepLR


def _model():
    pyconvnet.manual_seed(0)
    return Sequential([Flatten(), Linear(4, 3)], input_shape=(1, 2, 2))


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 2, 2), dtype=np.float32), rng.integers(0, 3, n)


def test_per_epoch_steps_after_each_epoch_and_logs_the_rate_used():
    model = _model()
    opt = SGD(model.params(), lr=1.0)
    cb = LearningRateScheduler(StepLR(opt, step_size=1, gamma=0.5))
    x, y = _data()
    hist = model.fit(x, y, epochs=3, batch_size=4, optimizer=opt, callbacks=[cb], verbose=0)
    assert hist.history["lr"] == [1.0, 0.5, 0.25]
    assert opt.lr == 0.125


def test_per_batch_steps_after_each_optimizer_step():
    model = _model()
    opt = SGD(model.params(), lr=0.1)
    seen = []

    class Record(pyconvnet.model.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["lr"])

    sched = CosineAnnealingLR(opt, T_max=6)
    x, y = _data()
    hist = model.fit(x, y, epochs=2, batch_size=4, optimizer=opt, verbose=0,
                     callbacks=[Record(), LearningRateScheduler(sched, per="batch")])
    expected = [0.1 * (1 + np.cos(np.pi * t / 6)) / 2 for t in range(6)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(hist.history["lr"], [expected[2], expected[5]], rtol=1e-12, atol=1e-15)
    assert sched.last_epoch == 6


def test_a_factory_builds_the_schedule_on_fits_own_optimizer():
    model = _model()
    x, y = _data()
    cb = LearningRateScheduler(lambda o: OneCycleLR(o, max_lr=0.01, total_steps=6), per="batch")
    model.fit(x, y, epochs=2, batch_size=4, callbacks=[cb], verbose=0)
    assert cb.scheduler.optimizer is model.optimizer and cb.scheduler.last_epoch == 6


def test_reduce_on_plateau_reads_the_monitored_value():
    model = _model()
    opt = SGD(model.params(), lr=0.5)
    x, y = _data()
    sched = ReduceLROnPlateau(opt, patience=0, threshold=100.0, threshold_mode="abs", factor=0.5)
    hist = model.fit(x, y, epochs=3, batch_size=4, optimizer=opt, verbose=0,
                     callbacks=[LearningRateScheduler(sched, monitor="loss")])
    assert hist.history["lr"] == [0.5, 0.5, 0.25]  # epoch 1 sets best; epochs 2 and 3 reduce
    assert opt.lr == 0.125
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs"):
        model.fit(x, y, epochs=1, optimizer=opt, verbose=0, callbacks=[LearningRateScheduler(sched)])


def test_the_progress_bar_shows_the_rate():
    model = _model()
    opt = SGD(model.params(), lr=0.001)
    out = io.StringIO()
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=4, optimizer=opt, verbose=1,
              callbacks=[LearningRateScheduler(StepLR(opt, 1)), ProgressBar(stream=out, use_tqdm=False)])
    assert "lr 0.001" in out.getvalue()


def test_errors():
    model = _model()
    x, y = _data()
    other = SGD(_model().params(), lr=0.1)
    with pytest.raises(ValueError, match="another optimizer"):
        model.fit(x, y, epochs=1, verbose=0, optimizer=SGD(model.params(), lr=0.1),
                  callbacks=[LearningRateScheduler(StepLR(other, 1))])
    with pytest.raises(ValueError, match="per must be"):
        LearningRateScheduler(StepLR(other, 1), per="step")
    with pytest.raises(TypeError, match="scheduler must be"):
        LearningRateScheduler(0.1)
    with pytest.raises(ValueError, match="per='epoch'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(ReduceLROnPlateau, per="batch")])
