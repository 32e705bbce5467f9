"""The train-from-folder example, shortened: PNG folder -> ImageFolder -> DataLoader -> fit."""

import os
import threading

import numpy as np
import pytest
from conftest import load_example

pytest.importorskip("PIL")


def test_a_short_run_trains_from_the_folder_and_reports(tmp_path):
    ex = load_example("train_from_folder")
    out = ex.main(["--root", str(tmp_path), "--per-class", "12", "--epochs", "2", "--verbose", "0"])
    assert sorted(os.listdir(tmp_path / "train")) == sorted(ex.datasets.SHAPE_NAMES)
    assert sum(len(os.listdir(tmp_path / "train" / c)) for c in os.listdir(tmp_path / "train")) == 96
    h = out["history"].history
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(h)
    assert h["lr"][0] > h["lr"][1] > 0  # the cosine schedule, stepped per batch
    assert h["loss"][1] < h["loss"][0]
    assert out["confusion"].shape == (8, 8) and out["confusion"].sum() == 8 * 10
    assert out["f1"].shape == (8,) and np.all((out["f1"] >= 0) & (out["f1"] <= 1))
    assert not [t for t in threading.enumerate() if t.name.startswith("pyconvnet-data")]
