"""pyconvnet.ops: box_iou, nms, batched_nms against a brute-force float64 oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyconvnet import ops

from conftest import same_for_thread_counts, supported_isas, use_isa


# --- float64 oracle: plain Python loops, sharing nothing with the C++ kernels ----------------

def iou_pair(p, q):
    """IoU of two (x1, y1, x2, y2) boxes in float64; 0 when the union is empty."""
    px1, py1, px2, py2 = (float(v) for v in p)
    qx1, qy1, qx2, qy2 = (float(v) for v in q)
    w = min(px2, qx2) - max(px1, qx1)
    h = min(py2, qy2) - max(py1, qy1)
    inter = w * h if w > 0 and h > 0 else 0.0
    union = (px2 - px1) * (py2 - py1) + (qx2 - qx1) * (qy2 - qy1) - inter
    return inter / union if union > 0 else 0.0


def iou_matrix(a, b):
    return np.array([[iou_pair(p, q) for q in b] for p in a], dtype=np.float64).reshape(len(a), len(b))


def nms_oracle(boxes, scores, thr, classes=None):
    """Greedy NMS stated directly: visit by (score descending, index ascending); keep a box
    when no kept box of its class overlaps it with IoU > thr."""
    n = len(boxes)
    classes = np.zeros(n, np.int64) if classes is None else classes
    order = sorted(range(n), key=lambda i: (-float(scores[i]), i))
    kept = []
    for i in order:
        if all(classes[k] != classes[i] or iou_pair(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return np.array(kept, dtype=np.int64)


def random_boxes(rng, n, extent=100.0, integer=False):
    xy = rng.uniform(0, extent, size=(n, 2))
    wh = rng.uniform(0, extent / 3, size=(n, 2))
    if integer:
        xy, wh = np.floor(xy), np.floor(wh)
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


# --- box_iou ---------------------------------------------------------------------------------

def test_box_iou_hand_made():
    a = np.array([[0, 0, 2, 2]], np.float32)
    b = np.array([[1, 1, 3, 3],      # inter 1, union 4 + 4 - 1 = 7
                  [0, 0, 2, 2],      # identical: 1
                  [2, 0, 4, 2],      # touching edge: inter 0
                  [0, 0, 1, 2],      # inside: inter 2, union 4
                  [1, 1, 1, 1]],     # zero area: 0
                 np.float32)
    got = ops.box_iou(a, b)
    assert got.dtype == np.float32 and got.shape == (1, 5)
    np.testing.assert_array_equal(got, np.array([[1 / 7, 1.0, 0.0, 0.5, 0.0]], np.float32))


@pytest.mark.parametrize("n, m", [(0, 0), (0, 3), (3, 0), (1, 1), (7, 13), (40, 5)])
def test_box_iou_matches_oracle(n, m):
    rng = np.random.default_rng(n * 100 + m)
    a, b = random_boxes(rng, n), random_boxes(rng, m)
    got = ops.box_iou(a, b)
    assert got.shape == (n, m) and got.dtype == np.float32
    np.testing.assert_allclose(got, iou_matrix(a, b), rtol=1e-6, atol=1e-7)


def test_box_iou_degenerate_boxes_are_zero():
    z = np.array([[5, 5, 5, 5], [1, 2, 1, 9], [0, 0, 4, 0]], np.float32)  # point, vertical, horizontal
    got = ops.box_iou(z, z)
    np.testing.assert_array_equal(got, np.zeros((3, 3), np.float32))
    assert not np.isnan(got).any()


def test_box_iou_same_bits_for_any_thread_count():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, 300), random_boxes(rng, 200)
    same_for_thread_counts(lambda: ops.box_iou(a, b))


def test_box_iou_accepts_float64_and_lists():
    a = [[0.0, 0.0, 2.0, 2.0]]
    got = ops.box_iou(np.array(a, np.float64), a)
    np.testing.assert_array_equal(got, [[1.0]])


# --- nms -------------------------------------------------------------------------------------

def test_nms_hand_made():
    boxes = np.array([[0, 0, 10, 10],    # 0
                      [1, 1, 11, 11],    # 1: IoU with 0 = 81 / 119 = 0.68
                      [20, 20, 30, 30],  # 2: far away
                      [0, 0, 10, 9]],    # 3: IoU with 0 = 90 / 100 = 0.9
                     np.float32)
    scores = np.array([0.9, 0.95, 0.5, 0.8], np.float32)
    # Order 1, 0, 3, 2. 1 kept; 0 suppressed by 1 (0.68 > 0.5); 3 vs 1: inter 9*8 = 72,
    # union 100 + 90 - 72 = 118, IoU 0.61 > 0.5, suppressed; 2 kept.
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [1, 2])
    # Threshold 0.65: 0 suppressed (0.68), 3 kept (0.61 <= 0.65; 0 is not kept so it cannot suppress 3).
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.65), [1, 3, 2])
    # Threshold 0.95: nothing is suppressed; all kept by decreasing score.
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.95), [1, 0, 3, 2])


def test_nms_iou_equal_to_threshold_is_kept():
    # IoU exactly 0.5 (inter 2, union 4): suppression needs IoU > threshold.
    boxes = np.array([[0, 0, 2, 2], [0, 0, 2, 1]], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, np.array([1.0, 0.5], np.float32), 0.5), [0, 1])
    np.testing.assert_array_equal(ops.nms(boxes, np.array([1.0, 0.5], np.float32), 0.49), [0])


def test_nms_equal_scores_lower_index_first():
    # Identical boxes with identical scores: the lowest index survives, whatever the order.
    boxes = np.tile(np.array([[3, 3, 8, 8]], np.float32), (5, 1))
    np.testing.assert_array_equal(ops.nms(boxes, np.full(5, 0.7, np.float32), 0.5), [0])
    scores = np.array([0.2, 0.9, 0.9, 0.2, 0.9], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [1])
    # Disjoint boxes with equal scores come out in index order.
    far = np.array([[i * 10, 0, i * 10 + 5, 5] for i in range(6)], np.float32)
    np.testing.assert_array_equal(ops.nms(far, np.ones(6, np.float32), 0.5), np.arange(6))


def test_nms_empty_input():
    for fn, extra in ((ops.nms, ()), (ops.batched_nms, (np.zeros(0, np.int64),))):
        got = fn(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), *extra, 0.5)
        assert got.dtype == np.int64 and got.shape == (0,)


def test_nms_degenerate_boxes_never_suppress():
    boxes = np.array([[1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 4, 0]], np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, np.array([3, 2, 1], np.float32), 0.0), [0, 1, 2])


def test_nms_threshold_zero_suppresses_any_overlap():
    boxes = np.array([[0, 0, 10, 10], [9, 9, 20, 20], [10, 0, 20, 9]], np.float32)
    # 1 overlaps 0 by one unit square (IoU > 0): suppressed; 2 only touches 0: kept.
    np.testing.assert_array_equal(ops.nms(boxes, np.array([3, 2, 1], np.float32), 0.0), [0, 2])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_matches_oracle_seeded(seed, thr, isa):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 120))
    boxes = random_boxes(rng, n, integer=seed % 2 == 0)  # integer grids make exact ties
    scores = rng.integers(0, 10, size=n).astype(np.float32) if seed % 3 == 0 else rng.random(n, np.float32)
    np.testing.assert_array_equal(ops.nms(boxes, scores, thr), nms_oracle(boxes, scores, thr))


@pytest.mark.parametrize("n", [*range(1, 18), 31, 32, 33])
def test_nms_vector_tails(n, isa):
    # Every box overlaps box 0 by a different amount, so each SIMD lane and the tail decide:
    # box k spans [k/2, k/2 + 10] x [0, 10]; IoU with box 0 is (10 - k/2) / (10 + k/2).
    boxes = np.array([[k * 0.5, 0, k * 0.5 + 10, 10] for k in range(n)], np.float32)
    scores = np.linspace(1, 0, n, dtype=np.float32)
    for thr in (0.2, 0.5, 0.8):
        np.testing.assert_array_equal(ops.nms(boxes, scores, thr), nms_oracle(boxes, scores, thr))


_coord = st.integers(0, 20)


@st.composite
def box_sets(draw):
    n = draw(st.integers(0, 25))
    x1 = draw(st.lists(_coord, min_size=n, max_size=n))
    y1 = draw(st.lists(_coord, min_size=n, max_size=n))
    w = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    h = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    boxes = np.array([[a, b, a + c, b + d] for a, b, c, d in zip(x1, y1, w, h)], np.float32).reshape(n, 4)
    scores = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), np.float32) / 4
    classes = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int64)
    thr = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))
    return boxes, scores, classes, thr


@settings(max_examples=150)
@given(box_sets())
def test_nms_hypothesis(case):
    boxes, scores, classes, thr = case
    want = nms_oracle(boxes, scores, thr)
    want_batched = nms_oracle(boxes, scores, thr, classes)
    for tier in supported_isas():
        with use_isa(tier):
            np.testing.assert_array_equal(ops.nms(boxes, scores, thr), want, err_msg=tier)
            np.testing.assert_array_equal(ops.batched_nms(boxes, scores, classes, thr), want_batched,
                                          err_msg=tier)
    np.testing.assert_allclose(ops.box_iou(boxes, boxes), iou_matrix(boxes, boxes), rtol=1e-6, atol=0)


# --- batched_nms -----------------------------------------------------------------------------

def test_batched_nms_no_suppression_across_classes():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.5, 0.9, 0.7, 0.6], np.float32)
    classes = np.array([1, 1, 7, 1])
    # Class 1: 1 (0.9) suppresses 0 (identical box); 3 kept. Class 7: 2 kept. Merged by score.
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, classes, 0.5), [1, 2, 3])
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), [1, 3])


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_matches_oracle_and_threads(seed):
    rng = np.random.default_rng(100 + seed)
    n = 400
    boxes = random_boxes(rng, n)
    scores = rng.random(n, np.float32)
    scores[rng.integers(0, n, 40)] = 0.5  # some ties
    classes = rng.integers(-3, 5, size=n)  # any integer labels, negative included
    got = same_for_thread_counts(lambda: ops.batched_nms(boxes, scores, classes, 0.4))
    np.testing.assert_array_equal(got, nms_oracle(boxes, scores, 0.4, classes))


def test_batched_nms_equals_per_class_nms():
    rng = np.random.default_rng(7)
    boxes, scores = random_boxes(rng, 200), rng.random(200, np.float32)
    classes = rng.integers(0, 3, 200)
    got = ops.batched_nms(boxes, scores, classes, 0.3)
    parts = []
    for c in range(3):
        idx = np.flatnonzero(classes == c)
        parts.append(idx[ops.nms(boxes[idx], scores[idx], 0.3)])
    merged = np.concatenate(parts)
    merged = merged[np.lexsort((merged, -scores[merged]))]
    np.testing.assert_array_equal(got, merged)


# --- validation ------------------------------------------------------------------------------

def _ok():
    return np.array([[0, 0, 1, 1], [0, 0, 2, 2]], np.float32), np.array([0.5, 0.4], np.float32)


@pytest.mark.parametrize("call, exc, word", [
    (lambda b, s: ops.nms(b[:, :3], s, 0.5), ValueError, "boxes"),
    (lambda b, s: ops.nms(b[0], s, 0.5), ValueError, "boxes"),
    (lambda b, s: ops.nms(b, s[:1], 0.5), ValueError, "scores"),
    (lambda b, s: ops.nms(b, s[:, None], 0.5), ValueError, "scores"),
    (lambda b, s: ops.nms(b.astype(np.int64), s, 0.5), TypeError, "boxes"),
    (lambda b, s: ops.nms(b, s, float("nan")), ValueError, "iou_threshold"),
    (lambda b, s: ops.nms(b, s, "0.5"), TypeError, "iou_threshold"),
    (lambda b, s: ops.nms(b, s, None), TypeError, "iou_threshold"),
    (lambda b, s: ops.box_iou(b, b[:, :2]), ValueError, "b"),
    (lambda b, s: ops.box_iou(b[:, :2], b), ValueError, "a"),
    (lambda b, s: ops.batched_nms(b, s, np.array([0.0, 1.0]), 0.5), TypeError, "classes"),
    (lambda b, s: ops.batched_nms(b, s, np.array([0, 1, 2]), 0.5), ValueError, "classes"),
])
def test_bad_arguments_name_the_argument(call, exc, word):
    b, s = _ok()
    with pytest.raises(exc, match=rf"\b{word}\b"):
        call(b, s)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_boxes_raise(bad):
    b, s = _ok()
    b[1, 2] = bad
    with pytest.raises(ValueError, match=r"boxes\[1\].*non-finite"):
        ops.nms(b, s, 0.5)
    with pytest.raises(ValueError, match=r"a\[1\]"):
        ops.box_iou(b, b[:1])


def test_nan_scores_raise():
    b, s = _ok()
    s[1] = np.nan
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        ops.nms(b, s, 0.5)
    with pytest.raises(ValueError, match=r"scores\[1\] is NaN"):
        ops.batched_nms(b, s, np.array([0, 0]), 0.5)


def test_infinite_scores_are_ordered():
    b = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
    np.testing.assert_array_equal(ops.nms(b, np.array([0.0, np.inf, -np.inf], np.float32), 0.5), [1, 0, 2])


def test_inverted_boxes_raise():
    b, s = _ok()
    b[0] = [2, 0, 1, 1]  # x2 < x1
    with pytest.raises(ValueError, match=r"boxes\[0\].*x1 <= x2"):
        ops.nms(b, s, 0.5)


def test_kernels_are_safe_when_called_directly():
    from pyconvnet import _C

    b, s = _ok()
    with pytest.raises(TypeError, match="boxes"):
        _C.nms(b.astype(np.float64), s, 0.5)
    with pytest.raises(TypeError, match="classes"):
        _C.batched_nms(b, s, np.array([0, 1], np.int32), 0.5)
    with pytest.raises(ValueError, match="scores"):
        _C.nms(b, s[:1], 0.5)


# --- torchvision conformance (when installed) --------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_matches_torchvision(seed):
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    rng = np.random.default_rng(seed)
    boxes, scores = random_boxes(rng, 300), rng.random(300, np.float32)
    classes = rng.integers(0, 4, 300)
    tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
    np.testing.assert_allclose(ops.box_iou(boxes, boxes), tv_ops.box_iou(tb, tb).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ops.nms(boxes, scores, 0.5), tv_ops.nms(tb, ts, 0.5).numpy())
    np.testing.assert_array_equal(ops.batched_nms(boxes, scores, classes, 0.5),
                                  tv_ops.batched_nms(tb, ts, torch.from_numpy(classes), 0.5).numpy())


def test_calls_from_many_threads_agree_with_sequential_calls():
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(21)
    cases = [(random_boxes(rng, 300), rng.random(300, np.float32), rng.integers(0, 3, 300)) for _ in range(8)]
    want = [ops.batched_nms(b, s, c, 0.5) for b, s, c in cases]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda case: ops.batched_nms(*case, 0.5), cases))
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
