"""Sequential: the chain case of Model, with list-like handling of its layers.

Its layers are named by position ("0", "1", ...), so state_dict keys are "0.weight", "3.bias",
...; a slice is a new Sequential sharing the layer objects and numbering them from 0.
"""

from __future__ import annotations

from ..layers.base import Layer
from .graph import Graph, IncompatibleKeys, Model
from .summary import summarize

__all__ = ["Sequential", "IncompatibleKeys"]


class Sequential(Model):
    """Layers applied in order (a Model whose graph is the chain of its layer list).

    - `forward`/`backward` run the layers and keep what backward needs (training code).
    - `predict`/`evaluate` use each layer's eval-mode `infer`, which keeps nothing and changes no
      state, so they are safe to call from several Python threads at once and leave the
      model's mode as it was.
    - A slice is a new Sequential sharing the same layer objects; its `state_dict` numbers the
      layers from 0.
    """

    # Plain attributes here (Model derives both from its graph).
    layers = None
    input_shape = None

    def __init__(self, layers=(), *, input_shape=None):
        if isinstance(layers, Layer):
            layers = [layers]
        self.layers = []
        for layer in layers:
            self._check_layer(layer)
            self.layers.append(layer)
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self._chain = None
        self._init_state()

    @staticmethod
    def _check_layer(layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes pyconvnet.layers.Layer instances, got {type(layer).__name__}")

    def _graph(self) -> Graph:
        """The chain graph of the current layer list (rebuilt when the list changes)."""
        layers = self.layers
        cached = self._chain
        # list == compares element by element by identity (layers define no __eq__)
        if cached is not None and cached.layers == layers:
            return cached
        n = len(layers)
        self._chain = Graph(layers, [str(i) for i in range(n)], [("input", None)],
                            [(i, (i,)) for i in range(n)], [n])
        return self._chain

    def _note_inputs(self, xs):
        if xs[0].ndim >= 2:
            self.input_shape = tuple(xs[0].shape[1:])

    def _default_input_shapes(self) -> list:
        return [self.input_shape]

    # -------------------------------------------------------------- container
    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            sub = Sequential(self.layers[idx])
            sub.training = self.training
            if idx.start in (None, 0) and self.input_shape is not None:
                sub.input_shape = self.input_shape
            return sub
        return self.layers[idx]

    def append(self, layer):
        self._check_layer(layer)
        self.layers.append(layer)
        return self

    def pop(self, index: int = -1):
        return self.layers.pop(index)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)" if inner else "Sequential()"

    def summary(self, input_shape=None) -> str:
        """Table of layers: type, output shape, parameters and FLOPs per sample, then totals.

        `input_shape` is the per-sample shape, e.g. (1, 28, 28); by default the one seen by the
        last forward/fit (or given as `Sequential(..., input_shape=...)`).
        """
        return summarize(self, input_shape)
