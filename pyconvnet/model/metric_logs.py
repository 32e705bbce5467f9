"""The `metrics=[...]` of fit and evaluate: names or callables, averaged over an epoch.

A metric is a name ("accuracy", "top_k_accuracy" (k=5), "top_<k>_accuracy") or a callable
`f(y_true, y_pred) -> float` logged under its `__name__`. It gets the batch's targets and the
model's outputs. Each epoch reports the mean of the per-batch values weighted by batch size:
exact for accuracy and top-k accuracy (means over samples), a batch average for metrics that
are not (such as F1).
"""

from __future__ import annotations

import functools
import re

import numpy as np

from ..metrics.classification import accuracy, top_k_accuracy

__all__ = ["resolve_metrics", "MetricTotals"]

_TOP_K = re.compile(r"^top_(\d+)_accuracy$")


def _named(name):
    if name == "accuracy":
        return accuracy
    if name == "top_k_accuracy":
        return functools.partial(top_k_accuracy, k=5)
    m = _TOP_K.match(name)
    if m and int(m.group(1)) >= 1:
        return functools.partial(top_k_accuracy, k=int(m.group(1)))
    raise ValueError(f"unknown metric {name!r}: use 'accuracy', 'top_k_accuracy', 'top_<k>_accuracy' "
                     "or a callable f(y_true, y_pred) -> float")


def resolve_metrics(metrics, classes: bool):
    """[(name, fn)]. None: accuracy for integer class labels, else nothing."""
    if metrics is None:
        return [("accuracy", accuracy)] if classes else []
    if isinstance(metrics, str) or callable(metrics):
        metrics = [metrics]
    out = []
    for m in metrics:
        if isinstance(m, str):
            fn = _named(m)
            if not classes:
                raise ValueError(f"metric {m!r} needs integer class labels as targets")
            out.append((m, fn))
        elif callable(m):
            name = getattr(m, "__name__", None) or type(m).__name__
            out.append((name, m))
        else:
            raise TypeError(f"metrics must hold metric names or callables, got {type(m).__name__} ({m!r})")
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"metrics {dup} are given twice")
    return out


class MetricTotals:
    """Batch-size weighted sums of each metric over an epoch."""

    def __init__(self, metrics, prefix=""):
        self.metrics = metrics
        self.prefix = prefix
        self.reset()

    def reset(self):
        self.sums = [0.0] * len(self.metrics)
        self.count = 0

    def update(self, y_true, y_pred):
        m = int(np.shape(y_true)[0])
        for k, (name, fn) in enumerate(self.metrics):
            value = fn(y_true, y_pred)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"metric {name!r} must return a number, got {type(value).__name__}") from None
            self.sums[k] += value * m
        self.count += m

    def results(self) -> dict:
        if not self.count:
            return {}
        return {self.prefix + name: s / self.count for (name, _), s in zip(self.metrics, self.sums)}
