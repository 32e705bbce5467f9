"""DataLoader: shuffled, augmented batches assembled by background threads.

Reproducibility does not depend on the worker count because nothing random is drawn from a
shared stream: the order of epoch `e` comes from a generator seeded by `(seed, e)` and the
augmentation of batch `b` from one seeded by `(seed, e, b)` (NumPy SeedSequence spawn keys),
whichever thread happens to build the batch. Batches are handed out in order.

Threads suit this job because the heavy parts (Pillow's decode and resize, NumPy copies, the
training step's kernels) release the GIL. The queue ahead of the consumer is bounded
(`workers * prefetch` batches), so memory stays at a few batches whatever the dataset size.
"""

from __future__ import annotations

import threading

import numpy as np

from .._validate import as_float_array, as_int
from ..init import default_generator

__all__ = ["DataLoader"]

_ORDER_KEY = 0  # spawn-key tags keep the shuffle and augmentation streams apart
_AUGMENT_KEY = 1
_WAIT_S = 0.05  # the consumer waits in short slices so that Ctrl-C is seen promptly


def _check_bool(v, name):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(v).__name__} ({v!r})")
    return bool(v)


def _labels(ys, where):
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in ys):
        return np.array(ys, dtype=np.int64)
    try:
        return np.stack([np.asarray(v, dtype=np.float32) for v in ys])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"labels of {where} must be ints or float arrays of one shape: {exc}") from None


def _collate(dataset, indices):
    """Stack `dataset[i]` for i in indices into (x, y); None items (skipped files) are left out."""
    x = None
    ys = []
    j = 0
    for i in indices:
        item = dataset[int(i)]
        if item is None:
            continue
        try:
            image, label = item
        except (TypeError, ValueError):
            raise TypeError(f"dataset[{int(i)}] must be a pair (image, label), got {type(item).__name__}") from None
        image = as_float_array(image, f"dataset[{int(i)}] image")
        if x is None:
            x = np.empty((len(indices),) + image.shape, np.float32)
            first = int(i)
        elif image.shape != x.shape[1:]:
            raise ValueError(f"dataset[{int(i)}] image has shape {image.shape}, but dataset[{first}] has "
                             f"{x.shape[1:]}: the images of a batch must share one shape")
        x[j] = image
        ys.append(label)
        j += 1
    if x is None:
        return None
    return x[:j], _labels(ys, f"dataset[{first}...]")


class _Pipeline:
    """Worker threads that build batches 0..n-1 at most `ahead` in front of the consumer."""

    def __init__(self, make_batch, n, workers, ahead):
        self._make = make_batch
        self._n = n
        self._ahead = ahead
        self._cond = threading.Condition()
        self._next_task = 0
        self._next_out = 0
        self._results = {}
        self._stopped = False
        self._threads = [threading.Thread(target=self._work, name=f"pyconvnet-data-{k}", daemon=True)
                         for k in range(min(workers, n))]
        try:
            for t in self._threads:
                t.start()
        except BaseException:  # Ctrl-C may land here once the first worker runs
            self._threads = [t for t in self._threads if t.ident is not None]
            self.close()
            raise

    def _work(self):
        cond = self._cond
        while True:
            with cond:
                while (not self._stopped and self._next_task < self._n
                       and self._next_task - self._next_out >= self._ahead):
                    cond.wait()
                if self._stopped or self._next_task >= self._n:
                    return
                b = self._next_task
                self._next_task += 1
            try:
                result = (True, self._make(b))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                result = (False, exc)
            with cond:
                self._results[b] = result
                cond.notify_all()

    def get(self):
        cond = self._cond
        with cond:
            b = self._next_out
            while b not in self._results:
                cond.wait(_WAIT_S)
            ok, value = self._results.pop(b)
            self._next_out += 1
            cond.notify_all()
        if not ok:
            raise value
        return value

    def close(self):
        with self._cond:
            self._stopped = True
            self._results.clear()
            self._cond.notify_all()
        me = threading.current_thread()
        for t in self._threads:
            if t is not me:
                t.join()
        self._threads = []


class _EpochIterator:
    """One pass over the batches of one epoch; `close()` (also on exhaustion, on an error and
    when garbage collected) stops and joins the worker threads."""

    def __init__(self, make_batch, n, workers, ahead):
        self._make = make_batch
        self._n = n
        self._i = 0
        self._pipe = _Pipeline(make_batch, n, workers, ahead) if workers > 0 and n > 0 else None

    def __iter__(self):
        return self

    def __len__(self):
        return self._n - self._i

    def __next__(self):
        try:
            while self._i < self._n:
                b = self._i
                self._i += 1
                batch = self._pipe.get() if self._pipe is not None else self._make(b)
                if batch is not None:  # None: every file of the batch was skipped
                    return batch
        except BaseException:
            self.close()
            raise
        self.close()
        raise StopIteration

    def close(self):
        self._i = self._n
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class DataLoader:
    """Batches `(x, y)` of a dataset: x NCHW float32, y int64 labels (float32 targets as given).

    Each `iter(loader)` is one epoch: with `shuffle=True` a new order per epoch, derived from
    `(seed, epoch)`; `augment(x, rng)` (e.g. a `pyconvnet.augment` transform) gets a generator
    derived from `(seed, epoch, batch index)`. The same seed gives the same batches for any
    `workers`. `seed=None` draws one from pyconvnet's global generator (`manual_seed`).
    `workers` threads (0: build each batch in the consumer's thread) keep at most
    `workers * prefetch` batches ready ahead of the consumer. An exception while building a
    batch is re-raised by the consumer when it reaches that batch; stopping early, an error
    or Ctrl-C stops and joins the threads. `len(loader)` is the number of batches per epoch.
    `loader.epoch` is the epoch the next iteration runs (set it to resume a schedule).
    """

    def __init__(self, dataset, batch_size=32, shuffle=True, seed=None, augment=None, drop_last=False, workers=2,
                 prefetch=2):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"dataset must have __len__ and __getitem__ (see pyconvnet.data.Dataset), "
                            f"got {type(dataset).__name__}")
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable augment(x_batch, rng) -> x_batch, got {type(augment).__name__}")
        self.dataset = dataset
        self.batch_size = as_int(batch_size, "batch_size", 1)
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.seed = int(default_generator().integers(0, 2**63)) if seed is None else as_int(seed, "seed", 0)
        self.augment = augment
        self.drop_last = _check_bool(drop_last, "drop_last")
        self.workers = as_int(workers, "workers", 0)
        self.prefetch = as_int(prefetch, "prefetch", 1)
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _rng(self, *key):
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def batch_indices(self, epoch):
        """The dataset indices of each batch of `epoch` (a list of int64 arrays)."""
        epoch = as_int(epoch, "epoch", 0)
        n = len(self.dataset)
        order = self._rng(_ORDER_KEY, epoch).permutation(n) if self.shuffle else np.arange(n, dtype=np.int64)
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[b:b + self.batch_size] for b in range(0, stop, self.batch_size)]

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        batches = self.batch_indices(epoch)
        dataset, augment = self.dataset, self.augment
        get_batch = getattr(dataset, "get_batch", None)
        rng = self._rng

        # a closure over what a batch needs, not over the iterator, so that dropping the
        # iterator collects it (and stops its threads) even while workers run
        def make_batch(b):
            idx = batches[b]
            got = get_batch(idx) if get_batch is not None else _collate(dataset, idx)
            if got is None:
                return None
            x, y = got
            x = as_float_array(x, "batch x")
            y = np.asarray(y)
            if y.dtype.kind in "iu":
                y = y.astype(np.int64, copy=False)
            if augment is not None:
                xa = as_float_array(augment(x, rng(_AUGMENT_KEY, epoch, b)), "augment(x_batch, rng) result")
                if xa.shape != x.shape:
                    raise ValueError(f"augment must return a batch of shape {x.shape}, got {xa.shape}")
                x = xa
            return x, y

        return _EpochIterator(make_batch, len(batches), self.workers, self.workers * self.prefetch)

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, seed={self.seed}, workers={self.workers}, prefetch={self.prefetch})")
