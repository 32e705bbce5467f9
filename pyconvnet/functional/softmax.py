"""Softmax, log-softmax and cross-entropy (``torch.nn.functional`` semantics)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_int

__all__ = ["softmax", "log_softmax", "cross_entropy", "as_class_labels", "class_targets", "check_axis"]

_REDUCTIONS = ("mean", "sum", "none")


def check_axis(x: np.ndarray, axis) -> int:
    """`axis` as an int in range for `x` (``softmax``, ``log_softmax`` and ``Softmax``)."""
    axis = as_int(axis, "axis")
    if x.ndim == 0:
        raise ValueError("x must have at least 1 dimension, got a 0-d array")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"axis {axis} is out of range for x of shape {x.shape} (expected {-x.ndim} <= axis < {x.ndim})"
        )
    return axis


def softmax(x, axis: int = 1) -> np.ndarray:
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (any rank, negative axes allowed).

    Subtracting the maximum keeps it finite for huge logits; a slice holding NaN, +inf or only
    -inf gives NaN, as in PyTorch.
    """
    x = as_float_array(x, "x")
    return _C.softmax_forward(x, check_axis(x, axis))


def log_softmax(x, axis: int = 1) -> np.ndarray:
    """``(x - max) - log(sum(exp(x - max)))`` along ``axis``, evaluated in float64 per element."""
    x = as_float_array(x, "x")
    return _C.log_softmax_forward(x, check_axis(x, axis))


def _label_array(target, name: str) -> np.ndarray:
    """`target` as an integer ndarray (TypeError for float, bool or object labels)."""
    if isinstance(target, np.ndarray):
        t = target
    else:
        try:
            t = np.asarray(target)
        except (ValueError, OverflowError, TypeError) as exc:
            raise TypeError(f"{name} must be an array of integer class indices: {exc}") from None
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and t.size and np.all(np.isfinite(t)) and np.array_equal(t, np.round(t)):
            hint = f"convert with {name}.astype(np.int64)"
        else:
            hint = "pass integer class indices of shape (N,)"
        raise TypeError(f"{name} must hold integer class indices, got dtype {t.dtype}; {hint}")
    return t


def as_class_labels(target, name: str = "target") -> np.ndarray:
    """Class indices as a C-contiguous int64 array (TypeError for float, bool or object labels)."""
    t = _label_array(target, name)
    if t.dtype != np.int64 or not t.flags.c_contiguous:
        t = np.ascontiguousarray(t, dtype=np.int64)
    return t


def class_targets(target, n: int, c: int, name: str = "target", logits: str = "logits", *,
                  spatial: tuple = (), ignore_index: int | None = None) -> np.ndarray:
    """`target` as C-contiguous int64 class indices of shape (n, *spatial), each in [0, c) unless
    it equals `ignore_index`, for (n, c, *spatial) `logits` (``cross_entropy`` and
    ``CrossEntropyLoss``, whose per-pixel form has spatial dimensions)."""
    t = _label_array(target, name)
    want = (n, *spatial)
    if t.shape != want:
        raise ValueError(
            f"{name} must have shape {want} to match {logits} of shape {(n, c, *spatial)}, got shape {t.shape}"
        )
    counted = t if ignore_index is None else t[t != ignore_index]
    if counted.size:
        # On the array as given: a uint64 index of 2**63 or more must not wrap to a negative one.
        lo, hi = int(counted.min()), int(counted.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"{name} holds class index {bad}, outside the valid range [0, {c}) "
                f"for {logits} with C={c} classes"
            )
    return np.ascontiguousarray(t, dtype=np.int64)


def cross_entropy(logits, target, reduction: str = "mean"):
    """Cross-entropy of ``logits (N, C)`` against integer class indices ``target (N,)``.

    Per sample ``logsumexp(logits[i]) - logits[i, target[i]]``. ``reduction='mean'`` and ``'sum'``
    return a Python float (float64 sum of the per-sample losses in index order; the mean of an
    empty batch is NaN as in PyTorch); ``'none'`` returns the ``(N,)`` float32 losses.
    """
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    logits = as_float_array(logits, "logits", ndim=2, what="(N, C)")
    n, c = logits.shape
    t = class_targets(target, n, c)
    losses = _C.cross_entropy_forward(logits, t)
    if reduction == "none":
        return losses
    total = float(np.sum(losses, dtype=np.float64))
    if reduction == "sum":
        return total
    return total / n if n else float("nan")
