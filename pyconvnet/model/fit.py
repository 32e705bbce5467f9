"""The training loop behind `Sequential.fit`.

Per step: gather the batch into a preallocated buffer, optional augmentation, zero the grads,
forward, loss, backward (no input gradient for the first layer), optimiser step, callbacks.
Everything that can be checked once is checked before the first step.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

from .._validate import as_float_array, as_int
from ..init import default_generator
from ..losses import CrossEntropyLoss, Loss, as_class_labels
from ..optim import Adam
from ..optim.base import Optimizer
from .callbacks import CallbackList

__all__ = ["fit"]


class _StepAbandoned(Exception):
    """Raised by the first Ctrl-C inside a step's forward/backward (no weight changed yet)."""


class _SigintGuard:
    """Turn the first Ctrl-C into the end of training; a second one raises KeyboardInterrupt.

    The first abandons the step in progress if it arrives during its forward or backward pass
    (Python runs the handler when the current kernel returns, so at the next layer), else ends
    training after the optimizer step. Only the main thread can own a signal handler; elsewhere
    KeyboardInterrupt is caught the ordinary way.
    """

    def __init__(self):
        self.requested = False
        self.in_step = False  # in forward/backward: abandoning the step leaves the weights whole
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.in_step:
            self.in_step = False
            raise _StepAbandoned

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.getsignal(signal.SIGINT)
                if self._previous is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                    self._installed = True
            except (ValueError, OSError):  # pragma: no cover - exotic embedding
                self._installed = False
        return self

    def __exit__(self, *exc):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _as_targets(y, loss):
    arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if isinstance(loss, CrossEntropyLoss) or arr.dtype.kind in "iu":
        return as_class_labels(arr, "y")
    return as_float_array(arr, "y")


def _resolve_loss(loss):
    if loss is None:
        return CrossEntropyLoss()
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a pyconvnet.losses loss (e.g. CrossEntropyLoss()), got {type(loss).__name__}")
    return loss


def _resolve_optimizer(model, optimizer, params):
    if optimizer is None:
        prev = model.optimizer
        if prev is not None and {id(p) for p in prev.params} == {id(p) for p in params}:
            return prev
        return Adam(params)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a pyconvnet.optim optimizer (e.g. Adam(model.params())), "
                        f"got {type(optimizer).__name__}")
    return optimizer


def fit(model, x, y, epochs, batch_size=32, optimizer=None, loss=None, validation_data=None, augment=None,
        callbacks=(), shuffle=True, seed=None, verbose=1):
    # ------------------------------------------------------------ checks, once
    x = as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have a batch dimension, got shape {x.shape}")
    epochs = as_int(epochs, "epochs", 1)
    batch_size = as_int(batch_size, "batch_size", 1)
    verbose = int(verbose) if isinstance(verbose, (bool, np.bool_)) else as_int(verbose, "verbose", 0)
    loss = _resolve_loss(loss)
    y = _as_targets(y, loss)
    n = x.shape[0]
    if y.shape[:1] != (n,):
        raise ValueError(f"x and y must hold the same number of samples, got x {x.shape} and y {y.shape}")
    if n == 0:
        raise ValueError("fit needs at least one training sample")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable augment(x_batch, rng) -> x_batch, got {type(augment).__name__}")
    out_shape = model.output_shape((None,) + x.shape[1:])  # ValueError naming the layer if x does not fit
    classes = y.dtype == np.int64 and y.ndim == 1
    if classes and len(out_shape) == 2 and out_shape[1] is not None:
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= out_shape[1]:
            bad = lo if lo < 0 else hi
            raise ValueError(f"y holds class index {bad}, outside [0, {out_shape[1]}) for a model with "
                             f"{out_shape[1]} outputs")
    val = None
    if validation_data is not None:
        try:
            vx, vy = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (x_val, y_val)") from None
        vx = as_float_array(vx, "validation_data x")
        vy = _as_targets(vy, loss)
        if vy.shape[:1] != vx.shape[:1]:
            raise ValueError(f"validation_data x and y must hold the same number of samples, "
                             f"got {vx.shape[0]} and {vy.shape[0]}")
        val = (vx, vy)

    params = model.params()
    optimizer = _resolve_optimizer(model, optimizer, params)
    model.optimizer = optimizer
    model.loss = loss
    model.input_shape = tuple(x.shape[1:])

    # ----------------------------------------------------------------- seeds
    if seed is None:
        seed = int(default_generator().integers(0, 2**63))
    children = np.random.SeedSequence(seed).spawn(1 + len(model.layers))
    rng = np.random.default_rng(children[0])
    for layer, child in zip(model.layers, children[1:]):
        reseed = getattr(layer, "reseed", None)
        if reseed is not None:
            reseed(child)

    steps = -(-n // batch_size)
    cbl = CallbackList(callbacks, model=model, add_history=True, add_progbar=bool(verbose),
                       params={"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size,
                               "verbose": verbose})
    history = cbl.history

    if shuffle:
        xbuf = np.empty((min(batch_size, n),) + x.shape[1:], np.float32)
        ybuf = np.empty((min(batch_size, n),) + y.shape[1:], y.dtype)
    was_training = model.training
    model.train()
    model.stop_training = False
    backward = model._backward
    final_logs = {}
    interrupted = False

    with _SigintGuard() as guard:
        try:
            cbl.on_train_begin()
            for epoch in range(epochs):
                cbl.on_epoch_begin(epoch)
                order = rng.permutation(n) if shuffle else None
                loss_sum = 0.0
                correct = 0
                seen = 0
                for step in range(steps):
                    b0 = step * batch_size
                    b1 = min(n, b0 + batch_size)
                    m = b1 - b0
                    if shuffle:
                        idx = order[b0:b1]
                        xb = np.take(x, idx, axis=0, out=xbuf[:m], mode="clip")
                        yb = np.take(y, idx, axis=0, out=ybuf[:m], mode="clip")
                    else:
                        xb = x[b0:b1]
                        yb = y[b0:b1]
                    if augment is not None:
                        xa = as_float_array(augment(xb, rng), "augment(x_batch, rng) result")
                        if xa.shape != xb.shape:
                            raise ValueError(f"augment must return a batch of shape {xb.shape}, got {xa.shape}")
                        xb = xa
                    cbl.on_train_batch_begin(step)
                    for p in params:
                        p.grad.fill(0.0)
                    try:
                        guard.in_step = True
                        out = model.forward(xb)
                        value = loss.forward(out, yb)
                        backward(loss.backward(), need_input_grad=False)
                        guard.in_step = False
                    except _StepAbandoned:
                        break
                    optimizer.step()
                    # the step is complete: from here on an interrupt keeps these weights
                    seen += m
                    loss_sum += value * m
                    logs = {"loss": loss_sum / seen}
                    if classes and out.ndim == 2:
                        correct += int(np.count_nonzero(out.argmax(axis=1) == yb))
                        logs["accuracy"] = correct / seen
                    logs["size"] = m
                    cbl.on_train_batch_end(step, logs)
                    if model.stop_training or guard.requested:
                        break
                if guard.requested:
                    interrupted = True
                    break
                epoch_logs = {"loss": loss_sum / seen}
                if classes:
                    epoch_logs["accuracy"] = correct / seen
                if val is not None:
                    for k, v in model.evaluate(val[0], val[1], batch_size=max(256, batch_size), loss=loss).items():
                        epoch_logs["val_" + k] = v
                final_logs = epoch_logs
                cbl.on_epoch_end(epoch, epoch_logs)
                if model.stop_training or guard.requested:
                    interrupted = guard.requested
                    break
        except KeyboardInterrupt:
            if guard.requested:
                raise  # the second Ctrl-C
            interrupted = True
        finally:
            model.train(was_training)

    if interrupted:
        history.interrupted = True
        final_logs = dict(final_logs, interrupted=True)
    cbl.on_train_end(final_logs)
    return history
