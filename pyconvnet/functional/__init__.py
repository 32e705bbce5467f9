"""Forward-only operations: NumPy in, NumPy out (torch.nn.functional names and semantics)."""

from .conv import conv2d
from .linear import linear

__all__ = ["conv2d", "linear"]
