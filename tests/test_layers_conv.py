import json

import numpy as np
import pytest

from pyconvnet import init
from pyconvnet.layers import LAYER_REGISTRY, Conv2d

from gradcheck import check_layer


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=3), (2, 2, 5, 5)),
    (dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1), padding=(1, 2)), (1, 2, 5, 6)),
    (dict(in_channels=1, out_channels=2, kernel_size=3, padding="same", dilation=2), (2, 1, 6, 5)),
    (dict(in_channels=4, out_channels=2, kernel_size=1, groups=2, bias=False), (2, 4, 3, 3)),
    (dict(in_channels=2, out_channels=4, kernel_size=2, padding="same", groups=2), (1, 2, 4, 4)),
])
def test_conv2d_gradients_finite_differences(kwargs, shape):
    layer = Conv2d(**kwargs)
    check_layer(layer, _x(shape))


def test_conv2d_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    init.manual_seed(1)
    layer = Conv2d(3, 5, 3, stride=2, padding=1, dilation=1, groups=1)
    x = _x((2, 3, 9, 8), seed=1)
    y = layer.forward(x)
    g = _x(y.shape, seed=2)
    dx = layer.backward(g)
    tc = torch.nn.Conv2d(3, 5, 3, stride=2, padding=1)
    with torch.no_grad():
        tc.weight.copy_(torch.tensor(layer.weight.data))
        tc.bias.copy_(torch.tensor(layer.bias.data))
    xt = torch.tensor(x, requires_grad=True)
    yt = tc(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.weight.grad, tc.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(layer.bias.grad, tc.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv2d_default_init_is_pytorch_kaiming_uniform():
    init.manual_seed(0)
    layer = Conv2d(8, 16, 3)
    bound = 1.0 / np.sqrt(8 * 9)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and w.shape == (16, 8, 3, 3)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.1 * bound  # std of U(-b, b)
    init.manual_seed(0)
    again = Conv2d(8, 16, 3)
    assert np.array_equal(again.weight.data, w) and np.array_equal(again.bias.data, b)
    assert not np.array_equal(Conv2d(8, 16, 3).weight.data, w)


def test_conv2d_output_shape_flops_and_config_roundtrip():
    layer = Conv2d(3, 8, 5, stride=2, padding=(1, 2), dilation=(1, 2))
    x = _x((2, 3, 17, 20))
    y = layer.forward(x)
    assert layer.output_shape(x.shape) == y.shape
    assert layer.output_shape((None, 3, 17, 20)) == (None,) + y.shape[1:]
    oh, ow = y.shape[2:]
    assert layer.flops((None, 3, 17, 20)) == 2 * 3 * 25 * 8 * oh * ow + 8 * oh * ow
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = LAYER_REGISTRY["Conv2d"](**cfg)
    clone.weight.data[...] = layer.weight.data
    clone.bias.data[...] = layer.bias.data
    assert np.array_equal(clone.infer(x), y)
    same = Conv2d(2, 2, 4, padding="same")
    assert same.get_config()["padding"] == "same"
    assert same.forward(_x((1, 2, 7, 7))).shape == (1, 2, 7, 7)


def test_conv2d_named_tensors_are_live():
    layer = Conv2d(2, 3, 3, bias=False)
    t = layer.named_tensors()
    assert set(t) == {"weight"} and t["weight"] is layer.weight.data
    assert layer.params() == [layer.weight]


def test_conv2d_errors():
    layer = Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"3 channels \(in_channels\)"):
        layer.forward(_x((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(_x((3, 5, 5)))
    with pytest.raises(TypeError, match="astype"):
        layer.forward(np.zeros((1, 3, 5, 5), np.uint8))
    with pytest.raises(ValueError, match="kernel"):
        layer.forward(_x((1, 3, 2, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2d(3, 4, 3).backward(_x((1, 4, 3, 3)))
    layer.forward(_x((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"grad_y has shape \(1, 4, 2, 2\), expected \(1, 4, 3, 3\)"):
        layer.backward(_x((1, 4, 2, 2)))
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="stride"):
        Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        Conv2d(3, 4, 3, padding=-1)
    with pytest.raises(ValueError, match="'same' needs stride 1"):
        Conv2d(3, 4, 3, stride=2, padding="same")


def test_conv2d_accepts_float64_and_strided_views():
    layer = Conv2d(2, 2, 3)
    x = _x((2, 2, 6, 6))
    ref = layer.infer(x)
    np.testing.assert_array_equal(layer.infer(x.astype(np.float64)), ref)
    big = np.zeros((2, 4, 6, 12), np.float32)
    big[:, ::2, :, ::2] = x
    np.testing.assert_array_equal(layer.infer(big[:, ::2, :, ::2]), ref)


def test_frozen_conv_does_not_accumulate_weight_grad():
    layer = Conv2d(2, 2, 3)
    layer.weight.trainable = False
    layer.bias.trainable = False
    x = _x((1, 2, 5, 5))
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.abs(dx).sum() > 0
    assert not layer.weight.grad.any() and not layer.bias.grad.any()
