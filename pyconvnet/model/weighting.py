"""class_weight and sample_weight in fit, with Keras's semantics.

A sample's weight multiplies its loss, and the batch loss is the sum of the weighted
per-sample losses divided by the batch size (not by the sum of the weights). `class_weight`
maps a class index to the weight of its samples (classes it does not name weigh 1).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validate import as_float_array

__all__ = ["class_weight_table", "sample_weights", "weighted_value", "weighted_loss"]


def class_weight_table(class_weight):
    """A checked `{class index: weight}` dict (None stays None)."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got {type(class_weight).__name__}")
    table = {}
    for k, v in class_weight.items():
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Integral,)) or k < 0:
            raise ValueError(f"class_weight keys must be class indices (ints >= 0), got {k!r}")
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
            raise ValueError(f"class_weight[{k}] must be a finite number >= 0, got {v!r}")
        table[int(k)] = float(v)
    return table


def sample_weights(y, sample_weight, class_weight, n, what="sample_weight"):
    """Per-sample float32 weights (n,), or None when every sample weighs 1."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("pass class_weight or sample_weight, not both")
    if sample_weight is not None:
        w = as_float_array(sample_weight, what)
        if w.shape != (n,):
            raise ValueError(f"{what} must have shape ({n},), one weight per sample, got {w.shape}")
        if not np.all(np.isfinite(w)) or (w.size and w.min() < 0):
            raise ValueError(f"{what} must hold finite weights >= 0")
        return w
    if class_weight is None:
        return None
    if y.dtype != np.int64 or y.ndim != 1:
        raise ValueError("class_weight needs integer class labels y of shape (N,)")
    top = max(max(class_weight, default=-1), int(y.max()) if y.size else -1)
    lookup = np.ones(top + 1, np.float32)
    for k, v in class_weight.items():
        lookup[k] = v
    return lookup[y]


def weighted_value(loss, out, y, w) -> float:
    """sum_i w_i l_i / N without touching the loss's cache (groups of equal weight; any mean
    loss works unchanged)."""
    if w is None:
        return loss.value(out, y)
    levels, group = np.unique(w, return_inverse=True)
    if levels.size == 1:
        return float(levels[0]) * loss.value(out, y)
    total = 0.0
    for g, level in enumerate(levels):
        if level != 0:
            sel = group == g
            total += float(level) * int(np.count_nonzero(sel)) * loss.value(out[sel], y[sel])
    return total / out.shape[0]


def weighted_loss(loss, out, y, w):
    """(value, gradient) of the weighted batch loss sum_i w_i l_i / N.

    The gradient of a mean loss has one row per sample, so weighting scales the rows.
    """
    if w is None:
        value = loss.forward(out, y)
        return value, loss.backward()
    value = weighted_value(loss, out, y, w)
    loss.forward(out, y)
    grad = loss.backward()
    return value, grad * w.reshape((out.shape[0],) + (1,) * (grad.ndim - 1))
