import numpy as np
import pytest

from pyconvnet import init
from pyconvnet.layers import ELU, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh

from gradcheck import check_layer


def _away_from_zero(shape, seed=0, gap=0.05):
    x = np.random.default_rng(seed).normal(size=shape)
    x = np.where(np.abs(x) < gap, np.sign(x + 1e-12) * gap + x, x)  # keep |x| >= gap (kink at 0)
    return x.astype(np.float32)


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh(), ELU(0.7)], ids=repr)
def test_activation_gradients(layer):
    check_layer(layer, _away_from_zero((2, 3, 4)))


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_softmax_gradient(axis):
    x = np.random.default_rng(1).normal(size=(3, 4, 2)).astype(np.float32)
    layer = Softmax(axis)
    y = layer.forward(x)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-6)
    check_layer(layer, x, h=1e-2)


def test_activation_values_and_derivative_at_zero():
    x = np.array([[-2.0, 0.0, 3.0]], np.float32)
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(x), [[0, 0, 3]])
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0, 0, 1]])  # relu'(0) = 0
    leaky = LeakyReLU(0.2)
    np.testing.assert_allclose(leaky.forward(x), [[-0.4, 0, 3]])
    np.testing.assert_allclose(leaky.backward(np.ones_like(x)), [[0.2, 0.2, 1]])  # slope at 0
    elu = ELU(0.5)
    np.testing.assert_allclose(elu.forward(x), [[0.5 * (np.exp(-2) - 1), 0, 3]], rtol=1e-6)
    np.testing.assert_allclose(elu.backward(np.ones_like(x)), [[0.5 * np.exp(-2), 0.5, 1]], rtol=1e-5)


def test_activations_infer_keeps_nothing():
    x = _away_from_zero((2, 5))
    for layer in (ReLU(), Sigmoid(), Tanh(), LeakyReLU(), ELU(), Softmax()):
        np.testing.assert_array_equal(layer.infer(x), layer.forward(x))
        fresh = type(layer)()
        fresh.infer(x)
        with pytest.raises(RuntimeError, match="before forward"):
            fresh.backward(np.ones((2, 5), np.float32))


def test_dropout_mask_reused_in_backward_and_scaling():
    init.manual_seed(3)
    layer = Dropout(0.25)
    x = np.ones((64, 100), np.float32)
    y = layer.forward(x)
    kept = y != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    g = np.random.default_rng(0).normal(size=x.shape).astype(np.float32)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx != 0, kept & (g != 0))
    np.testing.assert_allclose(dx[kept], g[kept] / 0.75, rtol=1e-6)
    y2 = layer.forward(x)
    assert not np.array_equal(y2, y)  # a fresh mask per forward


def test_dropout_eval_p0_p1_and_seeding():
    x = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    layer = Dropout(0.5).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.ones_like(x))
    np.testing.assert_array_equal(Dropout(0.0).forward(x), x)
    np.testing.assert_array_equal(Dropout(1.0).forward(x), np.zeros_like(x))
    a, b = Dropout(0.5), Dropout(0.5)
    a.reseed(7)
    b.reseed(7)
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        Dropout(1.5)


def test_activation_wrong_grad_shape():
    layer = Tanh()
    layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_y has shape \(3, 2\), expected \(2, 3\)"):
        layer.backward(np.zeros((3, 2), np.float32))
