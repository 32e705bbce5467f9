import numpy as np
import pytest

from pyconvnet.layers import AvgPool2d, GlobalAvgPool2d, LPPool2d, MaxPool2d

from gradcheck import check_layer


def _distinct(shape, seed=0, spacing=0.05):
    """Values spaced `spacing` apart (no max-pool ties within the finite-difference step)."""
    n = int(np.prod(shape))
    vals = (np.random.default_rng(seed).permutation(n) - n / 2) * spacing
    return vals.reshape(shape).astype(np.float32)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
])
def test_max_pool_gradients(kwargs):
    check_layer(MaxPool2d(**kwargs), _distinct((2, 2, 7, 6)), h=1e-2)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
])
def test_avg_pool_gradients(kwargs):
    x = np.random.default_rng(1).normal(size=(2, 2, 7, 6)).astype(np.float32)
    check_layer(AvgPool2d(**kwargs), x)


@pytest.mark.parametrize("norm_type", [2.0, 3.0, 1.5])
def test_lp_pool_gradients(norm_type):
    x = np.random.default_rng(2).uniform(0.5, 2.0, size=(1, 2, 6, 6)).astype(np.float32)
    check_layer(LPPool2d(norm_type, 2, stride=2), x, h=5e-3)


def test_global_avg_pool_gradient_and_shape():
    x = np.random.default_rng(3).normal(size=(2, 3, 4, 5)).astype(np.float32)
    layer = GlobalAvgPool2d()
    y = layer.forward(x)
    assert y.shape == (2, 3, 1, 1) == layer.output_shape(x.shape)
    np.testing.assert_allclose(y[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-5)
    check_layer(layer, x)


@pytest.mark.parametrize("layer,shape", [
    (MaxPool2d(3, 2, 1, ceil_mode=True), (1, 2, 8, 9)),
    (AvgPool2d(2, 3, 1, ceil_mode=True, count_include_pad=False), (1, 2, 8, 9)),
    (LPPool2d(2, 3, 2, ceil_mode=True), (1, 2, 7, 9)),
])
def test_output_shape_matches_forward(layer, shape):
    x = np.random.default_rng(0).uniform(0.1, 1, size=shape).astype(np.float32)
    assert layer.output_shape(shape) == layer.forward(x).shape
    assert layer.output_shape((None,) + shape[1:])[1:] == layer.infer(x).shape[1:]


def test_pools_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _distinct((2, 3, 9, 8), seed=4)
    xt = torch.tensor(x)
    cases = [
        (MaxPool2d(3, 2, 1, ceil_mode=True), lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True)),
        (AvgPool2d(3, 2, 1, count_include_pad=False), lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False)),
        (LPPool2d(2, 2), lambda t: F.lp_pool2d(t, 2, 2)),
    ]
    for layer, ref in cases:
        inp = np.abs(x) + 0.1 if isinstance(layer, LPPool2d) else x
        ti = torch.tensor(inp, requires_grad=True)
        yt = ref(ti)
        y = layer.forward(inp)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-6)
        g = np.random.default_rng(5).normal(size=y.shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(layer.backward(g), ti.grad.numpy(), rtol=1e-4, atol=1e-6)
    del xt


def test_pool_errors():
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"):
        MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="stride"):
        AvgPool2d(2, stride=0)
    with pytest.raises(ValueError, match="norm_type"):
        LPPool2d(0, 2)
    with pytest.raises(ValueError, match="x must be 4-D"):
        MaxPool2d(2).forward(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="kernel"):
        MaxPool2d(5).forward(np.zeros((1, 1, 3, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        MaxPool2d(2).backward(np.zeros((1, 1, 2, 2), np.float32))
    layer = AvgPool2d(2)
    layer.forward(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match="grad_y has shape"):
        layer.backward(np.zeros((1, 1, 4, 4), np.float32))


def test_max_pool_eval_forward_and_infer_agree():
    x = _distinct((2, 2, 6, 6))
    layer = MaxPool2d(2)
    y = layer.forward(x)
    np.testing.assert_array_equal(layer.infer(x), y)
    assert layer.get_config() == {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "ceil_mode": False}
