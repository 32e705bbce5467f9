"""examples/dask_predict.py: scores lazily generated images on a local cluster of worker
processes and agrees bit for bit with a local predict."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_example

pytest.importorskip("distributed")
pytest.importorskip("dask.array")


def test_dask_example_scores_every_image_like_local_predict(capsys):
    ex = load_example("dask_predict")
    out = ex.main(["--images", "4500", "--epochs", "1", "--workers", "2", "--check", "600"])
    assert out["same_as_local"] is True
    assert out["classes"].shape == (4500,) and out["classes"].dtype.kind == "i"
    assert np.all((out["classes"] >= 0) & (out["classes"] < 8))
    assert "scored 4500 images" in capsys.readouterr().out
