"""The Sequential model, its training loop and callbacks."""

from .callbacks import (Callback, CallbackList, EarlyStopping, History, LearningRateScheduler, ModelCheckpoint,
                        ProgressBar)
from .sequential import IncompatibleKeys, Sequential

__all__ = [
    "Sequential", "IncompatibleKeys",
    "Callback", "CallbackList", "History", "ProgressBar", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
]
