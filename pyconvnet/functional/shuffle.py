"""``channel_shuffle`` (``torch.nn.functional.channel_shuffle``)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_int

__all__ = ["channel_shuffle"]


def check_groups(channels: int, groups: int) -> None:
    if channels % groups:
        raise ValueError(f"number of channels {channels} must be divisible by groups={groups}")


def channel_shuffle(x, groups: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H, W) with output channel ``j * groups + g`` = input channel
    ``g * (C // groups) + j`` (ShuffleNet's reshape, transpose, reshape)."""
    groups = as_int(groups, "groups", 1)
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    check_groups(x.shape[1], groups)
    return _C.channel_shuffle(x, groups)
