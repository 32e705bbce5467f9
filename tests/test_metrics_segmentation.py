"""pyconvnet.metrics.mean_iou: hand-made cases worked out in the comments, a brute-force
oracle on random maps, and properties."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet.metrics import mean_iou


def test_hand_made():
    pred = np.array([[0, 0, 1, 1]])
    target = np.array([[0, 1, 1, 1]])
    # class 0: both at pixel 0 -> inter 1; pred {0, 1} or target {0} -> union 2: IoU 1/2
    # class 1: both at pixels 2, 3 -> inter 2; union {1, 2, 3} = 3: IoU 2/3
    # mean (1/2 + 2/3) / 2 = 7/12
    assert mean_iou(pred, target, 2) == pytest.approx(7 / 12)


def test_classes_absent_from_both_are_excluded():
    pred = np.array([[0, 0, 1, 1]])
    target = np.array([[0, 1, 1, 1]])
    # classes 2 and 3 occur nowhere: still 7/12
    assert mean_iou(pred, target, 4) == pytest.approx(7 / 12)
    # a class only predicted (never true) counts with IoU 0: pixel 3 predicted as 2.
    # class 0: 1/2; class 1: inter {2} = 1, union {1, 2, 3} = 3 -> 1/3; class 2: 0/1 -> 0
    pred2 = np.array([[0, 0, 1, 2]])
    assert mean_iou(pred2, target, 4) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)


def test_pixels_are_pooled_over_the_batch():
    # image 0: class 1 fully right (2 pixels); image 1: class 1 predicted on 2 pixels, true on 0.
    pred = np.array([[[1, 1]], [[1, 1]]])
    target = np.array([[[1, 1]], [[0, 0]]])
    # class 1 over the batch: inter 2, union 4 -> 1/2 (not the mean of per-image 1 and 0/2);
    # class 0: inter 0, union 2 -> 0. Mean 1/4.
    assert mean_iou(pred, target, 2) == pytest.approx(0.25)


def _oracle(pred, target, classes):
    ious = []
    for c in range(classes):
        p, t = pred == c, target == c
        union = np.logical_or(p, t).sum()
        if union:
            ious.append(np.logical_and(p, t).sum() / union)
    return np.mean(ious)


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(1, 7))
    target = rng.integers(0, c, size=(3, 8, 9))
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.integers(0, c, size=target.shape))
    assert mean_iou(pred, target, c) == pytest.approx(_oracle(pred, target, c), rel=1e-12)


def test_properties():
    rng = np.random.default_rng(9)
    t = rng.integers(0, 4, size=(2, 16, 16))
    assert mean_iou(t, t, 4) == 1.0
    assert mean_iou(t, t, 10) == 1.0
    assert mean_iou((t + 1) % 4, t, 4) == 0.0
    p = rng.integers(0, 4, size=t.shape)
    assert mean_iou(p, t, 4) == pytest.approx(mean_iou(t, p, 4))  # symmetric
    assert 0.0 <= mean_iou(p, t, 4) <= 1.0


def test_argument_errors():
    t = np.zeros((2, 3, 3), np.int64)
    with pytest.raises(ValueError, match="pred must have the shape"):
        mean_iou(t[0], t, 2)
    with pytest.raises(ValueError, match=r"pred holds class index 2.*\[0, 2\)"):
        mean_iou(t + 2, t, 2)
    with pytest.raises(ValueError, match=r"target holds class index -1"):
        mean_iou(t, t - 1, 2)
    with pytest.raises(TypeError, match="pred"):
        mean_iou(t.astype(np.float32), t, 2)
    with pytest.raises(ValueError, match="classes"):
        mean_iou(t, t, 0)
    with pytest.raises(TypeError, match="classes"):
        mean_iou(t, t, 2.0)
    with pytest.raises(ValueError, match="empty"):
        mean_iou(t[:0], t[:0], 2)
