"""nms of 2,000 random boxes: pyconvnet.ops.nms (C++) against a vectorised NumPy implementation
of the same rule (and torchvision when installed), side by side. Target: >= 5x NumPy.

Boxes: corners uniform in [0, 500)^2, sides uniform in [10, 60), scores uniform; threshold 0.5.
Both implementations must return the same indices. Run either::

    pytest benchmarks/bench_ops.py --benchmark-only
    python benchmarks/bench_ops.py      # alternating rounds, best of each, then the ratio
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from pyconvnet import ops

N = 2000
THRESHOLD = 0.5


def make_case(seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, size=(N, 2))
    wh = rng.uniform(10, 60, size=(N, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    return boxes, rng.random(N, dtype=np.float32)


def numpy_nms(boxes, scores, thr):
    """The classic vectorised loop: keep the best remaining box, drop those it overlaps."""
    b = boxes.astype(np.float64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = area[i] + area[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= thr]
    return np.array(keep, dtype=np.int64)


IMPLS = {"pyconvnet": ops.nms, "numpy": numpy_nms}


@pytest.fixture(scope="module")
def case():
    return make_case()


@pytest.mark.parametrize("impl", ["pyconvnet", "numpy", "torchvision"])
def test_nms_2000(benchmark, case, impl):
    from conftest import record_work

    boxes, scores = case
    if impl == "torchvision":
        torch = pytest.importorskip("torch")
        tv_ops = pytest.importorskip("torchvision.ops")
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        fn = lambda: tv_ops.nms(tb, ts, THRESHOLD).numpy()  # noqa: E731
    else:
        fn = lambda: IMPLS[impl](boxes, scores, THRESHOLD)  # noqa: E731
    benchmark.group = f"nms {N} boxes"
    record_work(benchmark, N, unit="boxes/s", impl=impl)
    got = benchmark(fn)
    np.testing.assert_array_equal(got, numpy_nms(boxes, scores, THRESHOLD))


def main(rounds=7, pause=0.2):
    boxes, scores = make_case()
    kept = ops.nms(boxes, scores, THRESHOLD)
    np.testing.assert_array_equal(kept, numpy_nms(boxes, scores, THRESHOLD))
    best = {name: float("inf") for name in IMPLS}
    for _ in range(rounds):
        for name, fn in IMPLS.items():  # alternate the systems, round after round
            time.sleep(pause)
            t0 = time.perf_counter()
            fn(boxes, scores, THRESHOLD)
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"nms of {N} random boxes, threshold {THRESHOLD}, {kept.size} kept; best of {rounds}:")
    for name, t in best.items():
        print(f"  {name:<10} {t * 1e3:8.3f} ms")
    print(f"  pyconvnet speed-up over numpy: x{best['numpy'] / best['pyconvnet']:.1f}")


if __name__ == "__main__":
    main()
