"""Train from a folder of image files, the way users arrive with their own data.

1. Write a small image folder: ``root/train/<class>/*.png`` and ``root/val/<class>/*.png``, with
   RGB images of 8 shape classes drawn by ``pyconvnet.datasets.make_shapes`` (PNG files written
   with the standard library; replace this step with your own photos).
2. Read it lazily with ``pyconvnet.data.ImageFolder`` (class names from the sub-folders, files
   decoded and resized by Pillow on demand) and batch it with a threaded ``DataLoader`` that
   shuffles and augments (random crop and flip, seeded per epoch and batch).
3. ``fit`` the loader with SGD + momentum and a cosine learning-rate schedule stepped every
   batch (``LearningRateScheduler``), validating on the val folder each epoch; then report the
   per-class precision / recall / F1 and the confusion matrix.

Run: ``python examples/train_from_folder.py [--root DIR] [--per-class 150] [--epochs 6]``
(needs Pillow: ``pip install 'pyconvnet[image]'``; about a minute on 2 cores). Without
``--root`` the folder is made in a temporary directory and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from pyconvnet import augment, datasets, init
from pyconvnet.data import DataLoader, ImageFolder
from pyconvnet.layers import BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, ReLU
from pyconvnet.metrics import confusion_matrix, precision_recall_f1
from pyconvnet.model import LearningRateScheduler, Sequential
from pyconvnet.optim import SGD
from pyconvnet.optim.lr_scheduler import CosineAnnealingLR
from pyconvnet.visualize import save_png

FILE_SIZE = 40  # pixels of the files on disk
SIZE = 32       # what ImageFolder resizes them to


def write_folder(root, per_class: int, seed: int) -> None:
    """root/<shape name>/<index>.png: 8 * per_class RGB images, each of a random shape (so
    about `per_class` per class)."""
    n = per_class * len(datasets.SHAPE_NAMES)
    images, labels, _ = datasets.make_shapes(n, size=FILE_SIZE, seed=seed, channels=3)
    counts = {}
    for img, label in zip(images, labels):
        name = datasets.SHAPE_NAMES[label]
        os.makedirs(os.path.join(root, name), exist_ok=True)
        k = counts[name] = counts.get(name, 0) + 1
        save_png(img.transpose(1, 2, 0), os.path.join(root, name, f"{k:05d}.png"))


def make_net(num_classes: int) -> Sequential:
    return Sequential([
        Conv2d(3, 16, 3, padding=1), BatchNorm2d(16), ReLU(), MaxPool2d(2),   # 16 x 16 x 16
        Conv2d(16, 32, 3, padding=1), BatchNorm2d(32), ReLU(), MaxPool2d(2),  # 32 x 8 x 8
        Conv2d(32, 64, 3, padding=1), BatchNorm2d(64), ReLU(),                # 64 x 8 x 8
        GlobalAvgPool2d(), Flatten(), Linear(64, num_classes),
    ], input_shape=(3, SIZE, SIZE))


def train(root, epochs: int, batch_size: int = 32, workers: int = 2, seed: int = 0, verbose: int = 1) -> dict:
    train_set = ImageFolder(os.path.join(root, "train"), size=(SIZE, SIZE))
    val_set = ImageFolder(os.path.join(root, "val"), size=(SIZE, SIZE))
    assert val_set.classes == train_set.classes
    aug = augment.Compose([augment.RandomCrop(SIZE, padding=3), augment.RandomHorizontalFlip()])
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed, augment=aug,
                              workers=workers)
    val_loader = DataLoader(val_set, batch_size=128, shuffle=False, workers=workers)

    init.manual_seed(seed)
    model = make_net(len(train_set.classes))
    optimizer = SGD(model.params(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    schedule = CosineAnnealingLR(optimizer, T_max=epochs * len(train_loader))  # to ~0 at the last batch
    history = model.fit(train_loader, epochs=epochs, optimizer=optimizer, validation_data=val_loader,
                        callbacks=[LearningRateScheduler(schedule, per="batch")], seed=seed, verbose=verbose)

    scores = model.predict(val_loader)
    y_val = np.array(val_set.targets)
    precision, recall, f1 = precision_recall_f1(y_val, scores)
    return {"history": history, "classes": train_set.classes, "precision": precision, "recall": recall,
            "f1": f1, "confusion": confusion_matrix(y_val, scores), "val_accuracy": history.history["val_accuracy"][-1],
            "model": model}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="folder to write the images to (default: a temporary one)")
    parser.add_argument("--per-class", type=int, default=150, help="training images per class (on average)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or tmp
        write_folder(os.path.join(root, "train"), args.per_class, seed=args.seed + 1)
        write_folder(os.path.join(root, "val"), max(10, args.per_class // 3), seed=args.seed + 2)
        out = train(root, args.epochs, workers=args.workers, seed=args.seed, verbose=args.verbose)
    if args.verbose:
        print(f"\nvalidation accuracy {out['val_accuracy']:.3f}  ({time.perf_counter() - t0:.0f} s)")
        print(f"{'class':>10} precision recall    f1")
        for name, p, r, f in zip(out["classes"], out["precision"], out["recall"], out["f1"]):
            print(f"{name:>10} {p:9.3f} {r:6.3f} {f:5.3f}")
        print("confusion matrix (rows: true class, columns: predicted):")
        print(out["confusion"])
    return out


if __name__ == "__main__":
    main()
