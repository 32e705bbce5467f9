"""ConvTranspose2d forward and backward against PyTorch, side by side in one run.

    python benchmarks/bench_conv_transpose.py [threads]     # round robin against torch (default 2 threads)
    pytest benchmarks/bench_conv_transpose.py --benchmark-only

Forward is the layer's output (pyconvnet `ConvTranspose2d.infer`, torch `conv_transpose2d` under
no_grad); backward is all three gradients (dx, dweight, dbias) from a given upstream gradient
(pyconvnet `_C.conv_transpose2d_backward`, torch `aten.convolution_backward` with transposed=True,
so neither side pays for a forward there).
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
from pyconvnet import _C  # noqa: E402
from tiers import describe  # noqa: E402

# name: (in_channels, out_channels, kernel, stride, padding, output_padding, size, batch)
CASES = {
    "U-Net decoder 64->32 2x2 s2 32x32 b16": (64, 32, 2, 2, 0, 0, 32, 16),
    "3x3 s2 op1 64->32 32x32 b16": (64, 32, 3, 2, 1, 1, 32, 16),
}


def _data(case):
    c, oc, k, s, p, op, size, batch = CASES[case]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
    w = (rng.standard_normal((c, oc, k, k)) / np.sqrt(oc * k * k)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    out = (size - 1) * s - 2 * p + k + op
    g = rng.standard_normal((batch, oc, out, out)).astype(np.float32)
    return x, w, b, g


def _work(case):
    c, oc, k, _, _, _, size, batch = CASES[case]
    return 2 * batch * c * size * size * oc * k * k  # FLOPs of the forward; backward is twice


def functions(case):
    """{(direction, system): fn} for one case."""
    c, oc, k, s, p, op, _, _ = CASES[case]
    x, w, b, g = _data(case)
    geo = ((s, s), (p, p), (op, op), (1, 1), 1)
    fns = {
        ("forward", "pyconvnet"): lambda: _C.conv_transpose2d_forward(x, w, b, *geo),
        ("backward", "pyconvnet"): lambda: _C.conv_transpose2d_backward(x, w, g, *geo),
    }
    try:
        import torch
    except ImportError:
        return fns
    xt, wt, bt, gt = map(torch.from_numpy, (x, w, b, g))

    def torch_forward():
        with torch.no_grad():
            return torch.nn.functional.conv_transpose2d(xt, wt, bt, s, p, op)

    def torch_backward():
        return torch.ops.aten.convolution_backward(gt, xt, wt, [oc], [s, s], [p, p], [1, 1], True, [op, op], 1,
                                                   [True, True, True])

    fns[("forward", "torch")] = torch_forward
    fns[("backward", "torch")] = torch_backward
    return fns


def _check_against_torch(fns):
    if ("forward", "torch") not in fns:
        return
    np.testing.assert_allclose(fns[("forward", "pyconvnet")](), fns[("forward", "torch")]().numpy(),
                               rtol=1e-3, atol=1e-3)
    for mine, theirs in zip(fns[("backward", "pyconvnet")](), fns[("backward", "torch")]()):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("impl", ["pyconvnet", "torch"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("case", list(CASES))
def test_conv_transpose2d(benchmark, case, direction, impl):
    if impl == "torch":
        pytest.importorskip("torch")
    fns = functions(case)
    _check_against_torch(fns)
    benchmark.group = f"conv_transpose2d {direction} {case}"
    benchmark.extra_info.update(impl=impl, work=_work(case) * (2 if direction == "backward" else 1),
                                unit="GFLOP/s")
    benchmark(fns[(direction, impl)])


def main(threads: int = 2, rounds: int = 9, pause_s: float = 0.3):
    """Round robin: each round times a block of calls of each system in turn, after a pause that
    lets the other system's worker threads go idle; per system, the best block of the rounds."""
    import torch

    pyconvnet.set_num_threads(threads)
    torch.set_num_threads(threads)
    print(f"conv_transpose2d, {threads} threads both, round robin of {rounds} rounds "
          f"(best ms per call; torch time / pyconvnet time)")
    print(describe())
    for case in CASES:
        fns = functions(case)
        _check_against_torch(fns)
        for direction in ("forward", "backward"):
            pair = {name: fn for (d, name), fn in fns.items() if d == direction}
            best = {name: float("inf") for name in pair}
            reps = 10
            for _ in range(rounds):
                for name, fn in pair.items():
                    time.sleep(pause_s)
                    fn()
                    t0 = time.perf_counter()
                    for _ in range(reps):
                        fn()
                    best[name] = min(best[name], (time.perf_counter() - t0) / reps)
            mine, theirs = best["pyconvnet"], best["torch"]
            print(f"{case:38s} {direction:8s} pyconvnet {mine * 1e3:6.2f} ms  torch {theirs * 1e3:6.2f} ms  "
                  f"x{theirs / mine:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
