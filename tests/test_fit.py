import os
import signal

import numpy as np
import pytest

import pyconvnet
from pyconvnet import init
from pyconvnet.datasets import make_shapes
from pyconvnet.layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from pyconvnet.losses import CrossEntropyLoss, MSELoss
from pyconvnet.model import Callback, Sequential
from pyconvnet.optim import SGD, Adam


def cnn(seed=0, classes=4, size=16):
    init.manual_seed(seed)
    s = size // 4
    return Sequential([
        Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
        Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2),
        Flatten(), Linear(16 * s * s, 32), ReLU(), Dropout(0.2), Linear(32, classes),
    ])


def shapes(n, seed, classes=(0, 1, 3, 4), size=16):
    x, y, _ = make_shapes(n, size=size, seed=seed, classes=list(classes))
    remap = np.full(8, -1)
    remap[list(classes)] = np.arange(len(classes))
    return x, remap[y]


def test_small_cnn_learns_generated_shapes():
    x, y = shapes(1600, seed=1)
    xt, yt = shapes(400, seed=2)
    model = cnn()
    before = model.evaluate(xt, yt)["accuracy"]
    hist = model.fit(x, y, epochs=10, batch_size=32, optimizer=Adam(model.params(), lr=3e-3),
                     validation_data=(xt, yt), seed=0, verbose=0)
    acc = model.evaluate(xt, yt)["accuracy"]
    assert before < 0.5
    assert acc > 0.9, f"test accuracy {acc:.3f} after training (history {hist.history})"
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.history["val_accuracy"][-1] == pytest.approx(acc)
    assert len(hist.epoch) == 10 and model.history is hist
    assert model.training  # mode restored


def _train(seed, fit_seed, augment=None, steps_epochs=2):
    x, y = shapes(96, seed=5)
    model = cnn(seed=seed)
    model.fit(x, y, epochs=steps_epochs, batch_size=16, seed=fit_seed, verbose=0, augment=augment)
    return model.state_dict()


def _flip(xb, rng):
    flip = rng.random(xb.shape[0]) < 0.5
    out = xb.copy()
    out[flip] = out[flip, :, :, ::-1]
    return out


def test_same_seed_gives_bit_identical_weights():
    a = _train(0, 123, augment=_flip)
    b = _train(0, 123, augment=_flip)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    c = _train(0, 124, augment=_flip)
    assert any(not np.array_equal(a[k], c[k]) for k in a)


class _StopAt(Callback):
    def __init__(self, step, how):
        super().__init__()
        self.step, self.how, self.count = step, how, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.count == self.step:
            if self.how == "stop":
                self.model.stop_training = True
            elif self.how == "raise":
                raise KeyboardInterrupt
            else:
                os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("how", ["raise", "signal"])
def test_ctrl_c_stops_after_last_finished_step(how):
    x, y = shapes(128, seed=6)
    ref = cnn(seed=1)
    ref.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0, callbacks=[_StopAt(11, "stop")])
    model = cnn(seed=1)
    hist = model.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0, callbacks=[_StopAt(11, how)])
    assert hist.interrupted
    assert len(hist.epoch) == 1  # epoch 1 finished (8 steps), epoch 2 interrupted at its 3rd step
    sa, sb = ref.state_dict(), model.state_dict()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _SigintInForward(CrossEntropyLoss):
    """Sends SIGINT from inside the forward pass of step `step` (the handler runs right after)."""

    def __init__(self, step):
        super().__init__()
        self.step, self.count = step, 0

    def forward(self, pred, target):
        self.count += 1
        if self.count == self.step:
            os.kill(os.getpid(), signal.SIGINT)
        return super().forward(pred, target)


def test_ctrl_c_inside_a_step_abandons_it_with_the_weights_whole():
    x, y = shapes(128, seed=6)
    ref = cnn(seed=1)
    ref.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0, callbacks=[_StopAt(10, "stop")])
    model = cnn(seed=1)
    hist = model.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0, loss=_SigintInForward(11))
    assert hist.interrupted
    sa, sb = ref.state_dict(), model.state_dict()
    for k in sa:
        assert np.array_equal(sa[k], sb[k]), k  # step 11 never reached the optimizer
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _TwoSigints(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


def test_second_ctrl_c_raises_keyboard_interrupt():
    x, y = shapes(64, seed=6)
    model = cnn(seed=1)
    before = model.training
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, seed=7, verbose=0, callbacks=[_TwoSigints()])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert model.training == before
    assert np.isfinite(model.predict(x[:4])).all()


_LONG_FIT = """
import sys, numpy as np, pyconvnet
from pyconvnet.layers import Conv2d, Flatten, Linear, ReLU
from pyconvnet.model import Callback
rng = np.random.default_rng(0)
x = rng.standard_normal((4096, 1, 28, 28)).astype(np.float32)
y = rng.integers(0, 10, 4096)
model = pyconvnet.Sequential([Conv2d(1, 16, 3, padding=1), ReLU(), Conv2d(16, 16, 3, padding=1), ReLU(),
                              Flatten(), Linear(16 * 28 * 28, 10)])
class Ready(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            print("ready", flush=True)
            if sys.argv[1] == "pause":  # a slow callback: both signals land in it, apart
                import time
                time.sleep(3)
hist = model.fit(x, y, epochs=1000, batch_size=256, verbose=0, callbacks=[Ready()])
p = model.predict(x[:8])
print("stopped", hist.interrupted, bool(np.isfinite(p).all()), flush=True)
"""


def _start_long_fit(mode):
    import subprocess
    import sys
    import pathlib

    # Run where the tested pyconvnet lives (`-c` puts the working directory first on sys.path, and
    # a source checkout without _C must not shadow the installed package).
    root = str(pathlib.Path(pyconvnet.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=root)
    proc = subprocess.Popen([sys.executable, "-c", _LONG_FIT, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=root)
    line = proc.stdout.readline().strip()
    if line != "ready":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"the fit subprocess did not start: {err[-2000:]}")
    return proc


@pytest.mark.parametrize("sigints", [1, 2])
def test_ctrl_c_from_outside_a_long_fit(sigints):
    # One SIGINT during the steps: fit returns, interrupted, and the model still predicts.
    # Two (0.3 s apart, so the handler sees each): KeyboardInterrupt.
    import time

    proc = _start_long_fit("run" if sigints == 1 else "pause")
    try:
        proc.send_signal(signal.SIGINT)
        if sigints == 2:
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    if sigints == 1:
        assert proc.returncode == 0, err
        assert out.strip() == "stopped True True"
    else:
        assert proc.returncode != 0 and "KeyboardInterrupt" in err
        assert "stopped" not in out


def test_stop_training_and_callback_order():
    events = []

    class Rec(Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin {epoch}")

        def on_train_batch_begin(self, batch, logs=None):
            events.append(f"batch_begin {batch}")

        def on_train_batch_end(self, batch, logs=None):
            events.append(f"batch_end {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end {epoch} {sorted(logs)}")
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    x, y = shapes(20, seed=8)
    model = cnn()
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[Rec()], shuffle=False)
    assert events[0] == "train_begin" and events[-1] == "train_end"
    assert events[1:4] == ["epoch_begin 0", "batch_begin 0", "batch_end 0 ['accuracy', 'loss', 'size']"]
    assert "epoch_end 0 ['accuracy', 'loss']" in events
    assert len(hist.epoch) == 2 and not hist.interrupted


def test_augment_hook_gets_rng_and_shape_is_checked():
    x, y = shapes(32, seed=9)
    seen = []

    def aug(xb, rng):
        assert isinstance(rng, np.random.Generator)
        seen.append(xb.shape)
        return xb[:, :, ::-1, :]  # a strided view is fine

    model = cnn()
    model.fit(x, y, epochs=1, batch_size=10, augment=aug, verbose=0)
    assert seen == [(10, 1, 16, 16)] * 3 + [(2, 1, 16, 16)]
    with pytest.raises(ValueError, match="augment must return a batch of shape"):
        model.fit(x, y, epochs=1, batch_size=10, augment=lambda xb, rng: xb[:, :, :8], verbose=0)


def test_bad_input_is_rejected_before_training():
    x, y = shapes(32, seed=10)
    model = cnn()
    before = model.state_dict()
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:-1], epochs=1, verbose=0)
    bad = y.copy()
    bad[3] = 4
    with pytest.raises(ValueError, match=r"class index 4, outside \[0, 4\)"):
        model.fit(x, bad, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="in_channels"):
        model.fit(np.repeat(x, 3, axis=1), y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="astype"):
        model.fit((x * 255).astype(np.uint8), y, epochs=1, verbose=0)
    with pytest.raises(TypeError, match=r"astype\(np.int64\)"):
        model.fit(x, y.astype(np.float32), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=0, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, epochs=1, batch_size=0, verbose=0)
    with pytest.raises(TypeError, match="optimizer"):
        model.fit(x, y, epochs=1, optimizer="adam", verbose=0)
    with pytest.raises(ValueError, match="validation_data"):
        model.fit(x, y, epochs=1, validation_data=x, verbose=0)
    after = model.state_dict()
    for k in before:
        assert np.array_equal(before[k], after[k])


def test_default_optimizer_is_reused_and_frozen_layers_stay():
    x, y = shapes(32, seed=11)
    model = cnn()
    model.freeze(until=3)
    w0 = model[0].weight.data.copy()
    w3 = model[3].weight.data.copy()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    opt = model.optimizer
    assert isinstance(opt, Adam)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert model.optimizer is opt and opt.state[id(model[3].weight)]["step"] == 8
    assert np.array_equal(model[0].weight.data, w0)
    assert not np.array_equal(model[3].weight.data, w3)
    sgd = SGD(model.params(), lr=0.01)
    model.fit(x, y, epochs=1, verbose=0, optimizer=sgd)
    assert model.optimizer is sgd


def test_regression_with_mse():
    init.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 3)).astype(np.float32)
    w = np.array([[1.0, -2.0, 0.5]], np.float32)
    y = x @ w.T + 0.3
    model = Sequential([Linear(3, 1)])
    hist = model.fit(x, y, epochs=30, batch_size=32, loss=MSELoss(), optimizer=SGD(model.params(), lr=0.1),
                     verbose=0, seed=0)
    assert "accuracy" not in hist.history
    assert hist.history["loss"][-1] < 1e-4
    np.testing.assert_allclose(model[0].weight.data, w, atol=1e-2)
    assert model.evaluate(x, y)["loss"] < 1e-4


@pytest.mark.parametrize("use_tqdm", [True, False])
def test_progress_bar_shows_loss_accuracy_and_throughput(use_tqdm, capsys):
    if use_tqdm:
        pytest.importorskip("tqdm")
    from pyconvnet.model import ProgressBar

    x, y = shapes(40, seed=12)
    model = cnn()
    model.fit(x, y, epochs=2, batch_size=16, verbose=1, callbacks=[ProgressBar(use_tqdm=use_tqdm, interval=0)])
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err
    assert "loss" in err and "accuracy" in err and "img/s" in err
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().err == ""
