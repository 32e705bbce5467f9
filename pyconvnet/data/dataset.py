"""The Dataset protocol and ArrayDataset, a dataset over arrays already in memory."""

from __future__ import annotations

import operator
from typing import Any, Protocol, Tuple, runtime_checkable

import numpy as np

from .._validate import as_float_array

__all__ = ["Dataset", "ArrayDataset"]


@runtime_checkable
class Dataset(Protocol):
    """What a `DataLoader` reads: `len(ds)` samples, `ds[i]` -> `(image, label)`.

    The image is a CHW float32 array (any fixed shape works), the label an int (or a float
    array for regression targets). A dataset may also define `get_batch(indices) -> (x, y)`
    to fetch a whole batch in one call; the loader then uses it instead of `ds[i]` per index.
    `__getitem__` is called from the loader's worker threads, so it must not change shared
    state without a lock.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Tuple[np.ndarray, Any]: ...


def check_index(index, n: int) -> int:
    """`index` as an int in [0, n) (negative indices count from the end, as for lists)."""
    try:
        i = None if isinstance(index, (bool, np.bool_)) else operator.index(index)
    except TypeError:
        i = None
    if i is None:
        raise TypeError(f"dataset index must be an int, got {type(index).__name__} ({index!r})")
    if not -n <= i < n:
        raise IndexError(f"index {index} out of range for a dataset of {n} samples")
    return i % n


def _as_targets(y, n):
    arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    else:
        raise TypeError(f"y must hold integer class labels or float targets, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[0] != n:
        raise ValueError(f"x and y must hold the same number of samples, got {n} images and y of shape {arr.shape}")
    return arr


class ArrayDataset:
    """Samples `(x[i], y[i])` from arrays in memory (x converted once to float32, y to int64
    for integer labels or float32 for real targets)."""

    def __init__(self, x, y):
        x = as_float_array(x, "x")
        if x.ndim < 1:
            raise ValueError(f"x must have a sample dimension, got shape {x.shape}")
        self.x = x
        self.y = _as_targets(y, x.shape[0])

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, index):
        i = check_index(index, len(self))
        label = self.y[i]
        return self.x[i], (int(label) if self.y.dtype == np.int64 and self.y.ndim == 1 else label)

    def get_batch(self, indices):
        """`(x[indices], y[indices])` as new arrays, in one gather each."""
        idx = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"indices out of range for a dataset of {n} samples")
        return np.take(self.x, idx, axis=0), np.take(self.y, idx, axis=0)

    def __repr__(self) -> str:
        return f"ArrayDataset(x={self.x.shape}, y={self.y.shape} {self.y.dtype})"
