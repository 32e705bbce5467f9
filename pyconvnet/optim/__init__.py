"""Optimisers with PyTorch's update rules: SGD, Adam, AdamW; learning-rate schedules in `lr_scheduler`."""

from .adam import Adam, AdamW
from .base import Optimizer
from .sgd import SGD
from . import lr_scheduler  # noqa: E402  (after the optimisers it refers to)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
