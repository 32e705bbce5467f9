"""Transfer learning: reuse a trained convolutional trunk for new classes with few examples.

1. Pretrain a small CNN on 4 shape classes of ``make_shapes`` (square, circle, triangle, plus),
   with plenty of data.
2. Slice the convolutional trunk off (``model[:10]``), freeze it, append a new ``Linear`` head
   and fine-tune it on 4 *new* classes (ring, cross, frame, diamond) from only 5 examples each.
3. Train the same architecture from scratch on the same 20 examples and compare accuracy on
   held-out images of the new classes.

Run: ``python examples/transfer_learning.py`` (about 10 s on 2 cores).
"""

from __future__ import annotations

import time

import numpy as np

from pyconvnet import datasets, init
from pyconvnet.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from pyconvnet.model import Sequential
from pyconvnet.optim import Adam

SIZE = 16
OLD_CLASSES = [0, 1, 2, 3]  # square, circle, triangle, plus
NEW_CLASSES = [4, 5, 6, 7]  # ring, cross, frame, diamond


def make_net(num_classes: int) -> Sequential:
    return Sequential([
        Conv2d(1, 16, 3, padding=1), ReLU(), MaxPool2d(2),   # 16 x 8 x 8
        Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # 32 x 4 x 4
        Conv2d(32, 32, 3, padding=1), ReLU(), MaxPool2d(2),  # 32 x 2 x 2
        Flatten(),                                           # the trunk: layers [0, 10)
        Linear(32 * (SIZE // 8) ** 2, 64), ReLU(), Linear(64, num_classes),  # the head
    ])


TRUNK_END = 10
FEATURES = 32 * (SIZE // 8) ** 2


def few_shot(x, y, per_class: int):
    """The first `per_class` examples of every class, labels renumbered 0..k-1."""
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in NEW_CLASSES])
    return x[idx], y[idx] - NEW_CLASSES[0]


def main(seed: int = 0, pretrain_images: int = 3000, pretrain_epochs: int = 8, shots: int = 5,
         finetune_epochs: int = 60, verbose: bool = True) -> dict:
    t0 = time.perf_counter()
    say = print if verbose else (lambda *a, **k: None)

    # 1. pretraining on the old classes ---------------------------------------------------------
    init.manual_seed(seed)
    x_old, y_old, _ = datasets.make_shapes(pretrain_images, size=SIZE, seed=seed + 1, classes=OLD_CLASSES)
    pretrained = make_net(len(OLD_CLASSES))
    hist = pretrained.fit(x_old, y_old, epochs=pretrain_epochs, batch_size=32, seed=seed, verbose=0)
    say(f"pretrained on {len(OLD_CLASSES)} classes: train accuracy {hist.history['accuracy'][-1]:.3f}")

    # few labelled examples of the new classes, and a held-out test set
    x_pool, y_pool, _ = datasets.make_shapes(400, size=SIZE, seed=seed + 2, classes=NEW_CLASSES)
    x_few, y_few = few_shot(x_pool, y_pool, shots)
    x_test, y_test, _ = datasets.make_shapes(1000, size=SIZE, seed=seed + 3, classes=NEW_CLASSES)
    y_test = y_test - NEW_CLASSES[0]

    # 2. transfer: slice, freeze, new head, fine-tune -------------------------------------------
    init.manual_seed(seed + 10)
    trunk = pretrained[:TRUNK_END]  # a new Sequential sharing the trained layers, without the head
    trunk.freeze()                  # trunk parameters: trainable = False
    model = trunk[:]                # a new container (same layers) to which we append the new head
    model.append(Linear(FEATURES, len(NEW_CLASSES)))
    model.fit(x_few, y_few, epochs=finetune_epochs, batch_size=8,
              optimizer=Adam(model.params(), lr=3e-3), seed=seed, verbose=0)
    transfer_acc = model.evaluate(x_test, y_test)["accuracy"]

    # 3. the same architecture from scratch on the same few examples ----------------------------
    init.manual_seed(seed + 10)
    scratch = make_net(len(NEW_CLASSES))
    scratch.fit(x_few, y_few, epochs=finetune_epochs, batch_size=8,
                optimizer=Adam(scratch.params(), lr=1e-3), seed=seed, verbose=0)
    scratch_acc = scratch.evaluate(x_test, y_test)["accuracy"]

    say(f"{shots} examples per new class: transfer {transfer_acc:.3f}, from scratch {scratch_acc:.3f} "
        f"(test on {len(y_test)} images; {time.perf_counter() - t0:.1f} s)")
    return {"transfer_accuracy": transfer_acc, "scratch_accuracy": scratch_acc, "model": model}


if __name__ == "__main__":
    main()
