"""Inverted dropout with a reproducible, counter-based mask."""

from __future__ import annotations

import operator
import os

import numpy as np

from .. import _C
from .._validate import as_bool, as_probability
from .activation import _float_input

__all__ = ["dropout"]

_SEED_LIMIT = 1 << 64


def _seed(seed) -> int:
    if seed is None:
        return int.from_bytes(os.urandom(8), "little")
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("seed must be an int in [0, 2**64) or None, got bool")
    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an int in [0, 2**64) or None, got {type(seed).__name__} ({seed!r})") from None
    if not 0 <= s < _SEED_LIMIT:
        raise ValueError(f"seed must be an int in [0, 2**64) or None, got {s}")
    return s


def dropout(x, p: float = 0.5, training: bool = True, seed=None) -> np.ndarray:
    """Zero each element with probability ``p`` and scale the kept ones by ``1 / (1 - p)``.

    The mask is a pure function of ``(seed, flat element index)``: element ``i`` is kept iff
    ``rng_bits(rng_key(seed), i) >= min(round(p * 2**32), 2**32 - 1)`` (``csrc/common/rng.h``),
    so the same ``seed`` gives the same mask for every thread count and ISA, and
    ``_C.dropout_backward(grad_y, p, seed)`` regenerates it. ``seed=None`` draws a fresh 64-bit
    seed from ``os.urandom``. The output is ``x * (scale if kept else 0)`` with
    ``scale = float32(1 / (1 - p))``, so a dropped NaN or inf gives NaN, as in PyTorch.

    With ``training=False`` or ``p == 0`` the input is returned as converted, without a copy (the
    same object when ``x`` already is a C-contiguous float32 array), as PyTorch returns its input.
    ``p == 1`` gives ``x * 0`` (zeros for finite input).
    """
    training = as_bool(training, "training")
    p = as_probability(p, "p")
    s = _seed(seed)
    x = _float_input(x)
    if not training or p == 0.0:
        return x
    return _C.dropout_forward(x, p, s)
