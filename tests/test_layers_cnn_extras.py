"""LocalResponseNorm, ReLU6/Hardtanh/Hardswish, ChannelShuffle, GlobalMaxPool2d, Identity and the
layout layers (Reshape, Permute, ConstantPad2d, ChannelAffine): float64 oracles written here,
finite differences, torch conformance, every ISA tier, thread counts, save/load round trips."""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet
from pyconvnet import functional as F
from pyconvnet import layers as L

from conftest import same_for_thread_counts
from gradcheck import check_layer


# ------------------------------------------------------------------ float64 oracles
def lrn64(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = k + alpha / size * (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / s ** beta
    return out


def shuffle64(x, groups):
    n, c, h, w = x.shape
    out = np.empty_like(x, dtype=np.float64)
    k = c // groups
    for g in range(groups):
        for j in range(k):
            out[:, j * groups + g] = x[:, g * k + j]
    return out


def hardswish64(x):
    x = x.astype(np.float64)
    return x * np.minimum(np.maximum(x + 3, 0), 6) / 6


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_lrn_matches_oracle(isa, size):
    x = RNG.normal(size=(2, 7, 3, 5)).astype(np.float32) * 3
    y = F.local_response_norm(x, size, alpha=0.3, beta=0.75, k=2.0)
    np.testing.assert_allclose(y, lrn64(x, size, 0.3, 0.75, 2.0), rtol=1e-5, atol=1e-6)


def test_lrn_gradients():
    x = RNG.normal(size=(2, 6, 3, 2))
    check_layer(L.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0), x, h=1e-3)
    check_layer(L.LocalResponseNorm(4, alpha=0.2, beta=0.5, k=2.0), x, h=1e-3)


def test_lrn_same_bits_for_thread_counts():
    x = RNG.normal(size=(3, 16, 20, 20)).astype(np.float32)
    same_for_thread_counts(lambda: F.local_response_norm(x, 5))
    layer = L.LocalResponseNorm(5)

    def fwd_bwd():
        y = layer.forward(x)
        return layer.backward(np.cos(y))

    same_for_thread_counts(fwd_bwd)


def test_hard_activations_match_oracle(isa):
    x = np.concatenate([RNG.normal(size=200) * 5, [-3, 3, 0, 6, -0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    np.testing.assert_array_equal(F.relu6(x), np.clip(x, 0, 6))
    np.testing.assert_array_equal(F.hardtanh(x, -2, 0.5), np.clip(x, -2, 0.5))
    np.testing.assert_allclose(F.hardswish(x[:-3]), hardswish64(x[:-3]), rtol=1e-6, atol=1e-7)
    assert np.isnan(F.hardswish(x)[-1]) and np.isnan(F.relu6(x)[-1])


def test_hard_activation_gradients():
    # points kept away from the kinks (0, 6, -3, 3)
    x = RNG.uniform(-8, 8, size=(3, 4, 5))
    for kink in (0, 6, -3, 3):
        x[np.abs(x - kink) < 0.05] += 0.1
    check_layer(L.ReLU6(), x)
    check_layer(L.Hardswish(), x)
    check_layer(L.Hardtanh(-1.5, 2.0), x)


def test_hard_activation_bad_arguments():
    with pytest.raises(ValueError, match="min_val"):
        L.Hardtanh(2, 1)
    with pytest.raises(TypeError, match="min_val"):
        F.hardtanh(np.ones(3, np.float32), "a", 1)


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_channel_shuffle_matches_oracle_and_inverts(isa, groups):
    x = RNG.normal(size=(2, 6, 3, 4)).astype(np.float32)
    layer = L.ChannelShuffle(groups)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, shuffle64(x, groups).astype(np.float32))
    g = RNG.normal(size=y.shape).astype(np.float32)
    # the gradient of a permutation is the inverse permutation: <g, y(x)> = <dx, x>
    dx = layer.backward(g)
    np.testing.assert_allclose(np.sum(dx * x, dtype=np.float64), np.sum(g * y, dtype=np.float64), rtol=1e-6)
    check_layer(L.ChannelShuffle(groups), x.astype(np.float64))


def test_channel_shuffle_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="groups"):
        F.channel_shuffle(np.zeros((1, 5, 2, 2), np.float32), 2)
    with pytest.raises(ValueError, match="groups"):
        L.ChannelShuffle(0)


def test_global_max_pool(isa):
    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(F.global_max_pool2d(x), x.max(axis=(2, 3), keepdims=True))
    x[0, 1, 2, 3] = np.nan
    assert np.isnan(F.global_max_pool2d(x)[0, 1, 0, 0])
    check_layer(L.GlobalMaxPool2d(), RNG.permutation(2 * 3 * 4 * 5).reshape(2, 3, 4, 5) * 0.1)


def test_global_max_pool_gradient_goes_to_first_maximum():
    x = np.zeros((1, 1, 2, 2), np.float32)
    layer = L.GlobalMaxPool2d()
    layer.forward(x)
    dx = layer.backward(np.full((1, 1, 1, 1), 2.0, np.float32))
    np.testing.assert_array_equal(dx.ravel(), [2, 0, 0, 0])


def test_identity_layout_layers_and_affine():
    x = RNG.normal(size=(2, 3, 4, 5))
    check_layer(L.Identity(), x)
    check_layer(L.Reshape((4, -1)), x)
    check_layer(L.Permute((2, 3, 1)), x)
    check_layer(L.ConstantPad2d((1, 0, 2, 1), 0.5), x)
    aff = L.ChannelAffine(3)
    aff.weight.data[:] = [1.5, -2, 0.5]
    aff.bias.data[:] = [0.1, 0.2, -0.3]
    check_layer(aff, x)
    np.testing.assert_allclose(aff.infer(x), x * [[[[1.5]], [[-2]], [[0.5]]]] + [[[[0.1]], [[0.2]], [[-0.3]]]],
                               rtol=1e-6, atol=1e-6)
    assert L.Reshape((-1,)).output_shape((None, 3, 4)) == (None, 12)
    assert L.Permute((2, 1)).output_shape((None, 3, 4)) == (None, 4, 3)
    with pytest.raises(ValueError, match="target_shape"):
        L.Reshape((-1, -1))
    with pytest.raises(ValueError, match="dims"):
        L.Permute((0, 1))
    with pytest.raises(ValueError, match="padding"):
        L.ConstantPad2d(-1, 0.0)


def test_torch_conformance():
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 12, 6, 5)).astype(np.float32) * 4
    t = torch.tensor(x, requires_grad=True)
    cases = [
        (L.LocalResponseNorm(5, 1e-2, 0.75, 2.0), torch.nn.LocalResponseNorm(5, 1e-2, 0.75, 2.0)),
        (L.LocalResponseNorm(4), torch.nn.LocalResponseNorm(4)),
        (L.ReLU6(), torch.nn.ReLU6()),
        (L.Hardswish(), torch.nn.Hardswish()),
        (L.Hardtanh(-2, 3), torch.nn.Hardtanh(-2, 3)),
        (L.ChannelShuffle(4), torch.nn.ChannelShuffle(4)),
        (L.Identity(), torch.nn.Identity()),
        (L.ConstantPad2d((1, 2, 3, 0), 0.5), torch.nn.ConstantPad2d((1, 2, 3, 0), 0.5)),
    ]
    for ours, theirs in cases:
        t.grad = None
        ty = theirs(t)
        gy = RNG.normal(size=tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.tensor(gy))
        y = ours.forward(x)
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=repr(ours))
        dx = ours.backward(gy)
        np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-5, atol=1e-5, err_msg=repr(ours))
    pooled = torch.nn.functional.adaptive_max_pool2d(torch.tensor(x), 1).numpy()
    np.testing.assert_array_equal(F.global_max_pool2d(x), pooled)


def test_new_layers_save_and_load(tmp_path):
    pytest.importorskip("safetensors")
    model = pyconvnet.Sequential([
        L.Conv2d(3, 8, 3, padding=1), L.LocalResponseNorm(3), L.ReLU6(), L.ChannelShuffle(2),
        L.Hardswish(), L.Hardtanh(-1, 2), L.ConstantPad2d(1, 0.0), L.ChannelAffine(8), L.Identity(),
        L.Permute((1, 3, 2)), L.GlobalMaxPool2d(), L.Reshape((-1,)), L.Linear(8, 2),
    ])
    x = RNG.normal(size=(2, 3, 6, 6)).astype(np.float32)
    path = tmp_path / "m.safetensors"
    model.save(path)
    back = pyconvnet.load(path)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert [type(layer).__name__ for layer in back] == [type(layer).__name__ for layer in model]
    assert "LocalResponseNorm" in model.summary()
