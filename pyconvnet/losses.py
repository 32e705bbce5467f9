"""Loss functions with mean reduction and PyTorch semantics.

`loss.forward(pred, target) -> float` keeps what `loss.backward() -> grad_pred` needs;
`loss.value(pred, target)` computes the same number and keeps nothing (thread-safe).
"""

from __future__ import annotations

import numpy as np

from . import _C
from ._validate import as_float_array, as_float_scalar
from .functional.softmax import as_class_labels, class_targets

__all__ = ["Loss", "CrossEntropyLoss", "MSELoss", "SmoothL1Loss", "as_class_labels"]


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
    """Mean over the batch of -log softmax(pred)[target]; pred (N, C) logits, target int (N,)."""

    def _check(self, pred, target):
        pred = as_float_array(pred, "pred", 2, "(N, C) logits")
        n, c = pred.shape
        target = class_targets(target, n, c, "target", "pred")
        if n == 0:
            raise ValueError("pred is empty (batch of 0 samples)")
        return pred, target

    def value(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        return self._mean(pred, target)

    @staticmethod
    def _mean(pred, target) -> float:
        losses = _C.cross_entropy_forward(pred, target)
        return float(losses.sum(dtype=np.float64) / losses.shape[0])

    def forward(self, pred, target) -> float:
        pred, target = self._check(pred, target)
        self._cache = (pred, target)
        return self._mean(pred, target)

    def _grad(self, pred, target):
        return _C.cross_entropy_backward(pred, target, 1.0 / pred.shape[0])


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
