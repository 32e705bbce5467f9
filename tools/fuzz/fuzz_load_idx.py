"""Fuzz target: pyconvnet.datasets.load_idx on arbitrary bytes, plain or gzip (see harness.py)."""

import gzip
import struct

import harness

with harness.instrumented():
    import numpy as np
    from pyconvnet import datasets


def _idx(arr: np.ndarray, code: int) -> bytes:
    dtype = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(dtype).tobytes()


def seeds() -> dict:
    rng = np.random.default_rng(0)
    out = {
        "images_u8": _idx(rng.integers(0, 256, (3, 4, 5)), 0x08),
        "labels_u8": _idx(np.arange(7), 0x08),
        "i8": _idx(np.arange(-3, 3).reshape(2, 3), 0x09),
        "i16": _idx(np.arange(4), 0x0B),
        "i32": _idx(np.arange(4).reshape(2, 2), 0x0C),
        "f32": _idx(rng.standard_normal(5), 0x0D),
        "f64": _idx(rng.standard_normal((1, 2)), 0x0E),
        "empty_dim": _idx(np.zeros((0, 3)), 0x08),
    }
    for name in list(out):
        out[name + ".gz"] = gzip.compress(out[name], mtime=0)
    return out


def one_input(data: bytes) -> None:
    datasets.load_idx(harness.scratch_file(data))


if __name__ == "__main__":
    harness.main(one_input)
