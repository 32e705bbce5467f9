"""pyconvnet.metrics (classification): scikit-learn's formulas, worked by hand and by loops."""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet.metrics import accuracy, confusion_matrix, precision_recall_f1, top_k_accuracy

# scikit-learn's documentation example for precision_recall_fscore_support:
# y_true = [cat, dog, pig, cat, dog, pig], y_pred = [cat, pig, dog, cat, cat, dog]
T = [0, 1, 2, 0, 1, 2]
P = [0, 2, 1, 0, 0, 1]


def test_worked_example():
    cm = confusion_matrix(T, P)
    assert cm.dtype == np.int64 and cm.tolist() == [[2, 0, 0], [1, 0, 1], [0, 2, 0]]
    p, r, f = precision_recall_f1(T, P)
    # cat: tp 2, predicted 3, true 2 -> P 2/3, R 1, F1 2*2/(3+2) = 0.8; dog and pig: tp 0
    np.testing.assert_allclose(p, [2 / 3, 0, 0])
    np.testing.assert_allclose(r, [1, 0, 0])
    np.testing.assert_allclose(f, [0.8, 0, 0])
    assert precision_recall_f1(T, P, average="macro") == pytest.approx((0.2222222222, 0.3333333333, 0.2666666667))
    assert precision_recall_f1(T, P, average="micro") == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert precision_recall_f1(T, P, average="weighted") == pytest.approx((0.2222222222, 0.3333333333, 0.2666666667))
    assert accuracy(T, P) == pytest.approx(1 / 3)


def test_weighted_and_macro_with_unequal_supports():
    t = [0, 0, 0, 1, 2, 2]
    p = [0, 0, 1, 1, 2, 0]
    # class 0: tp 2, predicted 3, true 3; class 1: tp 1, predicted 2, true 1; class 2: tp 1, pred 1, true 2
    prec = np.array([2 / 3, 1 / 2, 1])
    rec = np.array([2 / 3, 1, 1 / 2])
    f1 = np.array([4 / 6, 2 / 3, 2 / 3])
    got = precision_recall_f1(t, p)
    for g, w in zip(got, (prec, rec, f1)):
        np.testing.assert_allclose(g, w)
    sup = np.array([3, 1, 2])
    assert precision_recall_f1(t, p, average="weighted") == pytest.approx(
        tuple((v * sup).sum() / 6 for v in (prec, rec, f1)))
    assert precision_recall_f1(t, p, average="macro") == pytest.approx(tuple(v.mean() for v in (prec, rec, f1)))


def test_absent_classes_and_zero_division():
    t = [0, 0, 3]
    p = [0, 3, 3]
    prec, rec, f1 = precision_recall_f1(t, p, num_classes=5)
    assert prec.shape == (5,)
    # classes 1, 2, 4 never occur: their ratios are zero_division, and macro skips them
    np.testing.assert_allclose(prec, [1, 0, 0, 0.5, 0])
    np.testing.assert_allclose(rec, [0.5, 0, 0, 1, 0])
    assert precision_recall_f1(t, p, num_classes=5, average="macro") == pytest.approx((0.75, 0.75, 2 / 3))
    prec1, _, _ = precision_recall_f1([0, 1], [0, 0], zero_division=1.0)
    np.testing.assert_allclose(prec1, [0.5, 1.0])  # class 1 is never predicted
    assert confusion_matrix(t, p, num_classes=5).shape == (5, 5)


def _loop_confusion(t, p, c):
    m = np.zeros((c, c), np.int64)
    for a, b in zip(t, p):
        m[a, b] += 1
    return m


def _loop_prf(t, p, c):
    out = []
    for k in range(c):
        tp = sum(1 for a, b in zip(t, p) if a == k and b == k)
        fp = sum(1 for a, b in zip(t, p) if a != k and b == k)
        fn = sum(1 for a, b in zip(t, p) if a == k and b != k)
        pr = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * pr * rc / (pr + rc) if pr + rc else 0.0
        out.append((pr, rc, f))
    return np.array(out).T


@pytest.mark.parametrize("seed", range(5))
def test_random_labels_against_loops(seed):
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 7))
    t = rng.integers(0, c, 60)
    scores = rng.normal(size=(60, c))
    p = scores.argmax(axis=1)
    assert np.array_equal(confusion_matrix(t, scores), _loop_confusion(t, p, c))
    got = precision_recall_f1(t, scores, num_classes=c)
    np.testing.assert_allclose(np.array(got), _loop_prf(t, p, c), atol=1e-12)
    assert accuracy(t, scores) == pytest.approx(np.mean(t == p))
    assert precision_recall_f1(t, p, average="micro")[0] == pytest.approx(np.mean(t == p))


def _loop_top_k(t, s, k):
    hits = 0
    for row, label in zip(s, t):
        order = sorted(range(len(row)), key=lambda j: (-row[j], j))  # ties: lower index first
        hits += label in order[:k]
    return hits / len(t)


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_top_k_against_a_loop(k):
    rng = np.random.default_rng(k)
    s = rng.integers(0, 4, size=(50, 5)).astype(np.float32)  # many ties
    t = rng.integers(0, 5, 50)
    assert top_k_accuracy(t, s, k=k) == pytest.approx(_loop_top_k(t, s, k))
    if k == 1:
        assert top_k_accuracy(t, s, k=1) == accuracy(t, s)
    if k >= 5:
        assert top_k_accuracy(t, s, k=k) == 1.0


def test_worked_top_k():
    s = np.array([[0.5, 0.2, 0.2], [0.3, 0.4, 0.2], [0.2, 0.4, 0.3], [0.7, 0.2, 0.1]])
    assert top_k_accuracy([0, 1, 2, 2], s, k=2) == 0.75  # scikit-learn's top_k_accuracy_score example


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="same number of samples"):
        accuracy([0, 1], [0])
    with pytest.raises(TypeError, match="y_true must hold integer"):
        accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="y_true holds the negative"):
        confusion_matrix([-1, 0], [0, 0])
    with pytest.raises(ValueError, match="num_classes=2"):
        confusion_matrix([0, 2], [0, 0], num_classes=2)
    with pytest.raises(ValueError, match="average"):
        precision_recall_f1([0], [0], average="samples")
    with pytest.raises(ValueError, match="k must be >= 1"):
        top_k_accuracy([0], [[1.0]], k=0)
    with pytest.raises(ValueError, match="columns of y_score"):
        top_k_accuracy([3], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="y_score must be 2-D"):
        top_k_accuracy([0], [1.0])
