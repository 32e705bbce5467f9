"""Evaluation metrics: classification (accuracy, top-k accuracy, precision / recall / F1,
confusion matrix), segmentation and detection (NumPy in; floats or arrays out)."""

from __future__ import annotations

from .classification import accuracy, confusion_matrix, precision_recall_f1, top_k_accuracy
from .detection import mean_average_precision
from .segmentation import mean_iou

__all__ = ["accuracy", "top_k_accuracy", "precision_recall_f1", "confusion_matrix", "mean_iou",
           "mean_average_precision"]
