"""Object detection: a single-stage grid detector (a YOLO-style head) on ``make_scenes`` images.

A convolutional backbone (Conv-BN-ReLU blocks, three ``MaxPool2d``) turns a 64 x 64 scene into
an 8 x 8 grid of feature vectors, one per 8 x 8-pixel cell. The cell holding an object's box
centre is responsible for it (objects in ``make_scenes`` are at least 8 pixels wide and never
touch, so no cell holds two centres). Three 1x1-convolution heads make the model's three
outputs, per cell:

- ``objectness``: 2 logits (no object / object); per-cell ``CrossEntropyLoss`` over two classes,
  which is binary cross-entropy on the logit difference (softmax of two logits is the sigmoid of
  their difference), with the object class weighted up (few cells hold an object);
- ``box``: 4 numbers: the box centre's offset inside the cell (``tx, ty`` in [0, 1)) and its width
  and height in cells (``tw, th``); ``SmoothL1Loss`` on the cells that hold an object
  (:class:`ObjectCells` below restricts a pyconvnet loss to those cells);
- ``classes``: 3 logits (square, circle, triangle); per-cell ``CrossEntropyLoss`` with the cells
  without an object marked ``ignore_index``.

``Model.fit`` minimises the weighted sum of the three losses (``loss_weights``). At test time
every cell proposes one box per class with score ``P(object) * P(class | object)``;
``pyconvnet.ops.batched_nms`` removes the duplicates of each class, and
``pyconvnet.metrics.mean_average_precision`` (IoU 0.5) scores the result on held-out scenes.

Run: ``python examples/detection.py`` (``--help`` for a shorter run); it writes
``detection.png``: scenes with the true boxes (white) and the detections (coloured by class).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import pyconvnet
from pyconvnet import datasets, init
from pyconvnet.functional import softmax
from pyconvnet.layers import BatchNorm2d, Conv2d, MaxPool2d, ReLU
from pyconvnet.losses import CrossEntropyLoss, Loss, SmoothL1Loss
from pyconvnet.metrics import mean_average_precision
from pyconvnet.model import Callback, LearningRateScheduler
from pyconvnet.ops import batched_nms
from pyconvnet.optim import Adam
from pyconvnet.optim.lr_scheduler import CosineAnnealingLR
from pyconvnet.visualize import save_png

SIZE = 64
SCALE = 4                      # picture pixels per image pixel
STRIDE = 8                     # pixels per grid cell
GRID = SIZE // STRIDE
NUM_CLASSES = len(datasets.SCENE_CLASSES) - 1   # the object classes; labels are 1..3
IGNORE = -100
COLOURS = np.array([[1.0, 0.25, 0.25], [0.25, 1.0, 0.25], [0.35, 0.55, 1.0]], np.float32)  # by class


def conv_block(node, cin, cout):
    """Conv 3x3 (same size) - BatchNorm - ReLU."""
    return ReLU()(BatchNorm2d(cout)(Conv2d(cin, cout, 3, padding=1, bias=False)(node)))


def build(width: int = 16) -> pyconvnet.Model:
    """Backbone 64 -> 8 pixels and three 1x1 heads: a Model with three outputs."""
    x = pyconvnet.Input((3, SIZE, SIZE))
    h = MaxPool2d(2)(conv_block(x, 3, width))                   # 32 x 32
    h = MaxPool2d(2)(conv_block(h, width, 2 * width))           # 16 x 16
    h = MaxPool2d(2)(conv_block(h, 2 * width, 4 * width))       # 8 x 8: the grid
    h = conv_block(h, 4 * width, 4 * width)                     # receptive field wide enough
    h = conv_block(h, 4 * width, 4 * width)                     # for the largest objects
    objectness = Conv2d(4 * width, 2, 1, name="objectness")(h)
    box = Conv2d(4 * width, 4, 1, name="box")(h)
    classes = Conv2d(4 * width, NUM_CLASSES, 1, name="classes")(h)
    return pyconvnet.Model(x, [objectness, box, classes])


class ObjectCells(Loss):
    """A pyconvnet loss (``base``, e.g. ``SmoothL1Loss()``) over the grid cells that hold an object.

    ``pred`` is ``(N, K, S, S)``; ``target`` is ``(N, 1 + K, S, S)``: channel 0 marks the cells
    with an object (1) or not (0), channels 1.. are the K targets of those cells (anything
    elsewhere). The loss is ``base`` over the (cells with an object, K) values, so its mean runs
    over the objects, not over the whole grid; the other cells get a zero gradient. At least one
    cell of the batch must hold an object (every ``make_scenes`` scene has one).
    """

    def __init__(self, base: Loss):
        super().__init__()
        self.base = base

    @staticmethod
    def _select(pred, target):
        pred = np.asarray(pred, np.float32)
        target = np.asarray(target, np.float32)
        n, k = pred.shape[:2]
        if target.shape != (n, 1 + k) + pred.shape[2:]:
            raise ValueError(f"target must have shape {(n, 1 + k) + pred.shape[2:]} for pred {pred.shape}, "
                             f"got {target.shape}")
        cells = target[:, 0] > 0.5                        # (N, S, S)
        if not cells.any():
            raise ValueError("no cell of the batch holds an object: the loss is undefined")
        channels_last = lambda a: np.moveaxis(a, 1, -1)   # (N, S, S, K)
        return cells, channels_last(pred)[cells], channels_last(target[:, 1:])[cells]

    def value(self, pred, target) -> float:
        _, p, t = self._select(pred, target)
        return self.base.value(p, t)

    def forward(self, pred, target) -> float:
        cells, p, t = self._select(pred, target)
        self._cache = (np.shape(pred), cells)
        return self.base.forward(p, t)

    def _grad(self, shape, cells):
        g = np.zeros((shape[0],) + tuple(shape[2:]) + (shape[1],), np.float32)
        g[cells] = self.base.backward()
        return np.ascontiguousarray(np.moveaxis(g, -1, 1))

    def get_config(self) -> dict:
        return {"base": repr(self.base)}


def encode(boxes, labels, n: int) -> dict:
    """Per-cell targets of the three outputs from per-image boxes (pixels) and labels (1..3)."""
    obj = np.zeros((n, GRID, GRID), np.int64)
    box = np.zeros((n, 5, GRID, GRID), np.float32)
    cls = np.full((n, GRID, GRID), IGNORE, np.int64)
    for i, (b, lab) in enumerate(zip(boxes, labels)):
        for (x1, y1, x2, y2), c in zip(b, lab):
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            col, row = min(int(cx), GRID - 1), min(int(cy), GRID - 1)
            obj[i, row, col] = 1
            box[i, :, row, col] = (1.0, cx - col, cy - row, (x2 - x1) / STRIDE, (y2 - y1) / STRIDE)
            cls[i, row, col] = c - 1
    return {"objectness": obj, "box": box, "classes": cls}


def decode(outputs, score_threshold: float = 0.01, iou_threshold: float = 0.5) -> list[dict]:
    """Detections per image: every cell proposes its box once per class, scored
    P(object) * P(class); proposals under `score_threshold` are dropped, then batched NMS."""
    obj_logits, box, cls_logits = outputs
    p_obj = softmax(obj_logits, axis=1)[:, 1]                   # (N, S, S)
    scores = p_obj[:, None] * softmax(cls_logits, axis=1)      # (N, C, S, S)
    cols, rows = np.meshgrid(np.arange(GRID), np.arange(GRID))
    cx = (cols + box[:, 0]) * STRIDE
    cy = (rows + box[:, 1]) * STRIDE
    half_w = np.maximum(box[:, 2], 0) * STRIDE / 2
    half_h = np.maximum(box[:, 3], 0) * STRIDE / 2
    all_boxes = np.clip(np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1), 0, SIZE)
    out = []
    for i in range(len(scores)):
        c, r, q = np.nonzero(scores[i] >= score_threshold)
        b = all_boxes[i, r, q].astype(np.float32)
        s = scores[i, c, r, q].astype(np.float32)
        keep = batched_nms(b, s, c, iou_threshold)
        out.append({"boxes": b[keep], "scores": s[keep], "labels": c[keep].astype(np.int64) + 1})
    return out


class EpochClock(Callback):
    """Records each epoch's wall time."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t0)


def rectangle(rgb, box, colour, thickness: int = 1) -> None:
    """Draw the outline of `box` (x1, y1, x2, y2 in pixels) into an (H, W, 3) image in place."""
    h, w = rgb.shape[:2]
    x1, y1 = (int(np.clip(np.floor(v), 0, lim - 1)) for v, lim in zip(box[:2], (w, h)))
    x2, y2 = (int(np.clip(np.ceil(v) - 1, 0, lim - 1)) for v, lim in zip(box[2:], (w, h)))
    t = thickness
    rgb[y1:y1 + t, x1:x2 + 1] = colour
    rgb[max(y2 - t + 1, 0):y2 + 1, x1:x2 + 1] = colour
    rgb[y1:y2 + 1, x1:x1 + t] = colour
    rgb[y1:y2 + 1, max(x2 - t + 1, 0):x2 + 1] = colour


def draw(images, boxes, detections, path, scale: int = SCALE, min_score: float = 0.5) -> None:
    """A row of scenes, enlarged `scale` times: true boxes in white, detections scoring at least
    `min_score` in their class colour (PNG)."""
    tiles = []
    for img, gt, det in zip(images, boxes, detections):
        rgb = np.repeat(np.repeat(img.transpose(1, 2, 0), scale, axis=0), scale, axis=1).copy()
        for b in gt:
            rectangle(rgb, b * scale, 1.0)
        for b, s, c in zip(det["boxes"], det["scores"], det["labels"]):
            if s >= min_score:
                rectangle(rgb, b * scale + np.array([-2, -2, 2, 2]), COLOURS[c - 1], thickness=2)
        tiles.extend([rgb, np.ones((rgb.shape[0], 4, 3), np.float32)])
    save_png(np.clip(np.concatenate(tiles[:-1], axis=1), 0.0, 1.0), path)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=1200, help="training scenes")
    p.add_argument("--test", type=int, default=300, help="held-out scenes")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--width", type=int, default=16, help="channels of the first block")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--png", default="detection.png", help="picture of detections ('' for none)")
    p.add_argument("--show", type=int, default=6, help="scenes in the picture")
    p.add_argument("--scale", type=int, default=SCALE, help="pixels of the picture per image pixel")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    init.manual_seed(args.seed)
    x, _, boxes, labels = datasets.make_scenes(args.train, size=SIZE, seed=2 * args.seed + 1)
    xt, _, boxes_t, labels_t = datasets.make_scenes(args.test, size=SIZE, seed=2 * args.seed + 2)  # held out
    model = build(args.width)
    opt = Adam(model.params(), lr=args.lr)
    clock = EpochClock()
    # the learning rate falls on a cosine over the run, one step per epoch
    schedule = LearningRateScheduler(CosineAnnealingLR(opt, T_max=args.epochs), per="epoch")
    losses = {
        "objectness": CrossEntropyLoss(weight=[1.0, 4.0]),
        "box": ObjectCells(SmoothL1Loss()),
        "classes": CrossEntropyLoss(ignore_index=IGNORE),
    }
    model.fit(x, encode(boxes, labels, len(x)), epochs=args.epochs, batch_size=args.batch_size, optimizer=opt,
              loss=losses, loss_weights={"objectness": 1.0, "box": 2.0, "classes": 1.0}, callbacks=[clock, schedule],
              seed=args.seed, verbose=0 if args.quiet else 1)
    detections = decode(model.predict(xt, batch_size=100))
    truth = [{"boxes": b, "labels": lab} for b, lab in zip(boxes_t, labels_t)]
    result = {
        "map50": mean_average_precision(detections, truth, iou_threshold=0.5),
        "map75": mean_average_precision(detections, truth, iou_threshold=0.75),
        "epochs": len(clock.seconds),
        "epoch_seconds": clock.seconds,
        "seconds": time.perf_counter() - t0,
        "model": model,
        "detections": detections,
    }
    if args.png:
        draw(xt[:args.show], boxes_t[:args.show], detections[:args.show], args.png, scale=args.scale)
        result["png"] = args.png
    if not args.quiet:
        print(f"held-out scenes: mAP@0.5 {result['map50']:.3f}, mAP@0.75 {result['map75']:.3f} "
              f"({sum(len(b) for b in boxes_t)} objects in {len(xt)} scenes)")
        print(f"{result['epochs']} epochs, {np.mean(clock.seconds):.1f} s per epoch, "
              f"{result['seconds']:.1f} s in all" + (f"; detections drawn in {args.png}" if args.png else ""))
    return result


if __name__ == "__main__":
    main()
