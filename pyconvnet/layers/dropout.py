"""Dropout layer: inverted dropout whose mask is a function of (seed, element index)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_probability
from ..init import default_generator
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zeroes each element with probability `p` in training mode and scales the rest by 1/(1-p).

    Each training forward draws a fresh 64-bit seed from the layer's own generator (seeded from
    the global one at construction, `pyconvnet.manual_seed`, and again by `fit(seed=...)`);
    backward regenerates the same mask from that seed, so nothing but the seed is kept.
    Identity in eval mode.
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = as_probability(p, "p")
        self._rng = np.random.default_rng(default_generator().integers(0, 2**63))

    def reseed(self, seed) -> None:
        """Restart the stream of mask seeds (an int, a SeedSequence or a Generator)."""
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def infer(self, x):
        return as_float_array(x, "x")

    def forward(self, x):
        x = as_float_array(x, "x")
        if not self.training or self.p == 0.0:
            self._cache = (x.shape, None)
            return x
        seed = int(self._rng.integers(0, 2**63))
        y = _C.dropout_forward(x, self.p, seed)
        self._cache = (y.shape, seed)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, seed) = self._take_cache(grad_y)
        if not need_dx:
            return None
        if seed is None:
            return g
        return _C.dropout_backward(g, self.p, seed)

    def get_config(self):
        return {"p": self.p}
