"""The transfer-learning example: a pretrained, frozen trunk beats training from scratch."""

import numpy as np
import pytest
from conftest import load_example as _load


def load_example():
    return _load("transfer_learning")


@pytest.mark.slow
def test_transfer_beats_scratch_on_few_examples():
    ex = load_example()
    out = ex.main(seed=0, verbose=False)
    t, s = out["transfer_accuracy"], out["scratch_accuracy"]
    # measured: transfer 0.75, scratch 0.56 (chance is 0.25)
    assert t >= 0.65, out
    assert t >= s + 0.08, out
    model = out["model"]
    trunk_params = [p for layer in list(model)[: ex.TRUNK_END] for p in layer.params()]
    assert trunk_params and not any(p.trainable for p in trunk_params)
    assert all(p.trainable for p in model[ex.TRUNK_END].params())


def test_slice_freeze_append_share_layers():
    ex = load_example()
    net = ex.make_net(4)
    trunk = net[: ex.TRUNK_END]
    assert trunk[0] is net[0] and len(trunk) == ex.TRUNK_END
    trunk.freeze()
    assert not net[0].weight.trainable  # the slice shares the layer objects
    model = trunk[:]
    model.append(ex.Linear(ex.FEATURES, 4))
    assert len(trunk) == ex.TRUNK_END and len(model) == ex.TRUNK_END + 1
    x = np.zeros((2, 1, ex.SIZE, ex.SIZE), np.float32)
    assert model.predict(x).shape == (2, 4)
