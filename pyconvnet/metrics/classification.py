"""Classification metrics with scikit-learn's definitions: accuracy, top-k accuracy, per-class
precision / recall / F1 (and their macro, micro and weighted averages), the confusion matrix.

`y_true` holds integer class indices (N,). `y_pred` is either class indices (N,) or scores of
shape (N, C) (logits or probabilities), read as their argmax (the lowest index on ties).
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_int
from ..losses import as_class_labels

__all__ = ["accuracy", "top_k_accuracy", "precision_recall_f1", "confusion_matrix"]


def _labels(y, name):
    y = as_class_labels(y, name)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices (N,), got shape {y.shape}")
    if y.size and y.min() < 0:
        raise ValueError(f"{name} holds the negative class index {int(y.min())}")
    return y


def _predicted(y_pred):
    """Class indices from indices (N,) or from scores (N, C)."""
    arr = y_pred if isinstance(y_pred, np.ndarray) else np.asarray(y_pred)
    if arr.ndim == 2:
        scores = as_float_array(arr, "y_pred")
        if scores.shape[1] == 0:
            raise ValueError(f"y_pred scores must have at least one class, got shape {scores.shape}")
        return scores.argmax(axis=1).astype(np.int64), scores.shape[1]
    return _labels(arr, "y_pred"), None


def _pair(y_true, y_pred):
    t = _labels(y_true, "y_true")
    p, width = _predicted(y_pred)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"y_true and y_pred must hold the same number of samples, got {t.shape[0]} and {p.shape[0]}")
    if width is not None and t.size and t.max() >= width:
        raise ValueError(f"y_true holds class index {int(t.max())}, outside the {width} columns of y_pred")
    return t, p, width


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class is the true one (0.0 for no samples)."""
    t, p, _ = _pair(y_true, y_pred)
    return float(np.count_nonzero(t == p) / t.size) if t.size else 0.0


def top_k_accuracy(y_true, y_score, k=5) -> float:
    """Fraction of samples whose true class is among the `k` highest scores of `y_score`
    (N, C). Equal scores rank by class index (lower first), so k=1 equals `accuracy`. A `k` of
    C or more counts every sample."""
    t = _labels(y_true, "y_true")
    s = as_float_array(y_score, "y_score", ndim=2, what="(scores of shape (N, C))")
    k = as_int(k, "k", 1)
    if s.shape[0] != t.shape[0]:
        raise ValueError(f"y_true and y_score must hold the same number of samples, got {t.shape[0]} and {s.shape[0]}")
    if t.size == 0:
        return 0.0
    if t.max() >= s.shape[1]:
        raise ValueError(f"y_true holds class index {int(t.max())}, outside the {s.shape[1]} columns of y_score")
    true_score = s[np.arange(t.size), t][:, None]
    cols = np.arange(s.shape[1])[None, :]
    # the true class's rank: classes scoring higher, plus equal scores at a lower index
    rank = np.count_nonzero((s > true_score) | ((s == true_score) & (cols < t[:, None])), axis=1)
    return float(np.count_nonzero(rank < k) / t.size)


def _num_classes(num_classes, t, p, width):
    seen = 1 + max(int(t.max()) if t.size else -1, int(p.max()) if p.size else -1)
    if num_classes is None:
        return max(seen, width or 0)
    c = as_int(num_classes, "num_classes", 1)
    if seen > c:
        raise ValueError(f"labels hold class index {seen - 1}, outside num_classes={c}")
    return c


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """(C, C) int64 counts: row = true class, column = predicted class (scikit-learn's layout).
    C is `num_classes`, else the number of score columns, else the largest label + 1."""
    t, p, width = _pair(y_true, y_pred)
    c = _num_classes(num_classes, t, p, width)
    return np.bincount(t * c + p, minlength=c * c).reshape(c, c).astype(np.int64)


def _ratio(num, den, zero_division):
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def precision_recall_f1(y_true, y_pred, num_classes=None, average=None, zero_division=0.0):
    """Precision, recall and F1 as scikit-learn's `precision_recall_fscore_support`.

    `average=None`: three float64 arrays indexed by class; `"macro"`: their unweighted means over
    the classes that occur in `y_true` or `y_pred` (the others have no evidence either way);
    `"weighted"`: means weighted by each class's count in `y_true`; `"micro"`: from the summed
    counts (for one label per sample all three equal the accuracy). A ratio whose denominator
    is 0 is `zero_division`. Returns `(precision, recall, f1)`.
    """
    if average not in (None, "macro", "micro", "weighted"):
        raise ValueError(f"average must be None, 'macro', 'micro' or 'weighted', got {average!r}")
    zero_division = float(zero_division)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    if average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    precision = _ratio(tp, predicted, zero_division)
    recall = _ratio(tp, support, zero_division)
    # F1 from the counts (2 tp / (2 tp + fp + fn)), which is what scikit-learn computes
    f1 = _ratio(2 * tp, predicted + support, zero_division)
    if average in (None, "micro"):
        return (precision, recall, f1) if average is None else (float(precision), float(recall), float(f1))
    if average == "macro":
        present = (support + predicted) > 0
        if not present.any():
            return (zero_division,) * 3
        return tuple(float(v[present].mean()) for v in (precision, recall, f1))
    total = support.sum()
    if total == 0:
        return (zero_division,) * 3
    return tuple(float((v * support).sum() / total) for v in (precision, recall, f1))
