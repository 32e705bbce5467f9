"""Graph nodes: the symbolic values a Model is built from (Keras functional style).

`Input(shape)` starts a graph; calling a layer on nodes (`Conv2d(...)(x)`,
`Add()([a, b])`) returns a new node that records the layer, the nodes it was called on and
its per-sample output shape, computed (and so checked) at the call. `Model(inputs, outputs)`
walks these records back from the outputs.
"""

from __future__ import annotations

import operator

__all__ = ["Node", "Input", "is_node_arg"]

# Per-sample shapes are checked against these bounds when a node is made (also for shapes read
# from a file): a rank or a size beyond them is a corrupt graph, not a model.
MAX_RANK = 8
MAX_DIM = 2**31 - 1


class Node:
    """A symbolic value: a model input (`layer` is None) or the output of one layer call.

    `shape` is the per-sample shape (no batch dimension); `parents` are the nodes the layer
    was called on (in order); `name` is the input's name (None for layer outputs, whose
    model assigns layer names).
    """

    __slots__ = ("layer", "parents", "shape", "name")

    def __init__(self, layer, parents, shape, name=None):
        self.layer = layer
        self.parents = tuple(parents)
        self.shape = tuple(shape)
        self.name = name

    def __repr__(self) -> str:
        if self.layer is None:
            label = "Input" + (f" {self.name!r}" if self.name else "")
        else:
            label = type(self.layer).__name__ + (f" {self.layer.name!r}" if self.layer.name else "")
        return f"<Node {label} shape={self.shape}>"


def check_name(name, what: str = "name"):
    """None or a non-empty str (layer and input names become state_dict key prefixes)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str or None, got {type(name).__name__}")
    if not name or len(name) > 256 or not name.isprintable():
        raise ValueError(f"{what} must be 1 to 256 printable characters, got {name!r}")
    return name


def check_shape(shape, what: str = "shape") -> tuple:
    """A per-sample shape: a non-empty tuple of positive ints (e.g. (C, H, W) or (F,))."""
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__iter__"):
        try:
            shape = (operator.index(shape),)
        except TypeError:
            raise TypeError(f"{what} must be a tuple of ints, got {type(shape).__name__}") from None
    dims = []
    for d in shape:
        if isinstance(d, bool):
            raise TypeError(f"{what} must hold ints, got bool in {tuple(shape)!r}")
        try:
            d = operator.index(d)
        except TypeError:
            raise TypeError(f"{what} must hold ints, got {type(d).__name__} in {tuple(shape)!r}") from None
        dims.append(d)
    if not 1 <= len(dims) <= MAX_RANK:
        raise ValueError(f"{what} must have 1 to {MAX_RANK} dimensions (without the batch), got {tuple(dims)}")
    if not all(0 < d <= MAX_DIM for d in dims):
        raise ValueError(f"{what} must hold positive sizes (at most {MAX_DIM}), got {tuple(dims)}")
    return tuple(dims)


def Input(shape, name=None) -> Node:  # noqa: N802 - Keras' name for the function
    """A model input holding samples of `shape` (no batch dimension): (C, H, W) or (F,)."""
    return Node(None, (), check_shape(shape), check_name(name))


def is_node_arg(x) -> bool:
    """True for a node or a non-empty list/tuple of nodes (a layer call that builds a graph)."""
    if isinstance(x, Node):
        return True
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(n, Node) for n in x)
