"""``global_max_pool2d``: the maximum of each channel plane (adaptive max pooling to 1x1)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array

__all__ = ["global_max_pool2d"]


def global_max_pool2d(x) -> np.ndarray:
    """(N, C, H, W) -> (N, C, 1, 1); NaN in a plane gives NaN."""
    return _C.global_max_pool2d_forward(as_float_array(x, "x", 4, "(N, C, H, W)"))
