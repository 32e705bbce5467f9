"""conv2d forward against PyTorch (torch.nn.functional.conv2d), ONNX Runtime (when installed)
and a NumPy im2col reference.

    pytest benchmarks/bench_conv2d.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F

# name: (in_channels, out_channels, kernel, stride, padding, size)
CASES = {
    "3x3 64->64 32x32 pad1": (64, 64, 3, 1, 1, 32),
    "5x5 32->64 14x14 pad2": (32, 64, 5, 1, 2, 14),
    "1x1 256->64 14x14": (256, 64, 1, 1, 0, 14),
    "3x3 s2 32->64 32x32 pad1": (32, 64, 3, 2, 1, 32),
    "5x5 3->6 32x32": (3, 6, 5, 1, 0, 32),
}


def numpy_conv2d(x, w, b, stride, pad):
    """im2col with stride tricks + numpy.matmul: how a careful NumPy user writes it."""
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh = (h + 2 * pad - kh) // stride + 1
    ow = (wd + 2 * pad - kw) // stride + 1
    s = xp.strides
    cols = np.lib.stride_tricks.as_strided(
        xp, (n, c, kh, kw, oh, ow), (s[0], s[1], s[2], s[3], s[2] * stride, s[3] * stride))
    cols = cols.transpose(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)
    y = (w.reshape(oc, -1) @ cols).reshape(oc, n, oh, ow).transpose(1, 0, 2, 3)
    return y + b[None, :, None, None]


@pytest.mark.parametrize("impl", ["pyconvnet", "torch", "onnxruntime", "numpy"])
@pytest.mark.parametrize("batch", [64, 1])
@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_forward(benchmark, case, batch, impl):
    c, oc, k, stride, pad, size = CASES[case]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
    w = rng.standard_normal((oc, c, k, k)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    out_size = (size + 2 * pad - k) // stride + 1
    benchmark.group = f"conv2d {case} batch {batch}"
    benchmark.extra_info.update(impl=impl, work=2 * batch * oc * out_size**2 * c * k * k, unit="GFLOP/s")
    if impl == "torch":
        torch = pytest.importorskip("torch")
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        with torch.no_grad():
            y = benchmark(torch.nn.functional.conv2d, xt, wt, bt, stride=stride, padding=pad).numpy()
    elif impl == "onnxruntime":
        from conftest import BENCH_THREADS
        from onnx_reference import conv2d as ort_conv2d

        run = ort_conv2d(x.shape, w, b, stride, pad, BENCH_THREADS)
        y = benchmark(run, x)
    elif impl == "numpy":
        y = benchmark(numpy_conv2d, x, w, b, stride, pad)
    else:
        y = benchmark(F.conv2d, x, w, b, stride=stride, padding=pad)
    expected = numpy_conv2d(x[:1].astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride, pad)
    np.testing.assert_allclose(y[:1], expected, rtol=1e-4, atol=1e-3)
