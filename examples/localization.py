"""Classification + localisation: one convolutional trunk, two heads, trained together.

Each ``make_shapes`` image holds one shape; the network predicts its class (8 logits,
cross-entropy) and its bounding box (4 numbers ``(x0, y0, x1, y1)``, SmoothL1). ``Sequential``
runs one chain of layers, so the joint step is written with the layer API:

    features = trunk.forward(x)
    logits, box = cls_head.forward(features), box_head.forward(features)
    g = cls_head.backward(ce.backward()) + box_head.backward(box_weight * sl1.backward())
    trunk.backward(g)          # the trunk receives the sum of both heads' gradients
    optimizer.step()

Run: ``python examples/localization.py`` (reports accuracy and mean IoU on held-out images).
"""

from __future__ import annotations

import time

import numpy as np

from pyconvnet import datasets, init
from pyconvnet.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from pyconvnet.losses import CrossEntropyLoss, SmoothL1Loss
from pyconvnet.model import Sequential
from pyconvnet.optim import Adam

SIZE = 32
BOX_SCALE = 10.0  # regress boxes in units of SIZE / 10 pixels, where SmoothL1 is not flat


def build(num_classes: int = len(datasets.SHAPE_NAMES)):
    trunk = Sequential([
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),   # 16 x 16 x 16
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # 32 x 8 x 8
        Conv2d(32, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # 32 x 4 x 4
        Flatten(),                                           # 512 features, positions kept
    ])
    features = 32 * (SIZE // 8) ** 2
    cls_head = Sequential([Linear(features, 64), ReLU(), Linear(64, num_classes)])
    box_head = Sequential([Linear(features, 64), ReLU(), Linear(64, 4)])
    return trunk, cls_head, box_head


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (N, 4) as (x0, y0, x1, y1)."""
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = ix * iy
    area = lambda r: np.clip(r[:, 2] - r[:, 0], 0, None) * np.clip(r[:, 3] - r[:, 1], 0, None)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-12)


def predict(trunk, cls_head, box_head, x, batch_size=256):
    """(class predictions, boxes normalised to [0, 1]) in eval mode."""
    feats = trunk.predict(x, batch_size=batch_size)
    labels = cls_head.predict(feats).argmax(axis=1)
    boxes = box_head.predict(feats) / BOX_SCALE
    return labels, boxes


def train(trunk, cls_head, box_head, x, y, boxes, epochs, batch_size=32, lr=2e-3, box_weight=1.0, seed=0,
          verbose=True):
    """Joint training: cross-entropy on the class head + SmoothL1 on the box head."""
    params = trunk.params() + cls_head.params() + box_head.params()
    opt = Adam(params, lr=lr)
    ce, sl1 = CrossEntropyLoss(), SmoothL1Loss()
    targets = boxes * BOX_SCALE
    rng = np.random.default_rng(seed)
    n = len(x)
    for model in (trunk, cls_head, box_head):
        model.train()
    for epoch in range(epochs):
        order = rng.permutation(n)
        tot_ce = tot_box = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            feats = trunk.forward(x[idx])
            l_ce = ce.forward(cls_head.forward(feats), y[idx])
            l_box = sl1.forward(box_head.forward(feats), targets[idx])
            grad = cls_head.backward(ce.backward())
            grad += box_head.backward(box_weight * sl1.backward())
            trunk.backward(grad)
            opt.step()
            tot_ce += l_ce * len(idx)
            tot_box += l_box * len(idx)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: cross-entropy {tot_ce / n:.4f}, smooth-L1 {tot_box / n:.4f}")


def main(seed: int = 0, n_train: int = 4000, n_test: int = 1000, epochs: int = 12, verbose: bool = True) -> dict:
    t0 = time.perf_counter()
    init.manual_seed(seed)
    x, y, boxes = datasets.make_shapes(n_train, size=SIZE, seed=seed + 1)
    xt, yt, bt = datasets.make_shapes(n_test, size=SIZE, seed=seed + 2)  # held out
    trunk, cls_head, box_head = build()
    train(trunk, cls_head, box_head, x, y, boxes, epochs=epochs, seed=seed, verbose=verbose)
    labels, pred_boxes = predict(trunk, cls_head, box_head, xt)
    result = {
        "accuracy": float(np.mean(labels == yt)),
        "mean_iou": float(np.mean(iou(pred_boxes, bt))),
        "seconds": time.perf_counter() - t0,
        "models": (trunk, cls_head, box_head),
    }
    if verbose:
        print(f"held-out: accuracy {result['accuracy']:.3f}, mean IoU {result['mean_iou']:.3f} "
              f"({result['seconds']:.1f} s)")
    return result


if __name__ == "__main__":
    main()
