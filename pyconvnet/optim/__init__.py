"""Optimisers with PyTorch's update rules: SGD, Adam, AdamW."""

from .adam import Adam, AdamW
from .base import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
