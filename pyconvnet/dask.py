"""Batch inference over Dask collections (optional extra ``pip install "pyconvnet[dask]"``).

``predict(model, data)`` runs ``model.predict`` on every block of a Dask array, or on every
partition of a Dask DataFrame whose rows are flattened images, wherever Dask's scheduler puts
the work (threads, processes or a ``dask.distributed`` cluster).

- The model is shipped once: it becomes a single task of the graph (pickled for process and
  distributed schedulers; ``Sequential``, ``Model`` and ``InferenceModel`` all pickle), on which
  every block depends, instead of being embedded in every block's task.
- Samples are regrouped along the batch axis into blocks of a multiple of ``batch_size``, so each
  sample goes through the model in exactly the batch that a local ``model.predict(x, batch_size)``
  would give it. Some kernels pick their blocking by batch size, so this is what makes the result
  bit-for-bit the local one, whatever the cluster.
"""

from __future__ import annotations

import numpy as np

from ._validate import as_int

__all__ = ["predict"]


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'pyconvnet.dask needs Dask: pip install "pyconvnet[dask]"'
        ) from exc
    return dask, da


def _predict_block(model, block, batch_size):
    y = model.predict(block, batch_size=batch_size) if _takes_batch_size(model) else model.predict(block)
    if isinstance(y, list):
        raise NotImplementedError("pyconvnet.dask.predict supports models with one output")
    return np.asarray(y, dtype=np.float32)


def _takes_batch_size(model) -> bool:
    # InferenceModel.predict runs a whole block as one batch and takes no batch_size.
    from .inference import InferenceModel

    return not isinstance(model, InferenceModel)


def _sample_shape(model, data_shape):
    if hasattr(model, "output_shape"):
        return tuple(int(d) for d in model.output_shape((1,) + tuple(data_shape)))[1:]
    return None


def _block_rows(n_rows: int, batch_size: int, rows_per_block) -> int:
    if rows_per_block is None:
        rows_per_block = 4 * batch_size
    rows_per_block = as_int(rows_per_block, "rows_per_block")
    if rows_per_block < 1:
        raise ValueError(f"rows_per_block must be >= 1, got {rows_per_block}")
    # A multiple of batch_size, so the batches inside each block are the local predict's batches.
    return max(batch_size, (rows_per_block // batch_size) * batch_size) if n_rows else batch_size


def _check_model(model):
    if not callable(getattr(model, "predict", None)):
        raise TypeError(f"model must be a pyconvnet model or InferenceModel, got {type(model).__name__}")


def predict(model, data, batch_size: int = 256, *, shape=None, rows_per_block=None, columns=None):
    """``model.predict`` over a Dask array or DataFrame, lazily.

    - ``data`` a ``dask.array.Array`` of samples (batch axis first, e.g. (N, C, H, W)): returns a
      Dask array of predictions, (N, ...) float32.
    - ``data`` a ``dask.dataframe.DataFrame`` whose rows are flattened samples: ``shape`` gives
      one sample's shape (e.g. ``(1, 28, 28)``), ``columns`` optionally selects and orders the
      pixel columns. Returns a Dask DataFrame with the input's index and columns
      ``output_0 ... output_{K-1}``.
    - ``rows_per_block`` (default ``4 * batch_size``) is rounded down to a multiple of
      ``batch_size``; results are bit-for-bit those of a local ``model.predict(x, batch_size)``.

    Nothing is computed until the result is (``.compute()``, ``.persist()``, ``to_zarr`` ...).
    """
    dask, da = _dask()
    _check_model(model)
    batch_size = as_int(batch_size, "batch_size")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(data, da.Array):
        if shape is not None or columns is not None:
            raise TypeError("shape and columns apply to DataFrames only; reshape the Dask array instead")
        return _predict_array(dask, da, model, data, batch_size, rows_per_block)
    try:
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover
        dd = None
    if dd is not None and isinstance(data, dd.DataFrame):
        return _predict_frame(dask, da, dd, model, data, batch_size, shape, rows_per_block, columns)
    raise TypeError(
        f"data must be a dask.array.Array or dask.dataframe.DataFrame, got {type(data).__name__}; "
        "for NumPy input call model.predict directly"
    )


def _predict_array(dask, da, model, x, batch_size, rows_per_block):
    if x.ndim < 2:
        raise ValueError(f"data must have a batch axis and sample axes, got shape {x.shape}")
    if any(np.isnan(c) for c in x.shape):
        raise ValueError("data has unknown chunk sizes; call data.compute_chunk_sizes() first")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"data has dtype {x.dtype}; convert with data.astype(np.float32) (e.g. / 255 for 8-bit images)"
        )
    rows = _block_rows(x.shape[0], batch_size, rows_per_block)
    x = x.rechunk((rows,) + tuple(-1 for _ in x.shape[1:]))
    out_sample = _sample_shape(model, x.shape[1:])
    if out_sample is None:
        # An InferenceModel: learn the output's sample shape from one sample, locally.
        out_sample = _predict_block(model, np.zeros((1,) + tuple(x.shape[1:]), np.float32), 1).shape[1:]
    model_task = dask.delayed(model, pure=True, traverse=False)
    run = dask.delayed(_predict_block, pure=True)
    blocks = [
        da.from_delayed(run(model_task, block, batch_size), shape=(n,) + tuple(out_sample), dtype=np.float32)
        for block, n in zip(x.to_delayed().ravel(), x.chunks[0]) if n
    ]
    if not blocks:
        return da.zeros((0,) + tuple(out_sample), dtype=np.float32)
    return da.concatenate(blocks, axis=0)


def _frame_block(model, values, index, index_name, shape, batch_size, names):
    import pandas as pd

    x = np.ascontiguousarray(values, dtype=np.float32).reshape((len(values),) + shape)
    y = _predict_block(model, x, batch_size).reshape(len(values), -1)
    return pd.DataFrame(y, index=pd.Index(index, name=index_name), columns=names)


def _predict_frame(dask, da, dd, model, df, batch_size, shape, rows_per_block, columns):
    import pandas as pd

    if shape is None:
        raise TypeError("shape (one sample's shape, e.g. (1, 28, 28)) is required for a DataFrame")
    shape = tuple(as_int(d, "shape") for d in shape)
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"shape must be non-empty with positive sizes, got {shape}")
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ValueError(f"columns not in the DataFrame: {missing}")
        df = df[list(columns)]
    size = int(np.prod(shape))
    if len(df.columns) != size:
        raise ValueError(f"the DataFrame has {len(df.columns)} columns but shape {shape} needs {size}")
    bad = [c for c, t in df.dtypes.items() if not np.issubdtype(t, np.floating)]
    if bad:
        raise TypeError(f"columns {bad[:5]} are not floating point; convert with df.astype('float32')")
    values = df.to_dask_array(lengths=True)
    index = df.index.to_dask_array(lengths=True)
    rows = _block_rows(values.shape[0], batch_size, rows_per_block)
    values = values.rechunk((rows, -1))
    index = index.rechunk((rows,))
    out_sample = _sample_shape(model, shape)
    if out_sample is None:
        out_sample = _predict_block(model, np.zeros((1,) + shape, np.float32), 1).shape[1:]
    names = [f"output_{i}" for i in range(int(np.prod(out_sample)))]
    meta = pd.DataFrame({n: pd.Series([], dtype=np.float32) for n in names}, index=df._meta.index[:0])
    model_task = dask.delayed(model, pure=True, traverse=False)
    run = dask.delayed(_frame_block, pure=True)
    parts = [
        run(model_task, v, i, df.index.name, shape, batch_size, names)
        for v, i, n in zip(values.to_delayed().ravel(), index.to_delayed().ravel(), values.chunks[0]) if n
    ]
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    return dd.from_delayed(parts, meta=meta, verify_meta=False)
