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

__all__ = ["resolve_metrics", "metric_totals", "MetricTotals"]

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


def _as_list(metrics):
    if metrics is None:
        return None
    if isinstance(metrics, str) or callable(metrics):
        return [metrics]
    try:
        return list(metrics)
    except TypeError:
        raise TypeError(f"metrics must be a list of metric names or callables, got {type(metrics).__name__}") from None


def resolve_metrics(metrics, classify: bool):
    """[(name, fn)] for one output. None: accuracy when the output classifies (integer labels,
    (N, C) scores); else named metrics only when it classifies, callables always."""
    metrics = _as_list(metrics)
    if metrics is None:
        return [("accuracy", accuracy)] if classify else []
    out = []
    for m in metrics:
        if isinstance(m, str):
            fn = _named(m)
            if classify:
                out.append((m, fn))
        elif callable(m):
            out.append((getattr(m, "__name__", None) or type(m).__name__, m))
        else:
            raise TypeError(f"metrics must hold metric names or callables, got {type(m).__name__} ({m!r})")
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"metrics {dup} are given twice")
    return out


def metric_totals(metrics, names, classify):
    """One MetricTotals per output (keys prefixed by the output name when there are several)."""
    listed = _as_list(metrics) or []
    if any(isinstance(m, str) for m in listed) and not any(classify):
        raise ValueError("metrics such as 'accuracy' need integer class labels y and (N, C) model outputs")
    several = len(names) > 1
    return [MetricTotals(resolve_metrics(metrics, c), prefix=f"{name}_" if several else "")
            for name, c in zip(names, classify)]


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
