"""Merging several arrays: element-wise sum and product, concatenation (kernels in `_C`).

The shape rules live here once; the merge layers (layers/merge.py) call `merged_shape` for
graph nodes (whose batch size is None) and these functions for arrays.
"""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array, as_int

__all__ = ["add", "multiply", "concat"]


def _shape_str(shapes) -> str:
    return ", ".join("(" + ", ".join("None" if d is None else str(d) for d in s) + (",)" if len(s) == 1 else ")")
                     for s in shapes)


def _same(a, b) -> bool:
    """Dimensions agree (None, an unknown batch size, agrees with anything)."""
    return a is None or b is None or a == b


def concat_axis(axis, ndim: int, what: str = "concat") -> int:
    """`axis` normalised to [0, ndim) (negative axes count from the end)."""
    axis = as_int(axis, "axis")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{what}: axis={axis} is out of range for {ndim}-D inputs")
    return axis + ndim if axis < 0 else axis


def merged_shape(kind: str, shapes, axis=None, what: str | None = None) -> tuple:
    """Output shape of merging inputs of `shapes` ("add", "multiply" or "concat" on `axis`).

    Raises ValueError naming `what` (the layer or function) and the shapes when they do not fit.
    """
    what = what or kind
    shapes = [tuple(s) for s in shapes]
    if not shapes:
        raise ValueError(f"{what} needs at least one input")
    first = shapes[0]
    if kind == "concat":
        ax = concat_axis(axis, len(first), what) if len(first) else 0
        if len(first) == 0 or any(len(s) != len(first) for s in shapes) or any(
                not all(_same(a, b) for d, (a, b) in enumerate(zip(first, s)) if d != ax) for s in shapes):
            raise ValueError(f"{what}: inputs must have the same shape except on axis {ax}, got shapes "
                             f"{_shape_str(shapes)}")
        sizes = [s[ax] for s in shapes]
        out = list(first)
        for d in range(len(first)):
            if d != ax:
                out[d] = next((s[d] for s in shapes if s[d] is not None), None)
        out[ax] = None if any(v is None for v in sizes) else sum(sizes)
        return tuple(out)
    if any(len(s) != len(first) or not all(_same(a, b) for a, b in zip(first, s)) for s in shapes):
        raise ValueError(f"{what}: inputs must all have the same shape, got shapes {_shape_str(shapes)}")
    return tuple(next((s[d] for s in shapes if s[d] is not None), None) for d in range(len(first)))


def as_inputs(inputs, what: str) -> list:
    """A non-empty list or tuple of arrays, each converted once to C-contiguous float32."""
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{what} takes a list of arrays, got {type(inputs).__name__}")
    if not inputs:
        raise ValueError(f"{what} needs at least one input")
    return [as_float_array(x, f"inputs[{k}]") for k, x in enumerate(inputs)]


def add(inputs):
    """Element-wise sum of same-shaped arrays (added in list order)."""
    xs = as_inputs(inputs, "add")
    merged_shape("add", [x.shape for x in xs])
    return _C.add_forward(xs)


def multiply(inputs):
    """Element-wise product of same-shaped arrays (multiplied in list order)."""
    xs = as_inputs(inputs, "multiply")
    merged_shape("multiply", [x.shape for x in xs])
    return _C.multiply_forward(xs)


def concat(inputs, axis=1):
    """Concatenation along `axis` (the channels of NCHW by default); other axes must agree."""
    xs = as_inputs(inputs, "concat")
    merged_shape("concat", [x.shape for x in xs], axis)
    return _C.concat_forward(xs, concat_axis(axis, xs[0].ndim))
