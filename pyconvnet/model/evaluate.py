"""`Model.evaluate` (and so `Sequential.evaluate`): mean loss and metrics in eval mode, over
arrays or over the batches of a DataLoader / any iterable of (x, y) batches."""

from __future__ import annotations

import numpy as np

from .._validate import as_int
from ..losses import CrossEntropyLoss, as_class_labels
from .batches import BatchSource, is_batch_source, split_batch
from .metric_logs import metric_totals, resolve_metrics
from .outputs import per_output, resolve_losses
from .weighting import sample_weights, weighted_value

__all__ = ["evaluate"]


def _labels(y, loss, what):
    """Targets (integer class labels as int64) for the loss."""
    arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if arr.dtype.kind in "iu":
        return as_class_labels(arr, what)
    if isinstance(loss, CrossEntropyLoss):
        as_class_labels(arr, what)  # raises the TypeError with the hint
    return arr


def _targets(y, names, losses, n, prefix=""):
    several = len(names) > 1
    out = []
    for k, (yk, lk) in enumerate(zip(per_output(y, names, prefix + "y") if several else [y], losses)):
        what = prefix + (f"y[{names[k]!r}]" if several else "y")
        arr = _labels(yk, lk, what)
        if arr.shape[:1] != (n,):
            raise ValueError(f"x and {what} must hold the same number of samples, got {n} and {arr.shape}")
        out.append(arr)
    return out


def _array_batches(model, x, y, names, losses, batch_size):
    xs = model._as_inputs(x)
    n = xs[0].shape[0]
    ys = _targets(y, names, losses, n)
    if n == 0:
        raise ValueError("evaluate needs at least one sample")
    for start in range(0, n, batch_size):
        yield [a[start:start + batch_size] for a in xs], [t[start:start + batch_size] for t in ys], None


def _source_batches(model, x, names, losses, steps):
    source = BatchSource(x, steps, "x")
    source.begin_epoch()
    try:
        while True:
            raw = source.next()
            if raw is None:
                return
            xb, yb, wb = split_batch(raw, "batch of x")
            xbs = model._as_inputs(xb, "x batch")
            m = xbs[0].shape[0]
            ybs = _targets(yb, names, losses, m, "batch ")
            yield xbs, ybs, sample_weights(ybs[0], wb, None, m, "the batch's sample_weight")
    finally:
        source.close()


def evaluate(model, x, y=None, batch_size=256, loss=None, metrics=None, steps=None) -> dict:
    batch_size = as_int(batch_size, "batch_size", 1)
    names = model.output_names
    several = len(names) > 1
    if loss is None:
        loss = model.loss
    losses = resolve_losses(loss, names)
    resolve_metrics(metrics, True)  # unknown names fail before any work
    weights = getattr(model, "_loss_weights", None)
    if weights is None or len(weights) != len(names):
        weights = [1.0] * len(names)
    if is_batch_source(x):
        if y is not None:
            raise ValueError("x is an iterable of (x, y) batches: the targets come from it, pass y=None")
        batches = _source_batches(model, x, names, losses, steps)
    else:
        if steps is not None:
            raise ValueError("steps is for an iterable x (e.g. a DataLoader)")
        if y is None:
            raise ValueError("evaluate needs targets y with arrays x (or an iterable of (x, y) batches)")
        batches = _array_batches(model, x, y, names, losses, batch_size)
    totals = [0.0] * len(names)
    tracked = None
    n = 0
    for xbs, ybs, wb in batches:
        outs = model._infer_list(xbs)
        m = outs[0].shape[0]
        if tracked is None:
            tracked = metric_totals(metrics, names, [t.dtype == np.int64 and t.ndim == 1 and o.ndim == 2
                                                     for t, o in zip(ybs, outs)])
        for k, (out, yb) in enumerate(zip(outs, ybs)):
            totals[k] += weighted_value(losses[k], out, yb, wb) * m
            tracked[k].update(yb, out)
        n += m
    if n == 0:
        raise ValueError("evaluate got no batches from x")
    if not several:
        return {"loss": totals[0] / n, **tracked[0].results()}
    result = {"loss": sum(w * t / n for w, t in zip(weights, totals))}
    for k, name in enumerate(names):
        result[f"{name}_loss"] = totals[k] / n
        result.update(tracked[k].results())
    return result
