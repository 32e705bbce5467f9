"""Metrics: classification (accuracy, top-k accuracy, precision / recall / F1, confusion matrix)."""

from .classification import accuracy, confusion_matrix, precision_recall_f1, top_k_accuracy

__all__ = ["accuracy", "top_k_accuracy", "precision_recall_f1", "confusion_matrix"]
