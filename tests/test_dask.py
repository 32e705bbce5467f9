"""pyconvnet.dask.predict: lazy inference over Dask arrays and DataFrames gives the local
model.predict's bits, on the local schedulers and on a dask.distributed cluster of processes."""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import pyconvnet as pc  # noqa: E402
from pyconvnet import layers as L  # noqa: E402
from pyconvnet.dask import predict  # noqa: E402


def _model():
    rng = np.random.default_rng(3)
    m = pc.Sequential([L.Conv2d(1, 6, 3, padding=1), L.ReLU(), L.MaxPool2d(2), L.Flatten(),
                       L.Linear(6 * 6 * 6, 5)])
    for p in m.params():  # weights from a seeded generator, not the global one
        p.data[...] = rng.standard_normal(p.data.shape).astype(np.float32) * 0.3
    return m


def _images(n, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 12, 12)).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 37, 100, 500])
@pytest.mark.parametrize("batch_size", [8, 64])
def test_array_is_bitwise_local_predict(chunk, batch_size):
    m, x = _model(), _images(203)
    out = predict(m, da.from_array(x, chunks=(chunk, 1, 12, 12)), batch_size=batch_size)
    assert out.shape == (203, 5) and out.dtype == np.float32
    # Blocks are a multiple of batch_size: the local batches exactly.
    assert all(c % batch_size == 0 for c in out.chunks[0][:-1])
    got = out.compute(scheduler="threads")
    np.testing.assert_array_equal(got, m.predict(x, batch_size=batch_size))


def test_rows_per_block_rounds_down_to_batch_multiple():
    m, x = _model(), _images(100)
    out = predict(m, da.from_array(x, chunks=(7, 1, 12, 12)), batch_size=16, rows_per_block=40)
    assert out.chunks[0] == (32, 32, 32, 4)
    small = predict(m, da.from_array(x, chunks=(7, 1, 12, 12)), batch_size=16, rows_per_block=3)
    assert small.chunks[0][0] == 16
    np.testing.assert_array_equal(small.compute(), m.predict(x, batch_size=16))


def test_inference_model_and_empty_input():
    m, x = _model(), _images(50)
    im = pc.InferenceModel(m)
    got = predict(im, da.from_array(x, chunks=(9, 1, 12, 12)), batch_size=10).compute()
    np.testing.assert_array_equal(got, np.concatenate([im.predict(x[i:i + 40]) for i in range(0, 50, 40)]))
    empty = predict(m, da.zeros((0, 1, 12, 12), dtype=np.float32, chunks=(1, 1, 12, 12)))
    assert empty.compute().shape == (0, 5)


def _frame(x, npartitions):
    flat = pd.DataFrame(x.reshape(len(x), -1), index=pd.Index(np.arange(len(x)) * 10 + 7, name="id"))
    flat.columns = [f"p{i}" for i in range(flat.shape[1])]
    return dd.from_pandas(flat, npartitions=npartitions)


def test_dataframe_keeps_index_and_bits():
    m, x = _model(), _images(130)
    out = predict(m, _frame(x, 6), batch_size=32, shape=(1, 12, 12))
    assert list(out.columns) == [f"output_{i}" for i in range(5)]
    got = out.compute(scheduler="threads")
    np.testing.assert_array_equal(got.index.to_numpy(), np.arange(130) * 10 + 7)
    assert got.index.name == "id"
    np.testing.assert_array_equal(got.to_numpy(), m.predict(x, batch_size=32))


def test_dataframe_column_selection_orders_pixels():
    m, x = _model(), _images(20)
    frame = _frame(x, 2)
    cols = [f"p{i}" for i in range(144)]
    shuffled = frame[cols[::-1]]  # the same pixels, stored in reverse column order
    got = predict(m, shuffled, batch_size=8, shape=(1, 12, 12), columns=cols).compute()
    np.testing.assert_array_equal(got.to_numpy(), m.predict(x, batch_size=8))


def test_bad_arguments_name_themselves():
    m, x = _model(), _images(10)
    dx = da.from_array(x, chunks=(5, 1, 12, 12))
    with pytest.raises(TypeError, match="data must be"):
        predict(m, x)
    with pytest.raises(TypeError, match="model"):
        predict(object(), dx)
    with pytest.raises(ValueError, match="batch_size"):
        predict(m, dx, batch_size=0)
    with pytest.raises(ValueError, match="rows_per_block"):
        predict(m, dx, rows_per_block=0)
    with pytest.raises(TypeError, match="astype"):
        predict(m, da.from_array((x * 255).astype(np.uint8), chunks=5))
    with pytest.raises(TypeError, match="DataFrames only"):
        predict(m, dx, shape=(1, 12, 12))
    with pytest.raises(ValueError, match="batch axis"):
        predict(m, da.zeros(5, chunks=5))
    frame = _frame(x, 2)
    with pytest.raises(TypeError, match="shape"):
        predict(m, frame)
    with pytest.raises(ValueError, match="columns"):
        predict(m, frame, shape=(1, 12, 11))
    with pytest.raises(ValueError, match="not in the DataFrame"):
        predict(m, frame, shape=(1, 12, 12), columns=["nope"])
    with pytest.raises(TypeError, match="astype"):
        predict(m, frame.astype("int64"), shape=(1, 12, 12))
    with pytest.raises(ValueError, match="positive"):
        predict(m, frame, shape=(0, 12, 12))


def test_distributed_process_workers_match_local_predict():
    """Models pickled to two worker processes give the local bits, for arrays and DataFrames."""
    distributed = pytest.importorskip("distributed")
    m, x = _model(), _images(300, seed=5)
    im = pc.InferenceModel(m)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        arr = da.from_array(x, chunks=(41, 1, 12, 12))
        got_arr = client.compute(predict(m, arr, batch_size=16)).result()
        got_frame = client.compute(predict(m, _frame(x, 5), batch_size=16, shape=(1, 12, 12))).result()
        got_im = client.compute(predict(im, arr, batch_size=16, rows_per_block=64)).result()
        # Work really ran in the worker processes, not in this one.
        pids = set(client.run(lambda: __import__("os").getpid()).values())
    assert len(pids) == 2 and __import__("os").getpid() not in pids
    np.testing.assert_array_equal(got_arr, m.predict(x, batch_size=16))
    np.testing.assert_array_equal(got_frame.to_numpy(), m.predict(x, batch_size=16))
    np.testing.assert_array_equal(got_im, np.concatenate([im.predict(x[i:i + 64]) for i in range(0, 300, 64)]))
