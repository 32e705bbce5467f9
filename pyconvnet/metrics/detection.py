"""Detection metrics: mean average precision (PASCAL VOC 2010+ all-point interpolation)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np

from .._validate import as_float_array
from ..losses import as_class_labels
from ..ops import box_iou


def mean_average_precision(detections, ground_truth, iou_threshold=0.5) -> float:
    """Mean over classes of the all-point interpolated average precision (VOC 2010+ rules).

    Inputs, one entry per image, in the same order:

    - ``detections``: a sequence of mappings ``{"boxes": (K, 4), "scores": (K,), "labels": (K,)}``;
    - ``ground_truth``: a sequence of mappings ``{"boxes": (G, 4), "labels": (G,)}``.

    Boxes are ``(x1, y1, x2, y2)`` with ``x1 <= x2`` and ``y1 <= y2``; labels are integers;
    scores are compared as float32; an image may have no boxes (``(0, 4)`` arrays).
    ``iou_threshold`` is in (0, 1]. For each class: its detections from every
    image are taken by decreasing score (equal scores: image order, then position in the
    image). Each is matched to the unmatched ground-truth box of its class in the same image
    with the highest IoU (lowest index among equal IoUs), provided that IoU is
    ``>= iou_threshold``: a true positive; otherwise (no such box, or only already matched
    ones: a duplicate) it is a false positive. With precision and recall after each
    detection, precision is made monotone (each value replaced by the maximum at any higher
    recall) and AP is the area under that curve (the sum over recall steps of step x
    precision). A class with ground truth but no detection has AP 0.

    The mean runs over the classes that have at least one ground-truth box; detections of
    other labels do not change the result. Unlike the VOC devkit, a duplicate falls through
    to the next best unmatched box, and there are no "difficult" boxes.
    """
    if isinstance(iou_threshold, (bool, np.bool_)) or not isinstance(iou_threshold, numbers.Real):
        raise TypeError(f"iou_threshold must be a real number, got {type(iou_threshold).__name__}")
    thr = float(iou_threshold)
    if not 0.0 < thr <= 1.0:
        # 0 would match boxes that do not overlap at all.
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    dets = _images(detections, "detections", ("boxes", "scores", "labels"))
    gts = _images(ground_truth, "ground_truth", ("boxes", "labels"))
    if len(dets) != len(gts):
        raise ValueError(f"detections has {len(dets)} images but ground_truth has {len(gts)}")
    classes = sorted({int(v) for g in gts for v in g["labels"]})
    if not classes:
        raise ValueError("ground_truth holds no boxes: mean average precision is undefined")
    return float(np.mean([_average_precision(dets, gts, c, thr) for c in classes]))


def _average_precision(dets, gts, cls, thr) -> float:
    # Detections of the class, all images: (score, image, IoU row with the image's boxes of the class).
    scored = []
    n_gt = 0
    for image, (d, g) in enumerate(zip(dets, gts)):
        gt_boxes = g["boxes"][g["labels"] == cls]
        n_gt += len(gt_boxes)
        mine = np.flatnonzero(d["labels"] == cls)
        if mine.size == 0:
            continue
        ious = box_iou(d["boxes"][mine], gt_boxes).astype(np.float64)
        for k, idx in enumerate(mine):
            scored.append((float(d["scores"][idx]), image, ious[k]))
    # Stable sort on the score alone: equal scores keep image order, then position.
    scored.sort(key=lambda item: -item[0])
    matched = {}
    tp = np.zeros(len(scored))
    for k, (_, image, iou_row) in enumerate(scored):
        taken = matched.setdefault(image, np.zeros(iou_row.shape[0], bool))
        free = np.where(taken, -1.0, iou_row)
        if free.size and free.max() >= thr:
            taken[int(np.argmax(free))] = True
            tp[k] = 1.0
    if n_gt == 0:  # pragma: no cover - callers only ask for classes with ground truth
        return 0.0
    tp_cum = np.cumsum(tp)
    fp_cum = np.cumsum(1.0 - tp)
    recall = tp_cum / n_gt
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1.0)
    # Monotone precision envelope, right to left, then the area over the recall steps.
    recall = np.concatenate([[0.0], recall])
    envelope = np.concatenate([precision, [0.0]])
    envelope = np.maximum.accumulate(envelope[::-1])[::-1][:-1]
    return float(np.sum((recall[1:] - recall[:-1]) * envelope))


def _images(items, name, keys):
    """Validated per-image dicts of float32 boxes, float64 scores and int64 labels."""
    if isinstance(items, Mapping) or not isinstance(items, Sequence) or isinstance(items, (str, bytes)):
        raise TypeError(f"{name} must be a sequence (one entry per image) of mappings with keys "
                        f"{', '.join(keys)}, got {type(items).__name__}")
    out = []
    for i, item in enumerate(items):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise TypeError(f"{where} must be a mapping with keys {', '.join(keys)}, got {type(item).__name__}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise ValueError(f"{where} has no {', '.join(repr(k) for k in missing)} entry")
        boxes = as_float_array(item["boxes"], f"{where}['boxes']", 2, "(K, 4) boxes (x1, y1, x2, y2)")
        if boxes.shape[1] != 4:
            raise ValueError(f"{where}['boxes'] must have shape (K, 4), got {boxes.shape}")
        if not np.all(np.isfinite(boxes)):
            raise ValueError(f"{where}['boxes'] holds NaN or infinite coordinates")
        if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
            raise ValueError(f"{where}['boxes'] holds a box with x2 < x1 or y2 < y1")
        k = boxes.shape[0]
        entry = {"boxes": boxes}
        labels = as_class_labels(item["labels"], f"{where}['labels']")
        if labels.shape != (k,):
            raise ValueError(f"{where}['labels'] must have shape ({k},) to match its boxes, got {labels.shape}")
        entry["labels"] = labels
        if "scores" in keys:
            scores = as_float_array(item["scores"], f"{where}['scores']").astype(np.float64)
            if scores.shape != (k,):
                raise ValueError(f"{where}['scores'] must have shape ({k},) to match its boxes, got {scores.shape}")
            if np.isnan(scores).any():
                raise ValueError(f"{where}['scores'] holds NaN")
            entry["scores"] = scores
        out.append(entry)
    return out
