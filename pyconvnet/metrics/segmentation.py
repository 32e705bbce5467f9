"""Segmentation metrics."""

from __future__ import annotations

import numpy as np

from .._validate import as_int
from ..losses import as_class_labels


def mean_iou(pred, target, classes) -> float:
    """Mean intersection over union of predicted and true class maps.

    ``pred`` and ``target`` are integer class indices of the same shape (e.g. ``(N, H, W)``:
    take ``logits.argmax(axis=1)`` for ``pred``), with values in ``[0, classes)``. For each class
    ``c``, over the whole batch: ``IoU_c = |pred == c and target == c| / |pred == c or target == c|``.
    The result is the mean of ``IoU_c`` over the classes that occur in ``pred`` or ``target``;
    a class absent from both is excluded from the mean (its IoU would be 0 / 0), as in the
    common definition (e.g. PASCAL VOC's and Cityscapes' evaluation). Class 0 (background)
    counts like any other class.
    """
    classes = as_int(classes, "classes", minimum=1)
    pred = as_class_labels(pred, "pred")
    target = as_class_labels(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred must have the shape of target {target.shape}, got {pred.shape}")
    if pred.size == 0:
        raise ValueError("pred and target are empty: mean IoU is undefined")
    for name, arr in (("pred", pred), ("target", target)):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} holds class index {bad}, outside [0, {classes}) for classes={classes}")
    # Confusion matrix: row = true class, column = predicted class.
    confusion = np.bincount(target.reshape(-1) * classes + pred.reshape(-1),
                            minlength=classes * classes).reshape(classes, classes)
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - inter
    present = union > 0
    return float(np.mean(inter[present] / union[present]))
