"""`pyconvnet demo` (or `python -m pyconvnet demo`): train a small CNN on generated shape images and use it.

Everything is made inside the package (`pyconvnet.datasets.make_shapes`): nothing is
downloaded. Prints the progress of training, the test accuracy, the prediction throughput
and the model summary.
"""

from __future__ import annotations

import sys
import time

import numpy as np

__all__ = ["build_model", "run_demo"]


def build_model(classes: int = 8, size: int = 32):
    """Conv-ReLU-pool three times, then two fully connected layers (a textbook small CNN)."""
    from .layers import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
    from .model import Sequential

    s = size // 8
    return Sequential(
        [
            Conv2d(1, 8, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(8, 16, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(16, 32, 3, padding=1), ReLU(), MaxPool2d(2),
            Flatten(),
            Linear(32 * s * s, 64), ReLU(), Dropout(0.2),
            Linear(64, classes),
        ],
        input_shape=(1, size, size),
    )


def run_demo(epochs: int = 4, train: int = 2500, test: int = 1000, batch_size: int = 32, seed: int = 0,
             threads: int | None = None, verbose: int = 1, out=None, filters_png=None) -> dict:
    """Run the demo; returns {"accuracy", "train_seconds", "predict_images_per_s", ...}.

    `filters_png`: where to write the learned first-layer filters as a PNG;
    None writes nothing.
    """
    from . import get_num_threads, set_num_threads
    from .datasets import SHAPE_NAMES, make_shapes
    from .init import manual_seed
    from .augment import RandomTranslate
    from .optim import Adam

    out = out if out is not None else sys.stdout
    if threads is not None:
        set_num_threads(threads)
    size = 32
    classes = len(SHAPE_NAMES)

    def say(text=""):
        print(text, file=out, flush=True)

    say(f"pyconvnet demo: {classes} classes of generated shapes ({', '.join(SHAPE_NAMES)}), "
        f"{size}x{size} grayscale with noise")
    t0 = time.perf_counter()
    x_train, y_train, _ = make_shapes(train, size=size, seed=seed + 1, noise=0.1)
    x_test, y_test, _ = make_shapes(test, size=size, seed=seed + 2, noise=0.1)
    say(f"generated {train} training and {test} test images in {time.perf_counter() - t0:.1f}s; "
        f"training on {get_num_threads()} thread(s)")

    manual_seed(seed)
    model = build_model(classes, size)

    shift = RandomTranslate(2)  # augmentation: move each image by up to 2 pixels, zero fill
    t0 = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size,
        optimizer=Adam(model.params(), lr=2e-3), validation_data=(x_test, y_test),
        augment=shift, seed=seed, verbose=verbose,
    )
    train_seconds = time.perf_counter() - t0

    metrics = model.evaluate(x_test, y_test)
    model.predict(x_test[:256])  # warm-up
    t0 = time.perf_counter()
    model.predict(x_test, batch_size=256)
    rate = test / (time.perf_counter() - t0)

    say()
    say(model.summary())
    say()
    epochs_run = len(history.epoch)
    say(f"trained {epochs_run} epoch(s) in {train_seconds:.1f}s "
        f"({epochs_run * train / max(train_seconds, 1e-9):.0f} images/s)")
    say(f"test accuracy: {metrics['accuracy'] * 100:.1f}%  (loss {metrics['loss']:.4f}, {test} images)")
    say(f"prediction throughput: {rate:.0f} images/s (batch 256, {get_num_threads()} thread(s))")
    if filters_png is not None:
        _write_filters(model, filters_png, say)
    if metrics["accuracy"] < 0.9 and epochs_run == epochs:
        say("note: accuracy below 90%; try more epochs (--epochs) or training images (--train)")
    return {
        "accuracy": metrics["accuracy"],
        "loss": metrics["loss"],
        "train_seconds": train_seconds,
        "predict_images_per_s": rate,
        "history": history,
        "model": model,
    }


def _write_filters(model, path, say) -> None:
    """Save the first convolution's filters, scaled up so 3x3 kernels are visible."""
    from .visualize import filter_grid, save_png

    grid = filter_grid(model[0].weight.data, scale=16, pad_value=255)
    save_png(grid, path)
    say(f"first-layer filters written to {path} ({grid.shape[1]}x{grid.shape[0]} pixels)")
