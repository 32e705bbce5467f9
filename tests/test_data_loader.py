"""pyconvnet.data: ArrayDataset and the threaded DataLoader (order, seeds, bounds, shutdown)."""

from __future__ import annotations

import _thread
import gc
import threading
import time

import numpy as np
import pytest

from pyconvnet import augment
from pyconvnet.data import ArrayDataset, DataLoader, Dataset


def _data_threads():
    return [t for t in threading.enumerate() if t.name.startswith("pyconvnet-data")]


@pytest.fixture(autouse=True)
def no_leaked_threads():
    yield
    assert _data_threads() == []


def _arrays(n=23, shape=(1, 4, 3)):
    x = np.arange(n * int(np.prod(shape)), dtype=np.float32).reshape((n,) + shape)
    y = np.arange(n) % 5
    return x, y


class ItemOnly:
    """A dataset with only __len__/__getitem__ (no get_batch), with hooks for the tests."""

    def __init__(self, n=23, fail_at=None, exc=RuntimeError, on_get=None):
        self.x, self.y = _arrays(n)
        self.fail_at = fail_at
        self.exc = exc
        self.on_get = on_get
        self.calls = 0
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        with self.lock:
            self.calls += 1
        if self.on_get is not None:
            self.on_get(i)
        if i == self.fail_at:
            raise self.exc(f"sample {i} is broken")
        return self.x[i], int(self.y[i])


# ------------------------------------------------------------------ ArrayDataset

def test_array_dataset_items_and_batches():
    x, y = _arrays()
    ds = ArrayDataset(x.astype(np.float64), y.astype(np.int32))
    assert isinstance(ds, Dataset)
    assert len(ds) == 23
    img, label = ds[4]
    assert img.dtype == np.float32 and np.array_equal(img, x[4]) and label == 4 and type(label) is int
    assert ds[-1][1] == int(y[-1])
    bx, by = ds.get_batch([3, 0, 7])
    assert np.array_equal(bx, x[[3, 0, 7]]) and by.dtype == np.int64 and list(by) == [3, 0, 2]


def test_array_dataset_float_targets_and_errors():
    x, _ = _arrays(4)
    ds = ArrayDataset(x, np.ones((4, 2)))
    assert ds[0][1].dtype == np.float32 and ds[0][1].shape == (2,)
    with pytest.raises(ValueError, match="same number of samples"):
        ArrayDataset(x, np.arange(3))
    with pytest.raises(TypeError, match="x has integer dtype"):
        ArrayDataset(x.astype(np.int64), np.arange(4))
    with pytest.raises(IndexError, match="index 4 out of range"):
        ds[4]
    with pytest.raises(TypeError, match="index must be an int"):
        ds[1.0]
    with pytest.raises(TypeError, match="y must hold"):
        ArrayDataset(x, np.array(["a"] * 4))


# ------------------------------------------------------------------ order and seeds

@pytest.mark.parametrize("dataset", [ArrayDataset(*_arrays()), ItemOnly()], ids=["get_batch", "items"])
def test_each_epoch_is_a_new_permutation_of_every_sample(dataset):
    loader = DataLoader(dataset, batch_size=5, seed=3)
    assert len(loader) == 5
    epochs = []
    for _ in range(3):
        batches = list(loader)
        assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
        for bx, by in batches:
            assert bx.dtype == np.float32 and bx.shape[1:] == (1, 4, 3) and by.dtype == np.int64
        first = np.concatenate([bx[:, 0, 0, 0] for bx, _ in batches]) / 12
        assert sorted(first.astype(int)) == list(range(23))
        labels = np.concatenate([by for _, by in batches])
        assert np.array_equal(labels, first.astype(int) % 5)  # each image keeps its own label
        epochs.append(first)
    assert not np.array_equal(epochs[0], epochs[1]) and not np.array_equal(epochs[1], epochs[2])
    assert loader.epoch == 3


def test_no_shuffle_and_drop_last():
    loader = DataLoader(ArrayDataset(*_arrays()), batch_size=5, shuffle=False, drop_last=True)
    assert len(loader) == 4
    got = [by for _, by in loader]
    assert [list(b) for b in got] == [list(np.arange(k, k + 5) % 5) for k in range(0, 20, 5)]
    assert [list(b) for b in loader.batch_indices(7)] == [list(range(k, k + 5)) for k in range(0, 20, 5)]


def _run(loader, epochs=2):
    return [[(bx.copy(), by.copy()) for bx, by in loader] for _ in range(epochs)]


def test_same_seed_same_batches_for_any_worker_count():
    rng_aug = augment.Compose([augment.RandomTranslate(1), augment.RandomHorizontalFlip()])
    runs = []
    for workers, prefetch in [(0, 1), (1, 1), (2, 2), (3, 1)]:
        loader = DataLoader(ItemOnly(), batch_size=4, seed=11, augment=rng_aug, workers=workers, prefetch=prefetch)
        runs.append(_run(loader))
    for other in runs[1:]:
        for e0, e1 in zip(runs[0], other):
            assert len(e0) == len(e1)
            for (x0, y0), (x1, y1) in zip(e0, e1):
                assert np.array_equal(x0, x1) and np.array_equal(y0, y1)
    # the augmentation did change the images, and another seed gives other batches
    plain = _run(DataLoader(ItemOnly(), batch_size=4, seed=11, workers=0))
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(runs[0][0], plain[0]))
    other = _run(DataLoader(ItemOnly(), batch_size=4, seed=12, workers=2))
    assert not np.array_equal(runs[0][0][0][1], other[0][0][1]) or not np.array_equal(runs[0][0][1][1],
                                                                                      other[0][1][1])


def test_augment_gets_a_generator_seeded_by_seed_epoch_batch():
    seen = []

    def record(x, rng):
        seen.append(rng.integers(0, 2**62))
        return x

    loader = DataLoader(ArrayDataset(*_arrays(8)), batch_size=4, seed=5, augment=record, workers=0)
    list(loader)
    list(loader)
    expected = [np.random.default_rng(np.random.SeedSequence(5, spawn_key=(1, e, b))).integers(0, 2**62)
                for e in range(2) for b in range(2)]
    assert seen == expected


def test_seed_none_follows_manual_seed():
    import pyconvnet

    pyconvnet.manual_seed(4)
    a = DataLoader(ArrayDataset(*_arrays()), batch_size=4)
    pyconvnet.manual_seed(4)
    b = DataLoader(ArrayDataset(*_arrays()), batch_size=4)
    assert a.seed == b.seed
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(a, b))


def test_augment_must_keep_the_shape():
    loader = DataLoader(ArrayDataset(*_arrays(8)), batch_size=4, augment=lambda x, rng: x[:, :, :2], workers=2)
    with pytest.raises(ValueError, match="augment must return a batch of shape"):
        list(loader)


# ------------------------------------------------------------------ bounds and shutdown

def test_prefetch_is_bounded():
    ds = ItemOnly(n=200)
    loader = DataLoader(ds, batch_size=4, seed=0, workers=2, prefetch=2)
    it = iter(loader)
    next(it)
    time.sleep(0.3)  # plenty of time for unbounded workers to read far ahead
    # the consumed batch plus at most workers * prefetch batches ahead
    assert ds.calls <= (1 + 2 * 2) * 4
    assert ds.calls > 4  # and they do read ahead
    it.close()


def test_worker_exception_is_reraised_in_order_and_threads_stop():
    ds = ItemOnly(fail_at=9)
    loader = DataLoader(ds, batch_size=4, shuffle=False, workers=2)
    got = []
    with pytest.raises(RuntimeError, match="sample 9 is broken"):
        for _, by in loader:
            got.append(by)
    assert len(got) == 2  # batches 0 and 1 come first; batch 2 holds index 9


def test_stopping_early_joins_the_threads():
    loader = DataLoader(ItemOnly(n=400), batch_size=4, workers=3)
    for _ in loader:
        assert len(_data_threads()) == 3
        break
    assert _data_threads() == []
    it = iter(loader)
    next(it)
    del it
    assert _data_threads() == []
    with iter(loader) as it:
        next(it)
    assert _data_threads() == []


def _interrupt_at(index):
    def hook(i):
        if i == index:
            _thread.interrupt_main()  # as if Ctrl-C arrived in the main thread

    return hook


@pytest.mark.parametrize("index", [1, 41])
def test_ctrl_c_while_waiting_for_a_batch_stops_the_threads(index):
    # index 1 is read while the workers start; index 41 once the consumer waits in __next__
    loader = DataLoader(ItemOnly(n=400, on_get=_interrupt_at(index)), batch_size=4, shuffle=False, workers=2)
    with pytest.raises(KeyboardInterrupt):
        list(loader)  # only __next__ runs Python code here, so the interrupt lands inside it
    assert _data_threads() == []


def test_ctrl_c_in_the_loop_body_stops_the_threads_once_the_traceback_is_released():
    loader = DataLoader(ItemOnly(n=400, on_get=_interrupt_at(13)), batch_size=4, shuffle=False, workers=2)
    try:
        for _ in loader:
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    else:
        pytest.fail("no KeyboardInterrupt")
    gc.collect()  # the exception's frames referenced the iterator
    assert _data_threads() == []


def test_keyboard_interrupt_inside_a_worker_reaches_the_consumer():
    loader = DataLoader(ItemOnly(fail_at=2, exc=KeyboardInterrupt), batch_size=4, workers=2)
    with pytest.raises(KeyboardInterrupt):
        list(loader)


def test_dataset_items_must_be_pairs_of_one_shape():
    class Bad(ItemOnly):
        def __getitem__(self, i):
            return self.x[i]

    class Ragged(ItemOnly):
        def __getitem__(self, i):
            return (self.x[i][:, :, :2] if i == 5 else self.x[i]), 0

    with pytest.raises(TypeError, match=r"dataset\[0\] must be a pair"):
        list(DataLoader(Bad(), batch_size=4, shuffle=False, workers=0))
    with pytest.raises(ValueError, match=r"dataset\[5\] image has shape \(1, 4, 2\)"):
        list(DataLoader(Ragged(), batch_size=2, shuffle=False, workers=1))


def test_argument_errors_name_the_argument():
    ds = ArrayDataset(*_arrays())
    with pytest.raises(TypeError, match="dataset must have __len__"):
        DataLoader(object())
    for kw, exc, word in [({"batch_size": 0}, ValueError, "batch_size"), ({"workers": -1}, ValueError, "workers"),
                          ({"prefetch": 0}, ValueError, "prefetch"), ({"seed": -2}, ValueError, "seed"),
                          ({"shuffle": 1}, TypeError, "shuffle"), ({"drop_last": None}, TypeError, "drop_last"),
                          ({"augment": 3}, TypeError, "augment"), ({"batch_size": 2.0}, TypeError, "batch_size")]:
        with pytest.raises(exc, match=word):
            DataLoader(ds, **kw)
