"""Batch inference on a Dask cluster: train a small CNN here, score many images on workers.

    pip install ".[dask]"
    python examples/dask_predict.py                   # a local cluster of 2 worker processes
    python examples/dask_predict.py --scheduler tcp://host:8786 --images 200000

The images are a Dask array built lazily from seeded chunks (in a real job: `dask.array.from_zarr`,
`from_npy_stack`, or a DataFrame read from Parquet). `pyconvnet.dask.predict` ships the model to the
workers once, by pickling, and the result is bit-for-bit what `model.predict` gives on one machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pyconvnet import datasets
from pyconvnet.demo import build_model
from pyconvnet.dask import predict


CHUNK = 4096


def one_chunk(start: int, count: int, size: int) -> np.ndarray:
    """The images from `start` to `start + count`: seeded, so any machine makes the same ones."""
    x, _, _ = datasets.make_shapes(count, size=size, seed=1000 + start)
    return x


def lazy_images(n: int, chunk: int, size: int):
    """(n, 1, size, size) float32 shape images, generated chunk by chunk where they are computed."""
    import dask
    import dask.array as da

    starts = range(0, n, chunk)
    blocks = [da.from_delayed(dask.delayed(one_chunk)(s, min(chunk, n - s), size),
                              shape=(min(chunk, n - s), 1, size, size), dtype=np.float32) for s in starts]
    return da.concatenate(blocks, axis=0)


def main(argv=None) -> dict:
    import dask.array as da
    from distributed import Client, LocalCluster

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20000, help="images to score")
    ap.add_argument("--workers", type=int, default=2, help="local worker processes (without --scheduler)")
    ap.add_argument("--scheduler", default=None, help="address of an existing dask scheduler")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--check", type=int, default=2000, help="images to re-score locally and compare bits")
    args = ap.parse_args(argv)

    x, y, _ = datasets.make_shapes(3000, size=32, seed=0)
    model = build_model(classes=int(y.max()) + 1)
    model.fit(x, y, epochs=args.epochs, batch_size=64, seed=0, verbose=0)

    images = lazy_images(args.images, chunk=CHUNK, size=32)
    cluster = None if args.scheduler else LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                                        processes=True, dashboard_address=None)
    with Client(args.scheduler or cluster) as client:
        start = time.perf_counter()
        probs = predict(model, images, batch_size=256)
        classes = da.argmax(probs, axis=1).compute()
        seconds = time.perf_counter() - start
        check = min(args.check, CHUNK, args.images)
        first = one_chunk(0, min(CHUNK, args.images), 32)[:check]  # the first chunk, made here
        local = model.predict(first, batch_size=256).argmax(axis=1)
        same = bool(np.array_equal(classes[:check], local))
        counts = np.bincount(classes, minlength=probs.shape[1])
        workers = len(client.scheduler_info()["workers"])
    if cluster is not None:
        cluster.close()
    print(f"scored {args.images} images in {seconds:.1f} s on {workers} workers; class counts {counts.tolist()}; first {check} equal to local predict: {same}")
    return {"classes": classes, "seconds": seconds, "same_as_local": same}


if __name__ == "__main__":
    main()
