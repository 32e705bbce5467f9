"""pyconvnet.metrics.mean_average_precision: hand-made cases (the arithmetic in the comments)
and properties."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet.metrics import mean_average_precision as mAP


def det(boxes, scores, labels):
    return {"boxes": np.array(boxes, np.float32).reshape(-1, 4), "scores": np.array(scores, np.float32),
            "labels": np.array(labels, np.int64)}


def gt(boxes, labels):
    return {"boxes": np.array(boxes, np.float32).reshape(-1, 4), "labels": np.array(labels, np.int64)}


A = [0, 0, 10, 10]
B = [20, 20, 30, 30]


def test_duplicate_is_a_false_positive():
    truth = [gt([A, B], [1, 1])]
    found = [det([A, A, B], [0.9, 0.8, 0.7], [1, 1, 1])]
    # by score: TP (A), FP (A again, already matched), TP (B); 2 ground-truth boxes
    # precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1; monotone envelope 1, 2/3, 2/3
    # AP = (1/2 - 0) * 1 + (1/2 - 1/2) * 2/3 + (1 - 1/2) * 2/3 = 1/2 + 1/3 = 5/6
    assert mAP(found, truth) == pytest.approx(5 / 6)


def test_scores_order_detections_across_images():
    truth = [gt([A], [3]), gt([B], [3])]
    found = [det([A], [0.6], [3]), det([[50, 50, 60, 60], B], [0.9, 0.3], [3, 3])]
    # by score: 0.9 (image 1, misses B) FP, 0.6 (image 0, A) TP, 0.3 (image 1, B) TP
    # precision 0, 1/2, 2/3 at recall 0, 1/2, 1; envelope 2/3, 2/3, 2/3
    # AP = 0 * 2/3 + 1/2 * 2/3 + 1/2 * 2/3 = 2/3
    assert mAP(found, truth) == pytest.approx(2 / 3)


def test_mean_over_classes_with_ground_truth():
    truth = [gt([A, B], [1, 2])]
    found = [det([A, [40, 40, 50, 50]], [0.9, 0.8], [1, 5])]
    # class 1: A found, AP 1; class 2: never detected, AP 0; class 5 has no ground truth and
    # is left out. mAP = (1 + 0) / 2
    assert mAP(found, truth) == pytest.approx(0.5)


def test_iou_threshold_is_inclusive():
    truth = [gt([[0, 0, 2, 2]], [1])]
    found = [det([[0, 0, 2, 1]], [1.0], [1])]  # inter 2, union 4: IoU exactly 1/2
    assert mAP(found, truth, iou_threshold=0.5) == 1.0
    assert mAP(found, truth, iou_threshold=0.6) == 0.0


def test_match_goes_to_the_best_unmatched_box():
    a, b = [0, 0, 10, 10], [0, 2, 10, 12]
    truth = [gt([a, b], [1, 1])]
    second = [0, 0.5, 10, 10.5]
    # the 0.9 detection takes a (IoU 1). The 0.8 one overlaps a most (95 / 105 = 0.90) but a is
    # taken; b is the best unmatched box: overlap 10 x 8.5 = 85, union 100 + 100 - 85 = 115,
    # IoU 0.74 >= 0.5, a true positive. Two TPs for two boxes: AP 1.
    assert mAP([det([a, second], [0.9, 0.8], [1, 1])], truth) == pytest.approx(1.0)
    # Among unmatched boxes the highest IoU wins: a detection equal to b matches b, leaving a
    # for the next one. Here: 0.9 on b (TP), 0.8 on a (TP): AP 1.
    assert mAP([det([b, a], [0.9, 0.8], [1, 1])], truth) == pytest.approx(1.0)


def test_labels_must_agree():
    truth = [gt([A], [1])]
    assert mAP([det([A], [0.9], [2])], truth) == 0.0  # right box, wrong class: class 1 has AP 0


def test_interpolation_uses_the_precision_envelope():
    boxes = [[i * 20, 0, i * 20 + 10, 10] for i in range(4)]
    truth = [gt(boxes, [1] * 4)]
    miss = [100, 100, 110, 110]
    found = [det([boxes[0], miss, boxes[1], boxes[2], miss, boxes[3]],
                 [0.9, 0.8, 0.7, 0.6, 0.5, 0.4], [1] * 6)]
    # TP FP TP TP FP TP; recall 1/4, 1/4, 2/4, 3/4, 3/4, 1
    # precision 1, 1/2, 2/3, 3/4, 3/5, 4/6; envelope 1, 3/4, 3/4, 3/4, 2/3, 2/3
    # AP = 1/4 * 1 + 1/4 * 3/4 + 1/4 * 3/4 + 1/4 * 2/3 = 1/4 + 3/16 + 3/16 + 1/6 = 19/24
    assert mAP(found, truth) == pytest.approx(19 / 24)


def _scene(rng, n_images=4):
    truth, perfect = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, 100, size=(k, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(5, 20, size=(k, 2))], axis=1)
        labels = rng.integers(0, 3, size=k)
        truth.append(gt(boxes, labels))
        perfect.append(det(boxes, rng.random(k), labels))
    if not any(len(t["labels"]) for t in truth):
        return _scene(rng, n_images)
    return truth, perfect


@pytest.mark.parametrize("seed", range(4))
def test_properties(seed):
    rng = np.random.default_rng(seed)
    truth, perfect = _scene(rng)
    assert mAP(perfect, truth) == 1.0
    # Low-scored false positives after every true positive change nothing.
    extra = [det(np.concatenate([p["boxes"], [[500, 500, 510, 510]]]), np.concatenate([p["scores"], [-1.0]]),
                 np.concatenate([p["labels"], [0]])) for p in perfect]
    assert mAP(extra, truth) == 1.0
    # A confident false positive of a class with ground truth lowers the score.
    cls = int(next(t["labels"][0] for t in truth if len(t["labels"])))
    worse = [dict(p) for p in perfect]
    worse[0] = det(np.concatenate([perfect[0]["boxes"], [[500, 500, 510, 510]]]),
                   np.concatenate([perfect[0]["scores"], [2.0]]), np.concatenate([perfect[0]["labels"], [cls]]))
    assert 0.0 < mAP(worse, truth) < 1.0
    # The order of images does not matter when scores are distinct.
    order = rng.permutation(len(truth))
    assert mAP([perfect[i] for i in order], [truth[i] for i in order]) == 1.0
    assert mAP([worse[i] for i in order], [truth[i] for i in order]) == pytest.approx(mAP(worse, truth))
    # Nothing detected: 0.
    none = [det(np.zeros((0, 4)), [], []) for _ in truth]
    assert mAP(none, truth) == 0.0


def test_argument_errors():
    truth = [gt([A], [1])]
    good = [det([A], [0.9], [1])]
    with pytest.raises(ValueError, match="detections has 1 images but ground_truth has 2"):
        mAP(good, truth * 2)
    with pytest.raises(ValueError, match=r"detections\[0\] has no 'scores'"):
        mAP([{"boxes": good[0]["boxes"], "labels": good[0]["labels"]}], truth)
    with pytest.raises(ValueError, match=r"ground_truth\[0\]\['boxes'\] must have shape"):
        mAP(good, [gt([A], [1]) | {"boxes": np.zeros((1, 3), np.float32)}])
    with pytest.raises(ValueError, match=r"detections\[0\]\['scores'\] must have shape"):
        mAP([good[0] | {"scores": np.zeros(2, np.float32)}], truth)
    with pytest.raises(ValueError, match=r"detections\[0\]\['scores'\] holds NaN"):
        mAP([good[0] | {"scores": np.array([np.nan], np.float32)}], truth)
    with pytest.raises(ValueError, match=r"x2 < x1"):
        mAP([good[0] | {"boxes": np.array([[5, 0, 1, 1]], np.float32)}], truth)
    with pytest.raises(ValueError, match=r"NaN or infinite"):
        mAP(good, [gt([[0, 0, np.inf, 1]], [1])])
    with pytest.raises(TypeError, match=r"ground_truth\[0\]\['labels'\]"):
        mAP(good, [gt([A], [1]) | {"labels": np.array([1.0])}])
    with pytest.raises(TypeError, match="detections must be a sequence"):
        mAP(good[0], truth)
    with pytest.raises(TypeError, match=r"detections\[0\] must be a mapping"):
        mAP([(A, 0.9, 1)], truth)
    with pytest.raises(ValueError, match="no boxes"):
        mAP([det(np.zeros((0, 4)), [], [])], [gt(np.zeros((0, 4)), [])])
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="iou_threshold"):
            mAP(good, truth, iou_threshold=bad)
    with pytest.raises(TypeError, match="iou_threshold"):
        mAP(good, truth, iou_threshold="0.5")
