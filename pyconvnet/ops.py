"""Box operations for detection: IoU matrices and non-maximum suppression (torchvision's rules).

Boxes are ``(N, 4)`` arrays of ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2`` (any real
floating dtype; computed from float32 coordinates, in double inside). A zero-area box has IoU 0
with every box. NaN or infinite coordinates, inverted boxes and NaN scores raise ``ValueError``.
The kernels are C++ and release the GIL; results do not depend on the thread count.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import _C
from ._validate import as_float_array
from .losses import as_class_labels

__all__ = ["box_iou", "nms", "batched_nms"]


def _boxes(x, name: str) -> np.ndarray:
    b = as_float_array(x, name, 2, "(N, 4) boxes (x1, y1, x2, y2)")
    if b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4) as (x1, y1, x2, y2), got {b.shape}")
    return b


def _scores(x, n: int) -> np.ndarray:
    s = as_float_array(x, "scores", 1, "(N,) scores")
    if s.shape != (n,):
        raise ValueError(f"scores must have shape ({n},) to match boxes, got {s.shape}")
    return s


def _threshold(t) -> float:
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real):
        raise TypeError(f"iou_threshold must be a real number, got {type(t).__name__} ({t!r})")
    t = float(t)
    if np.isnan(t):
        raise ValueError("iou_threshold must be a number, got nan")
    return t


def box_iou(a, b) -> np.ndarray:
    """IoU of every box of ``a`` (N, 4) with every box of ``b`` (M, 4): float32 ``(N, M)``.

    ``iou = inter / (area_a + area_b - inter)``, 0 where that union is 0 (two zero-area boxes).
    """
    return _C.box_iou(_boxes(a, "a"), _boxes(b, "b"))


def nms(boxes, scores, iou_threshold) -> np.ndarray:
    """Greedy non-maximum suppression; returns the kept indices (int64) by decreasing score.

    Boxes are visited by decreasing score (equal scores: lower index first); a box is kept
    unless an already kept box has IoU > ``iou_threshold`` with it. Empty input gives an empty
    array. Scores are compared as float32.
    """
    b = _boxes(boxes, "boxes")
    return _C.nms(b, _scores(scores, b.shape[0]), _threshold(iou_threshold))


def batched_nms(boxes, scores, classes, iou_threshold) -> np.ndarray:
    """:func:`nms` within each class: boxes of different ``classes`` (integer labels, (N,))
    never suppress each other. Returns the kept indices (int64) by decreasing score."""
    b = _boxes(boxes, "boxes")
    n = b.shape[0]
    s = _scores(scores, n)
    c = as_class_labels(classes, "classes")
    if c.shape != (n,):
        raise ValueError(f"classes must have shape ({n},) to match boxes, got {c.shape}")
    return _C.batched_nms(b, s, c, _threshold(iou_threshold))
