"""Evaluation metrics for segmentation and detection (NumPy in, Python floats out)."""

from __future__ import annotations

from .detection import mean_average_precision
from .segmentation import mean_iou

__all__ = ["mean_iou", "mean_average_precision"]
