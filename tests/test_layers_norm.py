import numpy as np
import pytest

from pyconvnet.layers import BatchNorm2d

from gradcheck import check_layer


def _x(shape=(3, 2, 3, 4), seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * 2 + 0.5).astype(np.float32)


def test_batchnorm_training_gradients():
    layer = BatchNorm2d(2)
    layer.weight.data[...] = [1.5, -0.7]
    layer.bias.data[...] = [0.1, 0.2]
    check_layer(layer, _x(), h=1e-2, atol=3e-3)


def test_batchnorm_eval_gradients():
    layer = BatchNorm2d(2)
    layer.running_mean[...] = [0.3, -0.2]
    layer.running_var[...] = [2.0, 0.5]
    layer.weight.data[...] = [1.5, -0.7]
    layer.eval()
    check_layer(layer, _x())


def test_batchnorm_running_stats_match_torch_rule():
    x = _x((4, 2, 5, 5), seed=1)
    layer = BatchNorm2d(2, momentum=0.2)
    y = layer.forward(x)
    xd = x.astype(np.float64)
    mean = xd.mean(axis=(0, 2, 3))
    var_b = xd.var(axis=(0, 2, 3))
    var_u = xd.var(axis=(0, 2, 3), ddof=1)
    ref = (xd - mean[None, :, None, None]) / np.sqrt(var_b[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.running_mean, 0.2 * mean, rtol=1e-5)
    np.testing.assert_allclose(layer.running_var, 0.8 + 0.2 * var_u, rtol=1e-5)
    layer.eval()
    ye = layer.forward(x)
    ref_e = (xd - layer.running_mean[None, :, None, None]) / np.sqrt(layer.running_var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(ye, ref_e, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(layer.infer(x), ye)


def test_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    x = _x((4, 3, 5, 4), seed=2)
    ours = BatchNorm2d(3, eps=1e-3, momentum=0.3)
    ours.weight.data[...] = [1.0, 2.0, -0.5]
    ours.bias.data[...] = [0.0, 0.1, 0.2]
    theirs = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.3)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    g = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    for _ in range(3):
        y = ours.forward(x)
        ours.zero_grad()
        dx = ours.backward(g)
        xt = torch.tensor(x, requires_grad=True)
        theirs.zero_grad()
        yt = theirs(xt)
        yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5, atol=1e-6)
    theirs.eval()
    np.testing.assert_allclose(ours.infer(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_batchnorm_errors_and_state():
    layer = BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"3 channels \(num_features\)"):
        layer.forward(np.zeros((2, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer.forward(np.zeros((1, 3, 1, 1), np.float32))
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm2d(3, momentum=2.0)
    t = layer.named_tensors()
    assert list(t) == ["weight", "bias", "running_mean", "running_var"]
    assert t["running_var"] is layer.running_var and t["running_var"].dtype == np.float32
    assert layer.get_config() == {"num_features": 3, "eps": 1e-5, "momentum": 0.1}
