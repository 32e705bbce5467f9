"""Semantic segmentation: a small U-Net labels every pixel of ``make_scenes`` images.

The network is a graph model (``pyconvnet.Model``): an encoder of Conv-BN-ReLU blocks with
``MaxPool2d`` (64 -> 32 -> 16 -> 8 pixels), a decoder that doubles the resolution with
``ConvTranspose2d`` (2x2, stride 2) and joins the encoder's feature map of the same size with
``Concat`` (the U-Net skips: the decoder gets back the detail pooling threw away), and a 1x1
convolution giving 4 logits per pixel (background, square, circle, triangle). It is trained
with per-pixel ``CrossEntropyLoss`` plus ``DiceLoss`` (the Dice term weighs each class equally,
whatever its pixel count). The score is ``pyconvnet.metrics.mean_iou`` over all four classes,
background included, on held-out scenes.

Run: ``python examples/segmentation.py`` (``--help`` for a shorter run); it writes
``segmentation.png``: per scene, the input, the true mask and the predicted mask over it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import pyconvnet
from pyconvnet import datasets, init
from pyconvnet.layers import BatchNorm2d, Concat, Conv2d, ConvTranspose2d, MaxPool2d, ReLU
from pyconvnet.losses import CrossEntropyLoss, DiceLoss, Loss
from pyconvnet.metrics import mean_iou
from pyconvnet.model import Callback, LearningRateScheduler
from pyconvnet.optim import Adam
from pyconvnet.optim.lr_scheduler import CosineAnnealingLR
from pyconvnet.visualize import save_png

SIZE = 64
SCALE = 3                      # picture pixels per image pixel
CLASSES = len(datasets.SCENE_CLASSES)  # background + 3 shapes
# mask colours (RGB in [0, 1]) by class; the background is left as it is
COLOURS = np.array([[0, 0, 0], [1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.3, 0.5, 1.0]], np.float32)


def conv_block(node, cin, cout):
    """Conv 3x3 (same size) - BatchNorm - ReLU."""
    return ReLU()(BatchNorm2d(cout)(Conv2d(cin, cout, 3, padding=1, bias=False)(node)))


def build(width: int = 16, size: int = SIZE) -> pyconvnet.Model:
    """A three-level U-Net; `width` channels at full resolution, doubled at each level down."""
    w1, w2, w3 = width, 2 * width, 4 * width
    x = pyconvnet.Input((3, size, size))
    e1 = conv_block(x, 3, w1)                                   # w1 x 64 x 64
    e2 = conv_block(MaxPool2d(2)(e1), w1, w2)                   # w2 x 32 x 32
    e3 = conv_block(MaxPool2d(2)(e2), w2, w3)                   # w3 x 16 x 16
    b = conv_block(MaxPool2d(2)(e3), w3, w3)                    # w3 x 8 x 8: sees whole objects
    b = conv_block(b, w3, w3)
    d3 = ConvTranspose2d(w3, w3, 2, stride=2)(b)                # back to 16 x 16
    d3 = conv_block(Concat()([d3, e3]), 2 * w3, w2)
    d2 = ConvTranspose2d(w2, w2, 2, stride=2)(d3)               # 32 x 32
    d2 = conv_block(Concat()([d2, e2]), 2 * w2, w1)
    d1 = ConvTranspose2d(w1, w1, 2, stride=2)(d2)               # 64 x 64
    d1 = conv_block(Concat()([d1, e1]), 2 * w1, w1)
    logits = Conv2d(w1, CLASSES, 1, name="logits")(d1)          # CLASSES x 64 x 64
    return pyconvnet.Model(x, logits)


class CrossEntropyDice(Loss):
    """Per-pixel cross-entropy plus `dice_weight` x soft Dice: the sum of two pyconvnet losses
    on the same logits, so its gradient is the sum of theirs."""

    def __init__(self, dice_weight: float = 1.0):
        super().__init__()
        self.ce, self.dice, self.dice_weight = CrossEntropyLoss(), DiceLoss(), float(dice_weight)

    def value(self, pred, target) -> float:
        return self.ce.value(pred, target) + self.dice_weight * self.dice.value(pred, target)

    def forward(self, pred, target) -> float:
        self._cache = ()
        return self.ce.forward(pred, target) + self.dice_weight * self.dice.forward(pred, target)

    def _grad(self):
        return self.ce.backward() + np.float32(self.dice_weight) * self.dice.backward()

    def get_config(self) -> dict:
        return {"dice_weight": self.dice_weight}


class EpochClock(Callback):
    """Records each epoch's wall time."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.7) -> np.ndarray:
    """(H, W, 3) float image: `image` (3, H, W) with the pixels of each object class tinted."""
    rgb = image.transpose(1, 2, 0).copy()
    fg = mask > 0
    rgb[fg] = (1 - alpha) * rgb[fg] + alpha * COLOURS[mask[fg]]
    return rgb


def draw(images, masks, preds, path, scale: int = SCALE) -> None:
    """One row per scene: input | true mask over it | predicted mask over it (PNG)."""
    rows = []
    gap = np.ones((images.shape[2], 2, 3), np.float32)
    for img, m, p in zip(images, masks, preds):
        row = [img.transpose(1, 2, 0), gap, overlay(img, m), gap, overlay(img, p)]
        rows.append(np.concatenate(row, axis=1))
        rows.append(np.ones((2, rows[-1].shape[1], 3), np.float32))
    grid = np.concatenate(rows[:-1], axis=0)
    grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)
    save_png(np.clip(grid, 0.0, 1.0), path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=800, help="training scenes")
    p.add_argument("--test", type=int, default=200, help="held-out scenes")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--width", type=int, default=16, help="channels at full resolution")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--dice-weight", type=float, default=1.0, help="0: cross-entropy only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", default="segmentation.png", help="picture of predictions ('' for none)")
    p.add_argument("--show", type=int, default=6, help="scenes in the picture")
    p.add_argument("--scale", type=int, default=SCALE, help="pixels of the picture per image pixel")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    init.manual_seed(args.seed)
    x, masks, _, _ = datasets.make_scenes(args.train, size=SIZE, seed=2 * args.seed + 1)
    xt, masks_t, _, _ = datasets.make_scenes(args.test, size=SIZE, seed=2 * args.seed + 2)  # held out
    model = build(args.width)
    opt = Adam(model.params(), lr=args.lr)
    clock = EpochClock()
    # the learning rate falls on a cosine over the run, one step per epoch
    schedule = LearningRateScheduler(CosineAnnealingLR(opt, T_max=args.epochs), per="epoch")
    loss = CrossEntropyDice(args.dice_weight) if args.dice_weight else CrossEntropyLoss()
    model.fit(x, masks, epochs=args.epochs, batch_size=args.batch_size, optimizer=opt, loss=loss,
              callbacks=[clock, schedule], seed=args.seed, verbose=0 if args.quiet else 1)
    pred = model.predict(xt, batch_size=64).argmax(axis=1)
    result = {
        "mean_iou": mean_iou(pred, masks_t, CLASSES),  # background, square, circle, triangle
        "pixel_accuracy": float(np.mean(pred == masks_t)),
        "epochs": len(clock.seconds),
        "epoch_seconds": clock.seconds,
        "seconds": time.perf_counter() - t0,
        "model": model,
    }
    per_class = [float(np.sum((pred == c) & (masks_t == c)) / max(1, np.sum((pred == c) | (masks_t == c))))
                 for c in range(CLASSES)]
    result["iou_per_class"] = dict(zip(datasets.SCENE_CLASSES, per_class))
    if args.png:
        draw(xt[:args.show], masks_t[:args.show], pred[:args.show], args.png, scale=args.scale)
        result["png"] = args.png
    if not args.quiet:
        print(f"held-out scenes: mean IoU {result['mean_iou']:.3f} over {', '.join(datasets.SCENE_CLASSES)} "
              f"(per class {', '.join(f'{v:.3f}' for v in per_class)}), pixel accuracy "
              f"{result['pixel_accuracy']:.3f}")
        print(f"{result['epochs']} epochs, {np.mean(clock.seconds):.1f} s per epoch, "
              f"{result['seconds']:.1f} s in all" + (f"; predictions drawn in {args.png}" if args.png else ""))
    return result


if __name__ == "__main__":
    main()
