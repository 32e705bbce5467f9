"""Softmax, log-softmax and cross-entropy (``torch.nn.functional`` semantics)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_int

__all__ = ["softmax", "log_softmax", "cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def _axis(x: np.ndarray, axis) -> int:
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
    return _C.softmax_forward(x, _axis(x, axis))


def log_softmax(x, axis: int = 1) -> np.ndarray:
    """``(x - max) - log(sum(exp(x - max)))`` along ``axis``, evaluated in float64 per element."""
    x = as_float_array(x, "x")
    return _C.log_softmax_forward(x, _axis(x, axis))


def _target(target, n: int, c: int) -> np.ndarray:
    if isinstance(target, np.ndarray):
        t = target
    else:
        try:
            t = np.asarray(target)
        except (ValueError, OverflowError, TypeError) as exc:
            raise TypeError(f"target must be an array of integer class indices: {exc}") from None
    if t.dtype.kind not in "iu":
        if t.dtype.kind in "fc":
            hint = " (convert with target.astype(np.int64))"
        else:
            hint = ""
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}{hint}")
    if t.ndim != 1:
        raise ValueError(f"target must be 1-D with shape ({n},) to match logits, got shape {t.shape}")
    if t.shape[0] != n:
        raise ValueError(
            f"target has {t.shape[0]} entries but logits has N={n} rows; target must have shape ({n},)"
        )
    if n:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"target contains class index {bad} outside the valid range [0, {c}) "
                f"for logits with C={c} classes"
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
    t = _target(target, n, c)
    losses = _C.cross_entropy_forward(logits, t)
    if reduction == "none":
        return losses
    total = float(np.sum(losses, dtype=np.float64))
    if reduction == "sum":
        return total
    return total / n if n else float("nan")
