import numpy as np
import pytest

from pyconvnet import init
from pyconvnet.layers import Flatten, Linear

from gradcheck import check_layer


def test_linear_gradients():
    x = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
    check_layer(Linear(5, 4), x)
    check_layer(Linear(5, 2, bias=False), x)


def test_linear_value_init_and_config():
    init.manual_seed(0)
    layer = Linear(6, 3)
    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    ref = x.astype(np.float64) @ layer.weight.data.T.astype(np.float64) + layer.bias.data
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-5, atol=1e-6)
    bound = 1 / np.sqrt(6)
    assert layer.weight.shape == (3, 6) and np.abs(layer.weight.data).max() <= bound
    assert np.abs(layer.bias.data).max() <= bound
    assert layer.get_config() == {"in_features": 6, "out_features": 3, "bias": True}
    assert layer.output_shape((None, 6)) == (None, 3)
    assert layer.flops((None, 6)) == 3 * (2 * 6 + 1)
    assert set(layer.named_tensors()) == {"weight", "bias"}


def test_linear_errors():
    layer = Linear(4, 2)
    with pytest.raises(ValueError, match=r"x must have 4 features \(in_features\), got shape \(3, 5\)"):
        layer.forward(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="x must be 2-D"):
        layer.forward(np.zeros((3, 4, 1), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="in_features"):
        Linear(0, 2)


def test_flatten_roundtrip():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)
    layer = Flatten()
    y = layer.forward(x)
    assert y.shape == (2, 60) == layer.output_shape(x.shape)
    assert np.shares_memory(y, x)
    g = np.arange(120, dtype=np.float32).reshape(2, 60)
    np.testing.assert_array_equal(layer.backward(g), g.reshape(2, 3, 4, 5))
    assert layer.output_shape((None, 3, 4, 5)) == (None, 60)
    with pytest.raises(ValueError, match="grad_y has shape"):
        layer.backward(np.zeros((2, 59), np.float32))
    check_layer(Flatten(), x[:, :2, :2, :2])
