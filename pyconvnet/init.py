"""Weight initialisation and the global random generator used to build layers.

`manual_seed(seed)` makes layer construction reproducible: every layer draws its initial
weights (and a Dropout layer its mask seed stream) from one global `numpy.random.Generator`.
The defaults match PyTorch's `reset_parameters()`: `kaiming_uniform_(a=sqrt(5))` for weights,
which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for biases.
"""

from __future__ import annotations

import contextlib
import math
import threading

import numpy as np

__all__ = ["manual_seed", "default_generator", "kaiming_uniform_", "uniform_", "calculate_fan_in"]

_lock = threading.Lock()
_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator from which layers draw their initial weights.

    Returns the new generator. Two models built after the same `manual_seed(s)` in the same
    order get identical weights.
    """
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__} ({seed!r})")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    with _lock:
        _generator = np.random.default_rng(int(seed))
        return _generator


def default_generator() -> np.random.Generator:
    """The global generator (see `manual_seed`)."""
    return _generator


def _resolve(rng) -> np.random.Generator:
    if rng is None:
        return _generator
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def calculate_fan_in(shape) -> int:
    """Fan-in of a weight of shape (out, in) or (out, in/groups, kh, kw), as PyTorch."""
    if len(shape) < 2:
        raise ValueError(f"fan_in needs a weight with at least 2 dimensions, got shape {tuple(shape)}")
    fan_in = int(shape[1])
    for k in shape[2:]:
        fan_in *= int(k)
    return fan_in


_skip = threading.local()


@contextlib.contextmanager
def _skipping_init():
    """Layers built inside the block (on this thread) draw no initial weights: for importers
    that overwrite every weight right away (drawing ResNet-50's would take seconds)."""
    before = getattr(_skip, "on", False)
    _skip.on = True
    try:
        yield
    finally:
        _skip.on = before


def uniform_(arr: np.ndarray, low: float, high: float, rng=None) -> np.ndarray:
    """Fill `arr` in place with U(low, high) draws (float64 draws rounded to float32)."""
    if getattr(_skip, "on", False):
        return arr
    g = _resolve(rng)
    with _lock:
        values = g.uniform(low, high, size=arr.shape)
    arr[...] = values
    return arr


def kaiming_uniform_(arr: np.ndarray, a: float = math.sqrt(5.0), fan_in: int | None = None, rng=None) -> np.ndarray:
    """He-uniform initialisation, PyTorch's `kaiming_uniform_(mode='fan_in', nonlinearity='leaky_relu')`.

    bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)); the default
    a = sqrt(5) (PyTorch's layer default) gives bound = 1 / sqrt(fan_in).
    """
    if fan_in is None:
        fan_in = calculate_fan_in(arr.shape)
    gain = math.sqrt(2.0 / (1.0 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in > 0 else 0.0
    return uniform_(arr, -bound, bound, rng)
