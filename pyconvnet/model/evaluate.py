"""`Model.evaluate` (and so `Sequential.evaluate`): mean loss and accuracy in eval mode."""

from __future__ import annotations

import numpy as np

from .._validate import as_int
from ..losses import CrossEntropyLoss, as_class_labels
from .outputs import per_output, resolve_losses

__all__ = ["evaluate"]


def _labels(y, loss, what):
    """(targets, whether they are integer class labels)."""
    arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if arr.dtype.kind in "iu":
        return as_class_labels(arr, what), True
    if isinstance(loss, CrossEntropyLoss):
        as_class_labels(arr, what)  # raises the TypeError with the hint
    return arr, False


def evaluate(model, x, y, batch_size=256, loss=None) -> dict:
    xs = model._as_inputs(x)
    batch_size = as_int(batch_size, "batch_size", 1)
    names = model.output_names
    several = len(names) > 1
    if loss is None:
        loss = model.loss
    losses = resolve_losses(loss, names)
    ys = per_output(y, names, "y") if several else [y]
    weights = getattr(model, "_loss_weights", None)
    if weights is None or len(weights) != len(names):
        weights = [1.0] * len(names)
    targets = []
    for k, (yk, lk) in enumerate(zip(ys, losses)):
        what = f"y[{names[k]!r}]" if several else "y"
        arr, classes = _labels(yk, lk, what)
        if arr.shape[:1] != xs[0].shape[:1]:
            raise ValueError(f"x and {what} must hold the same number of samples, got {xs[0].shape[0]} and {len(arr)}")
        targets.append((arr, classes))
    n = xs[0].shape[0]
    if n == 0:
        raise ValueError("evaluate needs at least one sample")
    totals = [0.0] * len(names)
    correct = [0] * len(names)
    for start in range(0, n, batch_size):
        outs = model._infer_list([a[start:start + batch_size] for a in xs])
        m = outs[0].shape[0]
        for k, (out, (arr, classes)) in enumerate(zip(outs, targets)):
            yb = arr[start:start + batch_size]
            totals[k] += losses[k].value(out, yb) * m
            if classes and out.ndim == 2:
                correct[k] += int(np.count_nonzero(out.argmax(axis=1) == yb))
    if not several:
        result = {"loss": totals[0] / n}
        if targets[0][1]:
            result["accuracy"] = correct[0] / n
        return result
    result = {"loss": sum(w * t / n for w, t in zip(weights, totals))}
    for k, name in enumerate(names):
        result[f"{name}_loss"] = totals[k] / n
        if targets[k][1]:
            result[f"{name}_accuracy"] = correct[k] / n
    return result
