"""conv2d forward against PyTorch (torch.nn.functional.conv2d), ONNX Runtime (when installed)
and a NumPy im2col reference.

    pytest benchmarks/bench_conv2d.py --benchmark-only
    python benchmarks/bench_conv2d.py [threads]     # round robin against torch and ONNX Runtime
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import pyconvnet  # noqa: E402
except ImportError:  # run as a script from a source tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyconvnet  # noqa: E402
import pyconvnet.functional as F  # noqa: E402
from tiers import IMPLS as PYCONVNET_IMPLS  # noqa: E402
from tiers import LOWER, at_tier, describe, fma_peak, tier_of  # noqa: E402

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


@pytest.mark.parametrize("impl", PYCONVNET_IMPLS + ["torch", "onnxruntime", "numpy"])
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
        benchmark.extra_info["tier"] = tier_of(impl)
        y = benchmark(at_tier(F.conv2d, tier_of(impl)), x, w, b, stride=stride, padding=pad)
    expected = numpy_conv2d(x[:1].astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride, pad)
    np.testing.assert_allclose(y[:1], expected, rtol=1e-4, atol=1e-3)


def main(threads: int = 2, rounds: int = 9, pause_s: float = 0.3):
    """Round robin: each round times a block of calls of every library in turn (after a pause
    that lets the previous library's worker threads stop spinning), so clock drift and a
    neighbour's load hit all of them alike; per library, the best block of the rounds."""
    pyconvnet.set_num_threads(threads)
    print(f"conv2d forward, {threads} threads, round robin of {rounds} rounds "
          f"(GFLOP/s; speed-up; % of the FMA peak measured before each layer)")
    print(describe())
    for case, (c, oc, k, stride, pad, size) in CASES.items():
        for batch in (64, 1):
            rng = np.random.default_rng(0)
            x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
            w = rng.standard_normal((oc, c, k, k)).astype(np.float32)
            b = rng.standard_normal(oc).astype(np.float32)
            out_size = (size + 2 * pad - k) // stride + 1
            flops = 2 * batch * oc * out_size**2 * c * k * k
            fns = {"pyconvnet": lambda: F.conv2d(x, w, b, stride=stride, padding=pad)}
            for tier in LOWER:
                fns[f"pyconvnet-{tier}"] = at_tier(fns["pyconvnet"], tier)
            try:
                import torch

                torch.set_num_threads(threads)
                xt, wt, bt = map(torch.from_numpy, (x, w, b))
                fns["torch"] = lambda: torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)
            except ImportError:
                pass
            try:
                from onnx_reference import conv2d as ort_conv2d

                run = ort_conv2d(x.shape, w, b, stride, pad, threads)
                fns["onnxruntime"] = lambda: run(x)
            except ImportError:
                pass
            reps = max(3, int(2e9 / flops))  # blocks of about 30 ms
            time.sleep(pause_s)
            peak = fma_peak()
            best = {name: float("inf") for name in fns}
            for _ in range(rounds):
                for name, fn in fns.items():
                    time.sleep(pause_s)
                    fn()
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        fn()
                    best[name] = min(best[name], (time.perf_counter() - t0) / reps)
            mine = best.pop("pyconvnet")
            others = "  ".join(f"{n} {flops / t / 1e9:5.1f} (x{t / mine:.2f})" for n, t in best.items())
            print(f"{case:26s} batch {batch:2d}  pyconvnet {flops / mine / 1e9:5.1f} "
                  f"({100 * flops / mine / 1e9 / peak:3.0f}% of {peak:.0f})  {others}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
