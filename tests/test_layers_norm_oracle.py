"""BatchNorm2d against a float64 oracle of torch.nn.BatchNorm2d's documented rules.

Training normalises with the batch mean and biased variance and updates
running = (1 - momentum) * running + momentum * batch (unbiased variance); eval normalises
with the running statistics. eps values far from the default 1e-5 make a layer that ignores
its own eps fail; momentum values far from 0.1 do the same for momentum.
"""

import numpy as np
import pytest

from pyconvnet.layers import BatchNorm2d

AXES = (0, 2, 3)


def _c(v):
    return np.asarray(v, np.float64).reshape(1, -1, 1, 1)


def bn_eval_oracle(x, w, b, rmean, rvar, eps):
    x = np.asarray(x, np.float64)
    return (x - _c(rmean)) / np.sqrt(_c(rvar) + eps) * _c(w) + _c(b)


def bn_train_oracle(x, w, b, rmean, rvar, eps, momentum):
    """(y, new running mean, new running var, batch mean, biased batch var)."""
    x = np.asarray(x, np.float64)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.sum(axis=AXES) / count
    var = ((x - _c(mean)) ** 2).sum(axis=AXES) / count
    y = (x - _c(mean)) / np.sqrt(_c(var) + eps) * _c(w) + _c(b)
    new_mean = (1 - momentum) * np.asarray(rmean, np.float64) + momentum * mean
    new_var = (1 - momentum) * np.asarray(rvar, np.float64) + momentum * var * count / (count - 1)
    return y, new_mean, new_var, mean, var


def bn_train_grad_oracle(x, gy, w, eps):
    """Input gradient of the training-mode forward, derived by hand (batch stats depend on x)."""
    x, gy = np.asarray(x, np.float64), np.asarray(gy, np.float64)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=AXES)
    var = ((x - _c(mean)) ** 2).mean(axis=AXES)
    inv = 1.0 / np.sqrt(var + eps)
    xhat = (x - _c(mean)) * _c(inv)
    sum_g = gy.sum(axis=AXES)
    sum_gx = (gy * xhat).sum(axis=AXES)
    dx = _c(np.asarray(w, np.float64) * inv / count) * (count * gy - _c(sum_g) - xhat * _c(sum_gx))
    return dx, sum_gx, sum_g


def _layer(c, eps, momentum, seed):
    rng = np.random.default_rng(seed)
    bn = BatchNorm2d(c, eps=eps, momentum=momentum)
    bn.weight.data[...] = rng.uniform(0.5, 2.0, c)
    bn.bias.data[...] = rng.normal(size=c)
    bn.running_mean[...] = rng.normal(size=c)
    # small running variances, so that eps is a large part of rvar + eps
    bn.running_var[...] = rng.uniform(0.01, 0.2, c)
    return bn


def _x(shape, seed):
    rng = np.random.default_rng(seed)
    # small per-channel spread (variance ~ 0.01-0.1): eps = 1e-3 still moves the output by ~1-5 %
    scale = rng.uniform(0.1, 0.3, shape[1]).reshape(1, -1, 1, 1)
    return (rng.normal(size=shape) * scale + rng.normal(size=(1, shape[1], 1, 1))).astype(np.float32)


PARAMS = [(0.1, 0.1), (1e-3, 0.3), (0.5, 0.75), (1e-3, 0.0), (0.1, 1.0)]


@pytest.mark.parametrize("eps,momentum", PARAMS)
def test_eval_matches_oracle(eps, momentum):
    bn = _layer(3, eps, momentum, seed=1)
    bn.eval()
    x = _x((2, 3, 4, 5), seed=2)
    want = bn_eval_oracle(x, bn.weight.data, bn.bias.data, bn.running_mean, bn.running_var, eps)
    np.testing.assert_allclose(bn.infer(x), want, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(bn.forward(x), want, rtol=2e-5, atol=2e-6)
    # eval backward: a per-channel affine map with the running statistics
    gy = np.random.default_rng(3).normal(size=x.shape).astype(np.float32)
    bn.weight.grad[...] = 0
    bn.bias.grad[...] = 0
    gx = bn.backward(gy)
    inv = 1.0 / np.sqrt(bn.running_var.astype(np.float64) + eps)
    np.testing.assert_allclose(gx, gy * _c(bn.weight.data * inv), rtol=2e-5, atol=2e-6)
    xhat = (x - _c(bn.running_mean)) * _c(inv)
    np.testing.assert_allclose(bn.weight.grad, (gy * xhat).sum(axis=AXES), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("eps,momentum", PARAMS)
def test_train_steps_match_oracle(eps, momentum):
    bn = _layer(4, eps, momentum, seed=4)
    bn.train()
    w, b = bn.weight.data.astype(np.float64), bn.bias.data.astype(np.float64)
    rmean, rvar = bn.running_mean.astype(np.float64), bn.running_var.astype(np.float64)
    for step in range(3):
        x = _x((3, 4, 3, 5), seed=10 + step)
        y, rmean, rvar, _, _ = bn_train_oracle(x, w, b, rmean, rvar, eps, momentum)
        np.testing.assert_allclose(bn.forward(x), y, rtol=1e-4, atol=2e-5)
        np.testing.assert_allclose(bn.running_mean, rmean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var, rvar, rtol=1e-5, atol=1e-6)
    gy = np.random.default_rng(5).normal(size=x.shape).astype(np.float32)
    bn.weight.grad[...] = 0
    bn.bias.grad[...] = 0
    gx = bn.backward(gy)
    dx, dw, db = bn_train_grad_oracle(x, gy, w, eps)
    np.testing.assert_allclose(gx, dx, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bn.weight.grad, dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.bias.grad, db, rtol=1e-5, atol=1e-5)
    # then eval uses the running statistics the training steps left behind
    bn.eval()
    x = _x((2, 4, 3, 3), seed=20)
    np.testing.assert_allclose(bn.infer(x), bn_eval_oracle(x, w, b, rmean, rvar, eps), rtol=1e-4, atol=2e-5)


def test_default_eps_and_momentum_are_torchs():
    bn = BatchNorm2d(2)
    assert bn.eps == 1e-5 and bn.momentum == 0.1
    bn.train()
    x = _x((4, 2, 3, 3), seed=7)
    y, rmean, rvar, _, _ = bn_train_oracle(x, np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), 1e-5, 0.1)
    np.testing.assert_allclose(bn.forward(x), y, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(bn.running_mean, rmean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var, rvar, rtol=1e-5, atol=1e-6)
