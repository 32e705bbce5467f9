"""Loss functions with mean reduction and PyTorch semantics.

`loss.forward(pred, target) -> float` keeps what `loss.backward() -> grad_pred` needs;
`loss.value(pred, target)` computes the same number and keeps nothing (thread-safe).
"""

from __future__ import annotations

import numpy as np

from . import _C
from ._validate import as_float_array, as_float_scalar, as_int
from .functional.softmax import as_class_labels, class_targets

__all__ = ["Loss", "CrossEntropyLoss", "DiceLoss", "MSELoss", "SmoothL1Loss", "as_class_labels"]


class Loss:
    """Base class: `forward(pred, target) -> float`, then `backward() -> grad_pred`."""

    def __init__(self):
        self._cache = None

    def __call__(self, pred, target) -> float:
        return self.forward(pred, target)

    def forward(self, pred, target) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, pred, target) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward(pred, target)")
        return self._grad(*self._cache)

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


class CrossEntropyLoss(Loss):
    """Cross-entropy of logits against integer class indices, with PyTorch's semantics.

    ``pred`` is ``(N, C)`` logits with ``target`` ``(N,)``, or ``(N, C, H, W)`` logits with
    ``target`` ``(N, H, W)`` (one class per pixel). With ``l_i = -log softmax(pred_i)[t_i]`` over
    every sample (or pixel) ``i`` whose target is not ``ignore_index``, the loss is
    ``sum_i w[t_i] l_i / sum_i w[t_i]`` (``w = weight``, all ones by default): the weighted mean
    over the targets that count. When no target counts (all ignored, or their weights sum to 0)
    the loss is NaN, as in PyTorch; the gradient is then 0 for ignored targets.
    """

    def __init__(self, weight=None, ignore_index=-100):
        super().__init__()
        self.weight = None if weight is None else _class_weights(weight)
        self.ignore_index = as_int(ignore_index, "ignore_index")

    def _check(self, pred, target):
        pred = as_float_array(pred, "pred", (2, 4), "(N, C) or (N, C, H, W) logits")
        n, c = pred.shape[:2]
        if n == 0:
            raise ValueError("pred is empty (batch of 0 samples)")
        if pred.size == 0:
            raise ValueError(f"pred is empty (shape {pred.shape})")
        if self.weight is not None and self.weight.shape != (c,):
            raise ValueError(f"weight has {self.weight.shape[0]} entries but pred has {c} classes")
        target = class_targets(target, n, c, "target", "pred", spatial=pred.shape[2:],
                               ignore_index=self.ignore_index)
        return pred, target

    def _plain(self, pred, target) -> bool:
        """(N, C) logits, no weights, nothing ignored: the original per-sample path."""
        return pred.ndim == 2 and self.weight is None and not np.any(target == self.ignore_index)

    def value(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        if self._plain(pred, target):
            return self._mean(pred, target)
        return self._weighted(pred, target)[0]

    @staticmethod
    def _mean(pred, target) -> float:
        losses = _C.cross_entropy_forward(pred, target)
        return float(losses.sum(dtype=np.float64) / losses.shape[0])

    def _weighted(self, pred, target):
        """The weighted mean, plus what backward needs: softmax (N, C, P) in float64, safe
        labels (N, P) (ignored -> 0) and the per-target factors w[t_i] / total (0 if ignored).

        Vectorised NumPy over the (N, C, P) layout, in float64: the _C kernel works row by row,
        which costs more than the arithmetic when C is a handful of classes and rows are pixels.
        """
        n, c = pred.shape[:2]
        z = pred.reshape(n, c, -1).astype(np.float64)
        counted = target.reshape(n, -1) != self.ignore_index
        labels = np.where(counted, target.reshape(n, -1), 0)
        w = np.ones(c) if self.weight is None else self.weight
        coef = np.where(counted, w[labels], 0.0)
        total = coef.sum()
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        z_t = np.take_along_axis(z, labels[:, None, :], axis=1)
        nll = (m + np.log(s) - z_t)[:, 0, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            # 0 * inf or 0 * NaN for ignored targets must not leak into the sum.
            loss = float(np.sum(np.where(counted, nll * coef, 0.0)) / total)
            scale = np.where(coef != 0, coef / total, 0.0)
        return loss, (e / s, labels, scale)

    def forward(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        if self._plain(pred, target):
            self._cache = (pred, target, None)
            return self._mean(pred, target)
        loss, prepared = self._weighted(pred, target)
        self._cache = (pred, target, prepared)
        return loss

    def _grad(self, pred, target, prepared):
        if prepared is None:
            return _C.cross_entropy_backward(pred, target, 1.0 / pred.shape[0])
        # (softmax - onehot(t_i)) * w[t_i] / total per target; 0 for ignored targets, even when
        # total is 0 (as in PyTorch).
        prob, labels, scale = prepared
        g = prob.copy()
        np.put_along_axis(g, labels[:, None, :], np.take_along_axis(g, labels[:, None, :], axis=1) - 1.0, axis=1)
        g *= scale[:, None, :]
        return g.reshape(pred.shape).astype(np.float32)

    def get_config(self) -> dict:
        weight = None if self.weight is None else [float(v) for v in self.weight]
        return {"weight": weight, "ignore_index": self.ignore_index}


def _class_weights(weight) -> np.ndarray:
    """A (C,) vector of finite class weights, kept in float64."""
    w = as_float_array(weight, "weight", 1, "(C,) class weights").astype(np.float64)
    if w.size == 0:
        raise ValueError("weight must hold one weight per class, got an empty array")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weight must be finite, got {w.tolist()}")
    return w


class DiceLoss(Loss):
    """Soft Dice loss over the softmax probabilities of logits, for segmentation.

    ``pred`` is ``(N, C, H, W)`` logits (or ``(N, C)``), ``target`` integer class indices
    ``(N, H, W)`` (or ``(N,)``) in ``[0, C)``. With ``p = softmax(pred)`` over the class axis and
    ``g`` the one-hot encoding of ``target``, for each class ``c``, summing over the batch and
    every pixel::

        I_c = sum p_c * g_c        S_c = sum p_c + sum g_c
        dice_c = (2 I_c + smooth) / (S_c + smooth)
        loss = 1 - mean_c dice_c

    ``smooth`` (>= 0) keeps classes absent from a batch from dominating (their dice tends to 1
    as their probabilities tend to 0). The loss lies in [0, 1]; 0 means a perfect, confident match.
    """

    def __init__(self, smooth=1.0):
        super().__init__()
        self.smooth = as_float_scalar(smooth, "smooth")
        if not (self.smooth >= 0 and np.isfinite(self.smooth)):
            raise ValueError(f"smooth must be a finite number >= 0, got {smooth!r}")

    def _check(self, pred, target):
        pred = as_float_array(pred, "pred", (2, 4), "(N, C, H, W) or (N, C) logits")
        target = as_class_labels(target)
        n, c = pred.shape[:2]
        want = (n,) + pred.shape[2:]
        if target.shape != want:
            raise ValueError(f"target must have shape {want} to match pred {pred.shape}, got {target.shape}")
        if pred.size == 0:
            raise ValueError(f"pred is empty (shape {pred.shape})")
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= c:
            bad = lo if lo < 0 else hi
            raise ValueError(f"target holds class index {bad}, outside [0, {c}) for pred with {c} classes")
        return pred, target

    def _terms(self, pred, target):
        """Probabilities (N, C, P) in float64, one-hot targets, S_c + smooth and dice_c."""
        n, c = pred.shape[:2]
        p = _C.softmax_forward(pred, 1).reshape(n, c, -1).astype(np.float64)
        g = target.reshape(n, 1, -1) == np.arange(c).reshape(1, c, 1)
        inter = np.einsum("ncp,ncp->c", p, g)
        denom = p.sum(axis=(0, 2)) + g.sum(axis=(0, 2)) + self.smooth
        dice = (2.0 * inter + self.smooth) / denom
        return p, g, denom, dice

    def value(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        return float(1.0 - self._terms(pred, target)[3].mean())

    def forward(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        p, g, denom, dice = self._terms(pred, target)
        self._cache = (pred.shape, p, g, denom, dice)
        return float(1.0 - dice.mean())

    def _grad(self, shape, p, g, denom, dice):
        c = shape[1]
        # dL/dp_c = -(2 g_c - dice_c) / (C (S_c + smooth)), then through the softmax:
        # dL/dz = p * (dL/dp - sum_k p_k dL/dp_k).
        dp = -(2.0 * g - dice[None, :, None]) / (c * denom[None, :, None])
        dz = p * (dp - np.sum(p * dp, axis=1, keepdims=True))
        return dz.reshape(shape).astype(np.float32)

    def get_config(self) -> dict:
        return {"smooth": self.smooth}


class _Regression(Loss):
    def _check(self, pred, target):
        pred = as_float_array(pred, "pred")
        target = as_float_array(target, "target")
        if pred.shape != target.shape:
            raise ValueError(f"target must have the shape of pred {pred.shape}, got {target.shape}")
        if pred.size == 0:
            raise ValueError("pred is empty")
        return pred, target

    def value(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        return float(self._elementwise(pred - target).sum(dtype=np.float64) / pred.size)

    def forward(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        diff = pred - target
        self._cache = (diff,)
        return float(self._elementwise(diff).sum(dtype=np.float64) / diff.size)


class MSELoss(_Regression):
    """mean((pred - target)^2)."""

    @staticmethod
    def _elementwise(diff):
        return diff * diff

    def _grad(self, diff):
        return diff * np.float32(2.0 / diff.size)


class SmoothL1Loss(_Regression):
    """Huber-style loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0: L1)."""

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = as_float_scalar(beta, "beta")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta!r}")

    def _elementwise(self, diff):
        a = np.abs(diff)
        if self.beta == 0.0:
            return a
        return np.where(a < self.beta, (0.5 / self.beta) * diff * diff, a - 0.5 * self.beta)

    def _grad(self, diff):
        scale = np.float32(1.0 / diff.size)
        if self.beta == 0.0:
            return np.sign(diff) * scale
        a = np.abs(diff)
        g = np.where(a < self.beta, diff / np.float32(self.beta), np.sign(diff))
        return (g * scale).astype(np.float32, copy=False)

    def get_config(self):
        return {"beta": self.beta}
