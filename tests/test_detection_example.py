"""The detection example: a grid detector with three heads, NMS and mAP on make_scenes."""

import numpy as np
import pytest
from conftest import load_example as _load
from gradcheck import numeric_grad
from test_visualize import read_png

from pyconvnet import datasets
from pyconvnet.losses import SmoothL1Loss
from pyconvnet.metrics import mean_average_precision


def load_example():
    return _load("detection")


def truth(boxes, labels):
    return [{"boxes": b, "labels": lab} for b, lab in zip(boxes, labels)]


def perfect_outputs(ex, targets):
    """The logits and offsets a perfect model would give for `targets` (from encode)."""
    obj = targets["objectness"].astype(np.float32)
    cls = targets["classes"]
    obj_logits = np.stack([np.zeros_like(obj), 20.0 * obj - 10.0], axis=1)
    cls_logits = np.stack([20.0 * (cls == k) for k in range(ex.NUM_CLASSES)], axis=1).astype(np.float32)
    return [obj_logits, targets["box"][:, 1:], cls_logits]


def test_encode_then_decode_gives_back_every_box():
    ex = load_example()
    _, _, boxes, labels = datasets.make_scenes(30, size=ex.SIZE, seed=7)
    targets = ex.encode(boxes, labels, 30)
    # one responsible cell per object, holding its class; every other cell ignored for classes
    assert targets["objectness"].sum() == sum(len(b) for b in boxes)
    assert np.array_equal(targets["objectness"] == 1, targets["classes"] != ex.IGNORE)
    assert np.array_equal(targets["objectness"] == 1, targets["box"][:, 0] == 1)
    detections = ex.decode(perfect_outputs(ex, targets), score_threshold=0.5)
    for det, b, lab in zip(detections, boxes, labels):
        order = np.lexsort((det["boxes"][:, 1], det["boxes"][:, 0]))
        want = np.lexsort((b[:, 1], b[:, 0]))
        np.testing.assert_allclose(det["boxes"][order], b[want], atol=1e-4)
        np.testing.assert_array_equal(det["labels"][order], lab[want])
    assert mean_average_precision(detections, truth(boxes, labels)) == 1.0


def test_decode_suppresses_duplicates_of_one_class_only():
    ex = load_example()
    g = ex.GRID
    obj = np.zeros((1, 2, g, g), np.float32)
    obj[:, 1] = -10.0                                   # P(object) 5e-5 in the other cells
    box = np.zeros((1, 4, g, g), np.float32)
    cls = np.zeros((1, ex.NUM_CLASSES, g, g), np.float32)
    # cells (2, 2) and (2, 3) both predict almost the same 16 x 16 box; (2, 3) is more certain
    for col, certainty in ((2, 3.0), (3, 5.0)):
        obj[0, :, 2, col] = (0.0, certainty)
        box[0, :, 2, col] = (1.0 - (col - 2) * 0.9, 0.5, 2.0, 2.0)
        cls[0, 0, 2, col] = 10.0
    det = ex.decode([obj, box, cls], score_threshold=0.3)[0]
    # one box survives per class over the threshold: the surer cell's square
    assert det["labels"].tolist() == [1]
    np.testing.assert_allclose(det["boxes"][0], [(3 + 0.1) * 8 - 8, 12, (3 + 0.1) * 8 + 8, 28], atol=1e-5)


def test_object_cells_loss_is_smooth_l1_over_the_object_cells():
    ex = load_example()
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    target = rng.standard_normal((2, 5, 3, 3)).astype(np.float32)
    target[:, 0] = 0
    target[0, 0, 1, 2] = target[1, 0, 0, 0] = target[1, 0, 2, 1] = 1
    loss = ex.ObjectCells(SmoothL1Loss())
    cells = [(0, 1, 2), (1, 0, 0), (1, 2, 1)]
    p = np.array([pred[n, :, i, j] for n, i, j in cells], np.float64)
    t = np.array([target[n, 1:, i, j] for n, i, j in cells], np.float64)
    d = np.abs(p - t)
    want = np.mean(np.where(d < 1, 0.5 * d * d, d - 0.5))    # 12 values, not 72
    assert loss.forward(pred, target) == pytest.approx(want, rel=1e-6)
    grad = loss.backward()
    mask = np.zeros((2, 3, 3), bool)
    for n, i, j in cells:
        mask[n, i, j] = True
    assert np.all(grad.transpose(0, 2, 3, 1)[~mask] == 0)
    num = numeric_grad(lambda: loss.value(pred, target), pred, np.float64(1.0), h=1e-3)
    np.testing.assert_allclose(grad, num, rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="target must have shape"):
        loss.forward(pred, target[:, :4])
    target[:, 0] = 0
    with pytest.raises(ValueError, match="no cell"):
        loss.forward(pred, target)


def test_rectangle_draws_the_outline():
    ex = load_example()
    rgb = np.zeros((8, 8, 3), np.float32)
    ex.rectangle(rgb, np.array([2, 1, 6, 5]), 1.0)      # columns 2..5, rows 1..4
    drawn = rgb[:, :, 0] == 1
    want = np.zeros((8, 8), bool)
    want[1, 2:6] = want[4, 2:6] = want[1:5, 2] = want[1:5, 5] = True
    np.testing.assert_array_equal(drawn, want)


def test_short_run_finds_objects_and_draws_them(tmp_path):
    ex = load_example()
    png = tmp_path / "det.png"
    out = ex.main(["--train", "240", "--test", "40", "--epochs", "3", "--width", "8", "--batch-size", "8",
                   "--png", str(png), "--show", "2", "--scale", "1", "--quiet"])
    # an untrained model's detections score close to 0 (0.02 after 39 steps of batch 16);
    # measured on this run (90 steps): mAP@0.5 0.66
    assert out["map50"] >= 0.3, out
    assert out["epochs"] == 3
    picture = read_png(png)
    assert picture.shape == (ex.SIZE, 2 * ex.SIZE + 4, 3)
    # the scene itself, with outlines over some of its pixels (white where a true box is)
    x_t, _, boxes_t, _ = datasets.make_scenes(40, size=ex.SIZE, seed=2)
    scene = np.rint(x_t[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    same = np.all(picture[:, :ex.SIZE] == scene, axis=2)
    assert 0.6 < same.mean() < 1.0
    outline = np.zeros((ex.SIZE, ex.SIZE, 3), np.float32)
    ex.rectangle(outline, boxes_t[0][0], 1.0)
    on_outline = outline[:, :, 0] == 1
    # detections drawn later may cover a few of its pixels
    assert np.mean(np.all(picture[:, :ex.SIZE][on_outline] == 255, axis=1)) > 0.5


@pytest.mark.slow
def test_full_run_reaches_the_target(tmp_path):
    out = load_example().main(["--png", str(tmp_path / "det.png"), "--quiet"])
    assert out["map50"] >= 0.80, out
