"""The segmentation example: a U-Net graph model trained on make_scenes, scored by mean IoU."""

import numpy as np
import pytest
from conftest import load_example as _load
from gradcheck import numeric_grad
from test_visualize import read_png

from pyconvnet import datasets
from pyconvnet.losses import CrossEntropyLoss, DiceLoss
from pyconvnet.metrics import mean_iou


def load_example():
    return _load("segmentation")


def test_unet_keeps_the_resolution_and_joins_the_skips():
    ex = load_example()
    model = ex.build(width=4)
    x = np.random.default_rng(0).random((2, 3, ex.SIZE, ex.SIZE), dtype=np.float32)
    assert model.predict(x).shape == (2, ex.CLASSES, ex.SIZE, ex.SIZE)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Concat") == 3 and kinds.count("ConvTranspose2d") == 3 and kinds.count("MaxPool2d") == 3


def test_cross_entropy_dice_is_the_sum_of_the_two_losses():
    ex = load_example()
    rng = np.random.default_rng(1)
    pred = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    target = rng.integers(0, 4, size=(2, 5, 6))
    loss = ex.CrossEntropyDice(dice_weight=0.5)
    ce, dice = CrossEntropyLoss(), DiceLoss()
    value = loss.forward(pred, target)
    assert value == pytest.approx(ce.forward(pred, target) + 0.5 * dice.forward(pred, target), rel=1e-12)
    assert loss.value(pred, target) == pytest.approx(value, rel=1e-12)
    grad = loss.backward()
    np.testing.assert_allclose(grad, ce.backward() + 0.5 * dice.backward(), rtol=1e-6, atol=1e-9)
    # and it is the derivative of the value (central differences; the loss sums in float64)
    num = numeric_grad(lambda: loss.value(pred, target), pred, np.float64(1.0), h=1e-2)
    np.testing.assert_allclose(grad, num, rtol=2e-3, atol=2e-5)


def test_overlay_tints_only_object_pixels():
    ex = load_example()
    image = np.full((3, 4, 4), 0.2, np.float32)
    mask = np.zeros((4, 4), np.int64)
    mask[1, 2], mask[3, 0] = 1, 3
    rgb = ex.overlay(image, mask, alpha=0.5)
    assert rgb.shape == (4, 4, 3)
    np.testing.assert_allclose(rgb[1, 2], 0.5 * 0.2 + 0.5 * ex.COLOURS[1])
    np.testing.assert_allclose(rgb[3, 0], 0.5 * 0.2 + 0.5 * ex.COLOURS[3])
    untouched = mask == 0
    np.testing.assert_array_equal(rgb[untouched], np.float32(0.2))


def test_short_run_learns_the_masks_and_draws_them(tmp_path):
    ex = load_example()
    png = tmp_path / "seg.png"
    out = ex.main(["--train", "128", "--test", "32", "--epochs", "3", "--width", "8", "--batch-size", "8",
                   "--lr", "5e-3", "--png", str(png), "--show", "2", "--scale", "1", "--quiet"])
    # the held-out scenes of main (seed 0)
    x_t, masks_t, _, _ = datasets.make_scenes(32, size=ex.SIZE, seed=2)
    # All background scores (background fraction) / 4 classes, 0.23 here; a network whose
    # decoder or skips are cut off stays at or under that.
    baseline = mean_iou(np.zeros_like(masks_t), masks_t, ex.CLASSES)
    assert baseline < 0.25
    # measured: 0.36 (background 0.99, square 0.31, circle 0.15, triangle 0)
    assert out["mean_iou"] >= baseline + 0.08, out
    assert out["iou_per_class"]["background"] >= 0.95, out
    assert out["epochs"] == 3 and len(out["epoch_seconds"]) == 3
    picture = read_png(png)
    assert picture.shape == (2 * ex.SIZE + 2, 3 * ex.SIZE + 4, 3)
    # the first tile of each row is the input image itself
    for row in range(2):
        top = row * (ex.SIZE + 2)
        want = np.rint(x_t[row].transpose(1, 2, 0) * 255).astype(np.uint8)
        np.testing.assert_array_equal(picture[top:top + ex.SIZE, :ex.SIZE], want)


@pytest.mark.slow
def test_full_run_reaches_the_target(tmp_path):
    out = load_example().main(["--png", str(tmp_path / "seg.png"), "--quiet"])
    assert out["mean_iou"] >= 0.85, out
