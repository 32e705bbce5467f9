"""Batches from an iterable for fit, evaluate and predict: a DataLoader, a generator, any
iterable of `(x, y)` or `(x, y, sample_weight)` batches (or `x` alone for predict).

Arrays, lists, tuples and dicts are not batch sources: to `fit` they are the model's inputs.
An iterator (a generator) can be read once: without `steps_per_epoch` it makes one epoch. A
re-iterable (a DataLoader, or any object whose `iter()` gives a fresh iterator) makes one
epoch per pass, or with `steps_per_epoch` is read on across epochs and restarted when it ends.
"""

from __future__ import annotations

import collections.abc

import numpy as np

from .._validate import as_int

__all__ = ["is_batch_source", "BatchSource", "split_batch"]


def is_batch_source(x) -> bool:
    if isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or np.isscalar(x):
        return False
    return isinstance(x, collections.abc.Iterable) or hasattr(x, "__iter__")


def split_batch(batch, what="batch", need_y=True):
    """`(x, y, sample_weight)` of one batch (None for what it lacks).

    With targets (fit, evaluate) a batch is a tuple or list `(x, y)` or `(x, y, sample_weight)`.
    For predict a tuple `(x,)`, `(x, y)` or `(x, y, w)` is read the same way and anything else
    (an array; a list or dict for a model with several inputs) is `x` itself.
    """
    if need_y:
        if isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
            return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)
        got = f"a {type(batch).__name__}" + (f" of {len(batch)} items" if isinstance(batch, (tuple, list)) else "")
        raise ValueError(f"each {what} must be a pair (x, y) or a triple (x, y, sample_weight), got {got}")
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(f"each {what} must be x, (x,), (x, y) or (x, y, sample_weight), "
                             f"got a tuple of {len(batch)} items")
        return batch[0], (batch[1] if len(batch) > 1 else None), (batch[2] if len(batch) == 3 else None)
    return batch, None, None


class BatchSource:
    """Hands out the raw batches of each epoch; `close()` closes any iterator it created."""

    def __init__(self, data, steps_per_epoch=None, what="x"):
        self.data = data
        self.what = what
        self.steps = None if steps_per_epoch is None else as_int(steps_per_epoch, "steps_per_epoch", 1)
        self.one_shot = isinstance(data, collections.abc.Iterator)
        self.ran_out = False  # a one-shot iterator ended before the training did
        self._it = None
        self._owned = False
        self._left = None

    def steps_hint(self):
        """Batches per epoch when known (steps_per_epoch, else len(data)), else None."""
        if self.steps is not None:
            return self.steps
        try:
            return int(len(self.data))
        except TypeError:
            return None

    def _open(self):
        it = iter(self.data)
        self._owned = it is not self.data
        self._it = it

    def _close_it(self):
        it, self._it = self._it, None
        if self._owned and hasattr(it, "close"):
            it.close()  # e.g. a DataLoader's epoch: stops its threads
        self._owned = False

    def begin_epoch(self):
        if self.steps is None:
            self._close_it()
            self._open()
        elif self._it is None and not self.ran_out:
            self._open()
        self._left = self.steps

    def next(self):
        """The next raw batch of this epoch, or None when the epoch is over."""
        if self._left is not None:
            if self._left == 0:
                return None
            self._left -= 1
        if self._it is None:
            return None
        try:
            return next(self._it)
        except StopIteration:
            pass
        if self.steps is None:
            return None
        if self.one_shot:
            self.ran_out = True
            self._it = None
            return None
        self._close_it()  # a re-iterable read across epochs: start it again
        self._open()
        try:
            return next(self._it)
        except StopIteration:
            raise ValueError(f"{self.what} yields no batches") from None

    def close(self):
        self._close_it()


class ArrayBatches:
    """fit's batches of arrays in memory: `(inputs, targets, weights)` per step, shuffled by
    `rng` each epoch and gathered into buffers allocated once."""

    def __init__(self, xs, ys, w, batch_size, shuffle, rng):
        self.xs, self.ys, self.w = xs, ys, w
        self.n = xs[0].shape[0]
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = rng
        if shuffle:
            b = min(batch_size, self.n)
            self._xbufs = [np.empty((b,) + a.shape[1:], np.float32) for a in xs]
            self._ybufs = [np.empty((b,) + yk.shape[1:], yk.dtype) for yk in ys]
            self._wbuf = None if w is None else np.empty(b, np.float32)

    def steps_hint(self):
        return -(-self.n // self.batch_size)

    def epoch(self):
        n, bs = self.n, self.batch_size
        order = self.rng.permutation(n) if self.shuffle else None
        for b0 in range(0, n, bs):
            b1 = min(n, b0 + bs)
            m = b1 - b0
            if self.shuffle:
                idx = order[b0:b1]
                xbs = [np.take(a, idx, axis=0, out=buf[:m], mode="clip") for a, buf in zip(self.xs, self._xbufs)]
                ybs = [np.take(yk, idx, axis=0, out=buf[:m], mode="clip") for yk, buf in zip(self.ys, self._ybufs)]
                wb = None if self.w is None else np.take(self.w, idx, out=self._wbuf[:m], mode="clip")
            else:
                xbs = [a[b0:b1] for a in self.xs]
                ybs = [yk[b0:b1] for yk in self.ys]
                wb = None if self.w is None else self.w[b0:b1]
            yield xbs, ybs, wb

    def close(self):
        pass


class SourceBatches:
    """fit's batches from a BatchSource, each converted by `convert(raw) -> (inputs, targets, weights)`."""

    def __init__(self, source, convert):
        self.source = source
        self.convert = convert

    def steps_hint(self):
        return self.source.steps_hint()

    def epoch(self):
        self.source.begin_epoch()
        while True:
            raw = self.source.next()
            if raw is None:
                return
            yield self.convert(raw)

    def close(self):
        self.source.close()


def predict_batches(model, x, steps=None):
    """`model.predict` over an iterable of batches: the outputs concatenated in order."""
    source = BatchSource(x, steps, "x")
    parts = None
    source.begin_epoch()
    try:
        while True:
            raw = source.next()
            if raw is None:
                break
            xb, _, _ = split_batch(raw, "batch of x", need_y=False)
            outs = model._infer_list(model._as_inputs(xb, "x batch"))
            if parts is None:
                parts = [[] for _ in outs]
            for p, o in zip(parts, outs):
                p.append(o)
    finally:
        source.close()
    if parts is None:
        raise ValueError("predict got no batches from x")
    outs = [np.concatenate(p) if len(p) > 1 else p[0] for p in parts]
    return outs[0] if model._graph().single_output else outs
