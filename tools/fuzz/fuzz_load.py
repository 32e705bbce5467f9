"""Fuzz target: pyconvnet.load and pyconvnet.io.from_bytes on arbitrary bytes (see harness.py).

An input is tried as it is, and also as "header JSON, SEP, tensor bytes" put together into a
safetensors file with the right length prefix: seeds come in that second form too, so that
mutations inside the architecture JSON (lengths, huge integers, wrong types) reach the model
builder instead of stopping at the length check.
"""

import struct

import harness

with harness.instrumented():
    import numpy as np
    import pyconvnet
    from pyconvnet import io
    from pyconvnet import layers as L


def seeds() -> dict:
    pyconvnet.manual_seed(0)
    specs = {
        "conv_pool_linear": ((1, 4, 4), [L.Conv2d(1, 2, 3, padding=1), L.ReLU(), L.MaxPool2d(2), L.Flatten(),
                                         L.Linear(8, 3)]),
        "bn_avgpool": ((2, 8, 8), [L.Conv2d(2, 2, 3, padding="same", bias=False), L.BatchNorm2d(2),
                                   L.AvgPool2d(2), L.GlobalAvgPool2d(), L.Flatten(), L.Linear(2, 2),
                                   L.Softmax()]),
        "activations": ((4,), [L.Flatten(), L.Linear(4, 4), L.LeakyReLU(0.1), L.ELU(), L.Sigmoid(),
                               L.Tanh(), L.Dropout(0.5)]),
        "lppool_dilation": ((1, 9, 9), [L.Conv2d(1, 2, 3, dilation=2, groups=1), L.LPPool2d(2, 2),
                                        L.Flatten()]),
    }
    out = {}
    for name, (shape, layers) in specs.items():
        data = io.to_bytes(pyconvnet.Sequential(layers, input_shape=shape))
        out[name] = data
        out[name + "_truncated"] = data[: len(data) // 2]
        n = int.from_bytes(data[:8], "little")
        out[name + "_split"] = data[8:8 + n].rstrip(b" ") + SEP + data[8 + n:]
    return out


SEP = b"\n--tensors--\n"

# Dictionary for the mutator: the format's keys and values a hostile file would try.
TOKENS = [b'"kernel_size"', b'"stride"', b'"padding"', b'"dilation"', b'"groups"', b'"bias"',
          b'"input_shape"', b'"same"', b'"valid"', b'"ceil_mode"', b'"norm_type"', b'"class"',
          b'"config"', b'"dtype"', b'"shape"', b'"data_offsets"', b'"F32"', b'"BF16"',
          b"9223372036854775808", b"18446744073709551616", b"-1", b"0", b"1e309", b"NaN",
          b"Infinity", b"null", b"true", b"[]", b"{}", b'""']


def _assembled(data: bytes):
    head, sep, tensors = data.partition(SEP)
    if not sep:
        return None
    pad = -len(head) % 8
    return struct.pack("<Q", len(head) + pad) + head + b" " * pad + tensors


def _predict(model) -> None:
    """A model that loads must also run (or refuse its input with ValueError), not fail later
    with some other error: one small batch of the declared input shape."""
    shape = getattr(model, "input_shape", None)
    if not shape or any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.float64)) > 1 << 16:
        return
    model.predict(np.zeros((1,) + tuple(shape), np.float32))


def one_input(data: bytes) -> None:
    for blob in (data, _assembled(data)):
        if blob is None:
            continue
        try:
            _predict(io.from_bytes(blob))
            pyconvnet.load(harness.scratch_file(blob))
        except harness.ALLOWED:
            pass


if __name__ == "__main__":
    harness.main(one_input, TOKENS)
