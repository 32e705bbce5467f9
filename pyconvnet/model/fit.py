"""The training loop behind `Model.fit` (and so `Sequential.fit`).

Per step: gather the batch into preallocated buffers, optional augmentation, zero the grads,
forward, loss (a weighted sum over the outputs of a multi-output model), backward (no input
gradient for the inputs), optimiser step, callbacks. Everything that can be checked once is
checked before the first step.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

from .._validate import as_float_array, as_int
from ..init import default_generator
from ..optim import Adam
from ..optim.base import Optimizer
from .callbacks import CallbackList
from .outputs import as_targets, per_output, resolve_loss_weights, resolve_losses

__all__ = ["fit"]


class _SigintGuard:
    """Turn the first Ctrl-C into a flag checked between steps (a second one aborts at once).

    Only the main thread can own a signal handler; elsewhere KeyboardInterrupt is caught the
    ordinary way.
    """

    def __init__(self):
        self.requested = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

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
        callbacks=(), shuffle=True, seed=None, verbose=1, loss_weights=None):
    # ------------------------------------------------------------ checks, once
    xs = model._as_inputs(x)
    if xs[0].ndim < 2:
        raise ValueError(f"x must have a batch dimension, got shape {xs[0].shape}")
    epochs = as_int(epochs, "epochs", 1)
    batch_size = as_int(batch_size, "batch_size", 1)
    verbose = int(verbose) if isinstance(verbose, (bool, np.bool_)) else as_int(verbose, "verbose", 0)
    names = model.output_names
    several = len(names) > 1
    losses = resolve_losses(loss, names)
    weights = resolve_loss_weights(loss_weights, names)
    labels = [f"y[{k!r}]" for k in names] if several else ["y"]
    ys = [as_targets(v, lk, what) for v, lk, what in zip(per_output(y, names, "y") if several else [y], losses, labels)]
    n = xs[0].shape[0]
    for yk, what in zip(ys, labels):
        if yk.shape[:1] != (n,):
            raise ValueError(f"x and {what} must hold the same number of samples, got x {xs[0].shape} and {what} {yk.shape}")
    if n == 0:
        raise ValueError("fit needs at least one training sample")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable augment(x_batch, rng) -> x_batch, got {type(augment).__name__}")
    if augment is not None and len(xs) > 1:
        raise ValueError("augment transforms one input batch; this model has several inputs")
    # ValueError naming the layer if x does not fit
    out_shapes = model._graph().shapes([a.shape[1:] for a in xs])
    out_shapes = [out_shapes[r] for r in model._graph().outputs]
    classes = [yk.dtype == np.int64 and yk.ndim == 1 for yk in ys]
    acc_keys = [f"{k}_accuracy" for k in names] if several else ["accuracy"]
    for yk, cls, shape in zip(ys, classes, out_shapes):
        if cls and shape is not None and len(shape) == 2 and shape[1] is not None:
            lo, hi = int(yk.min()), int(yk.max())
            if lo < 0 or hi >= shape[1]:
                bad = lo if lo < 0 else hi
                raise ValueError(f"y holds class index {bad}, outside [0, {shape[1]}) for a model with "
                                 f"{shape[1]} outputs")
    val = None
    if validation_data is not None:
        try:
            vx, vy = validation_data
        except (TypeError, ValueError):
            raise ValueError("validation_data must be a pair (x_val, y_val)") from None
        vxs = model._as_inputs(vx, "validation_data x")
        vys = [as_targets(v, lk, "validation_data " + what)
               for v, lk, what in zip(per_output(vy, names, "validation_data y") if several else [vy], losses, labels)]
        for vyk in vys:
            if vyk.shape[:1] != vxs[0].shape[:1]:
                raise ValueError(f"validation_data x and y must hold the same number of samples, "
                                 f"got {vxs[0].shape[0]} and {vyk.shape[0]}")
        val = (vxs if len(vxs) > 1 else vxs[0], vys if several else vys[0])

    params = model.params()
    optimizer = _resolve_optimizer(model, optimizer, params)
    model.optimizer = optimizer
    model.loss = losses if several else losses[0]
    model._loss_weights = weights
    model._note_inputs(xs)

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
        xbufs = [np.empty((min(batch_size, n),) + a.shape[1:], np.float32) for a in xs]
        ybufs = [np.empty((min(batch_size, n),) + yk.shape[1:], yk.dtype) for yk in ys]
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
                out_sums = [0.0] * len(ys)
                correct = [0] * len(ys)
                seen = 0
                for step in range(steps):
                    b0 = step * batch_size
                    b1 = min(n, b0 + batch_size)
                    m = b1 - b0
                    if shuffle:
                        idx = order[b0:b1]
                        xbs = [np.take(a, idx, axis=0, out=buf[:m], mode="clip") for a, buf in zip(xs, xbufs)]
                        ybs = [np.take(yk, idx, axis=0, out=buf[:m], mode="clip") for yk, buf in zip(ys, ybufs)]
                    else:
                        xbs = [a[b0:b1] for a in xs]
                        ybs = [yk[b0:b1] for yk in ys]
                    if augment is not None:
                        xa = as_float_array(augment(xbs[0], rng), "augment(x_batch, rng) result")
                        if xa.shape != xbs[0].shape:
                            raise ValueError(f"augment must return a batch of shape {xbs[0].shape}, got {xa.shape}")
                        xbs = [xa]
                    cbl.on_train_batch_begin(step)
                    for p in params:
                        p.grad.fill(0.0)
                    outs = model.forward(xbs if len(xbs) > 1 else xbs[0])
                    if not several:
                        outs = [outs]
                    value = 0.0
                    grads = []
                    for k, (out, yb, lk, w) in enumerate(zip(outs, ybs, losses, weights)):
                        vk = lk.forward(out, yb)
                        gk = lk.backward()
                        out_sums[k] += vk * m
                        value += vk if w == 1.0 else w * vk
                        grads.append(gk if w == 1.0 else gk * np.float32(w))
                    backward(grads if several else grads[0], need_input_grad=False)
                    optimizer.step()
                    # the step is complete: from here on an interrupt keeps these weights
                    seen += m
                    loss_sum += value * m
                    logs = {"loss": loss_sum / seen}
                    for k, (out, yb) in enumerate(zip(outs, ybs)):
                        if several:
                            logs[f"{names[k]}_loss"] = out_sums[k] / seen
                        if classes[k] and out.ndim == 2:
                            correct[k] += int(np.count_nonzero(out.argmax(axis=1) == yb))
                            logs[acc_keys[k]] = correct[k] / seen
                    logs["size"] = m
                    cbl.on_train_batch_end(step, logs)
                    if model.stop_training or guard.requested:
                        break
                if guard.requested:
                    interrupted = True
                    break
                epoch_logs = {"loss": loss_sum / seen}
                for k in range(len(ys)):
                    if several:
                        epoch_logs[f"{names[k]}_loss"] = out_sums[k] / seen
                    if classes[k]:
                        epoch_logs[acc_keys[k]] = correct[k] / seen
                if val is not None:
                    for k, v in model.evaluate(val[0], val[1], batch_size=max(256, batch_size),
                                               loss=model.loss).items():
                        epoch_logs["val_" + k] = v
                final_logs = epoch_logs
                cbl.on_epoch_end(epoch, epoch_logs)
                if model.stop_training or guard.requested:
                    interrupted = guard.requested
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            model.train(was_training)

    if interrupted:
        history.interrupted = True
        final_logs = dict(final_logs, interrupted=True)
    cbl.on_train_end(final_logs)
    return history
