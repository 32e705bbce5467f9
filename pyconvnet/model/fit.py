"""The training loop behind `Model.fit` (and so `Sequential.fit`).

Per step: a batch (gathered from arrays into preallocated buffers, or read from a DataLoader
or another iterable), optional augmentation, zero the grads, forward, loss (a weighted sum over
the outputs of a multi-output model; per-sample weights from class_weight / sample_weight),
backward (no input gradient for the inputs), optimiser step, metrics, callbacks. Everything
that can be checked once is checked before the first step.
"""

from __future__ import annotations

import signal
import threading
import warnings

import numpy as np

from .._validate import as_float_array, as_int
from ..init import default_generator
from ..optim import Adam
from ..optim.base import Optimizer
from .batches import ArrayBatches, BatchSource, SourceBatches, is_batch_source, split_batch
from .callbacks import CallbackList
from .metric_logs import metric_totals, resolve_metrics
from .outputs import as_targets, per_output, resolve_loss_weights, resolve_losses
from .weighting import class_weight_table, sample_weights, weighted_loss

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


def _check_class_range(yk, shape, what):
    if shape is not None and len(shape) == 2 and shape[1] is not None and yk.size:
        lo, hi = int(yk.min()), int(yk.max())
        if lo < 0 or hi >= shape[1]:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{what} holds class index {bad}, outside [0, {shape[1]}) for a model with "
                             f"{shape[1]} outputs")


class _Targets:
    """Converts the targets of one batch or array: per output, checked against the losses."""

    def __init__(self, model, losses):
        self.names = model.output_names
        self.several = len(self.names) > 1
        self.losses = losses
        self.labels = [f"y[{k!r}]" for k in self.names] if self.several else ["y"]

    def __call__(self, y, n, prefix=""):
        values = per_output(y, self.names, prefix + "y") if self.several else [y]
        ys = [as_targets(v, lk, prefix + what) for v, lk, what in zip(values, self.losses, self.labels)]
        for yk, what in zip(ys, self.labels):
            if yk.shape[:1] != (n,):
                raise ValueError(f"x and {prefix}{what} must hold the same number of samples, got {n} and {yk.shape}")
        return ys


def fit(model, x, y=None, epochs=1, batch_size=32, optimizer=None, loss=None, validation_data=None, augment=None,
        callbacks=(), shuffle=True, seed=None, verbose=1, loss_weights=None, metrics=None, class_weight=None,
        sample_weight=None, steps_per_epoch=None):
    # ------------------------------------------------------------ checks, once
    epochs = as_int(epochs, "epochs", 1)
    batch_size = as_int(batch_size, "batch_size", 1)
    verbose = int(verbose) if isinstance(verbose, (bool, np.bool_)) else as_int(verbose, "verbose", 0)
    names = model.output_names
    several = len(names) > 1
    losses = resolve_losses(loss, names)
    weights = resolve_loss_weights(loss_weights, names)
    targets = _Targets(model, losses)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable augment(x_batch, rng) -> x_batch, got {type(augment).__name__}")
    resolve_metrics(metrics, True)  # unknown names and types fail before any work
    cw = class_weight_table(class_weight)
    if cw is not None and several:
        raise ValueError("class_weight is for models with one output; pass sample_weight instead")
    streaming = is_batch_source(x)

    if streaming:
        if y is not None:
            raise ValueError("x is an iterable of (x, y) batches: the targets come from it, pass y=None")
        if sample_weight is not None:
            raise ValueError("x is an iterable of batches: give per-sample weights as (x, y, sample_weight) batches")
        source = BatchSource(x, steps_per_epoch, "x")

        def convert(raw):
            xb, yb, wb = split_batch(raw, "batch of x")
            xbs = model._as_inputs(xb, "x batch")
            if xbs[0].ndim < 2 or xbs[0].shape[0] == 0:
                raise ValueError(f"each batch of x must hold at least one sample, got shape {xbs[0].shape}")
            m = xbs[0].shape[0]
            ybs = targets(yb, m, "batch ")
            return xbs, ybs, sample_weights(ybs[0], wb, cw, m, "the batch's sample_weight")

        batches = SourceBatches(source, convert)
        n = None
    else:
        if steps_per_epoch is not None:
            raise ValueError("steps_per_epoch is for an iterable x (e.g. a DataLoader); with arrays an epoch is "
                             "one pass over them")
        if y is None:
            raise ValueError("fit needs targets y with arrays x (or pass a DataLoader / an iterable of (x, y) batches)")
        xs = model._as_inputs(x)
        if xs[0].ndim < 2:
            raise ValueError(f"x must have a batch dimension, got shape {xs[0].shape}")
        n = xs[0].shape[0]
        ys = targets(y, n)
        if n == 0:
            raise ValueError("fit needs at least one training sample")
        # ValueError naming the layer if x does not fit
        out_shapes = model._graph().shapes([a.shape[1:] for a in xs])
        out_shapes = [out_shapes[r] for r in model._graph().outputs]
        for yk, shape, what in zip(ys, out_shapes, targets.labels):
            if yk.dtype == np.int64 and yk.ndim == 1:
                _check_class_range(yk, shape, what)
        w = sample_weights(ys[0], sample_weight, cw, n)
    if augment is not None and not streaming and len(xs) > 1:
        raise ValueError("augment transforms one input batch; this model has several inputs")
    val = None
    if validation_data is not None:
        if is_batch_source(validation_data):
            val = validation_data
        else:
            try:
                vx, vy = validation_data
            except (TypeError, ValueError):
                raise ValueError("validation_data must be a pair (x_val, y_val) or an iterable of batches "
                                 "(e.g. a DataLoader)") from None
            vxs = model._as_inputs(vx, "validation_data x")
            vys = targets(vy, vxs[0].shape[0], "validation_data ")
            val = (vxs if len(vxs) > 1 else vxs[0], vys if several else vys[0])

    params = model.params()
    optimizer = _resolve_optimizer(model, optimizer, params)
    model.optimizer = optimizer
    model.loss = losses if several else losses[0]
    model._loss_weights = weights

    # ----------------------------------------------------------------- seeds
    if seed is None:
        seed = int(default_generator().integers(0, 2**63))
    children = np.random.SeedSequence(seed).spawn(1 + len(model.layers))
    rng = np.random.default_rng(children[0])
    for layer, child in zip(model.layers, children[1:]):
        reseed = getattr(layer, "reseed", None)
        if reseed is not None:
            reseed(child)

    if not streaming:
        model._note_inputs(xs)
        batches = ArrayBatches(xs, ys, w, batch_size, shuffle, rng)
    steps = batches.steps_hint()
    cbl = CallbackList(callbacks, model=model, add_history=True, add_progbar=bool(verbose),
                       params={"epochs": epochs, "steps": steps, "samples": n, "batch_size": batch_size,
                               "verbose": verbose})
    history = cbl.history

    was_training = model.training
    model.train()
    model.stop_training = False
    backward = model._backward
    final_logs = {}
    interrupted = False
    totals = None  # per-output metric sums, set up at the first batch (when the outputs are known)
    first = True

    with _SigintGuard() as guard:
        try:
            cbl.on_train_begin()
            for epoch in range(epochs):
                cbl.on_epoch_begin(epoch)
                loss_sum = 0.0
                out_sums = [0.0] * len(names)
                seen = 0
                if totals is not None:
                    for t in totals:
                        t.reset()
                step = -1
                for step, (xbs, ybs, wb) in enumerate(batches.epoch()):
                    m = xbs[0].shape[0]
                    if augment is not None:
                        if len(xbs) > 1:
                            raise ValueError("augment transforms one input batch; this model has several inputs")
                        xa = as_float_array(augment(xbs[0], rng), "augment(x_batch, rng) result")
                        if xa.shape != xbs[0].shape:
                            raise ValueError(f"augment must return a batch of shape {xbs[0].shape}, got {xa.shape}")
                        xbs = [xa]
                    if first and streaming:
                        model._note_inputs(xbs)
                    cbl.on_train_batch_begin(step)
                    for p in params:
                        p.grad.fill(0.0)
                    try:
                        guard.in_step = True
                        outs = model.forward(xbs if len(xbs) > 1 else xbs[0])
                        if not several:
                            outs = [outs]
                        value = 0.0
                        grads = []
                        values = []
                        for out, yb, lk, lw in zip(outs, ybs, losses, weights):
                            vk, gk = weighted_loss(lk, out, yb, wb)
                            values.append(vk)
                            value += vk if lw == 1.0 else lw * vk
                            grads.append(gk if lw == 1.0 else gk * np.float32(lw))
                        backward(grads if several else grads[0], need_input_grad=False)
                        guard.in_step = False
                    except _StepAbandoned:
                        break
                    if first:
                        totals = metric_totals(metrics, names, [yk.dtype == np.int64 and yk.ndim == 1 and o.ndim == 2
                                                                for yk, o in zip(ybs, outs)])
                        first = False
                    optimizer.step()
                    # the step is complete: from here on an interrupt keeps these weights
                    seen += m
                    loss_sum += value * m
                    for k, vk in enumerate(values):
                        out_sums[k] += vk * m
                    logs = {"loss": loss_sum / seen}
                    for k, (out, yb) in enumerate(zip(outs, ybs)):
                        if several:
                            logs[f"{names[k]}_loss"] = out_sums[k] / seen
                        totals[k].update(yb, out)
                        logs.update(totals[k].results())
                    logs["size"] = m
                    cbl.on_train_batch_end(step, logs)
                    if model.stop_training or guard.requested:
                        break
                if guard.requested:
                    interrupted = True
                    break
                if seen == 0:
                    if epoch == 0:
                        raise ValueError("x yielded no batches")
                    warnings.warn(f"x ran out of batches after {epoch} epochs (an iterator can be read once): "
                                  "training stopped; pass steps_per_epoch, or a re-iterable such as a DataLoader",
                                  RuntimeWarning, stacklevel=3)
                    break
                epoch_logs = {"loss": loss_sum / seen}
                for k in range(len(names)):
                    if several:
                        epoch_logs[f"{names[k]}_loss"] = out_sums[k] / seen
                    epoch_logs.update(totals[k].results())
                if val is not None:
                    vres = (model.evaluate(val, loss=model.loss, metrics=metrics) if not isinstance(val, tuple) else
                            model.evaluate(val[0], val[1], batch_size=max(256, batch_size), loss=model.loss,
                                           metrics=metrics))
                    for k, v in vres.items():
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
            batches.close()

    if interrupted:
        history.interrupted = True
        final_logs = dict(final_logs, interrupted=True)
    cbl.on_train_end(final_logs)
    return history
