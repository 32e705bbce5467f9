"""Models (Model graphs and their chain case Sequential), the training loop and callbacks."""

from ..layers.node import Input, Node
from .callbacks import (Callback, CallbackList, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                        ProgressBar)
from .graph import IncompatibleKeys, Model
from .sequential import Sequential

__all__ = [
    "Model", "Input", "Node", "Sequential", "IncompatibleKeys",
    "Callback", "CallbackList", "History", "ProgressBar", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
]
