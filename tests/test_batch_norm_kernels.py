"""BatchNorm2d kernels (_C.batch_norm2d_*): forward (train / eval) and backward.

Oracle: float64 NumPy (tests/reference/pool.py); torch is an extra oracle when installed.
Statistics are per channel over (N, H, W) in a fixed order: thread counts 1/2/3 must give
identical bits on every tier. The avx512 tier sums each plane in its own fixed order (32 chains),
so its train-mode and backward results differ from ref by rounding only; eval mode (no sums) gives
the ref bits on every tier.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import threads as use_threads
from conftest import same_for_thread_counts, use_isa
from pyconvnet import _C
from reference import pool as R

SHAPES = [(2, 3, 1, 1), (1, 1, 1, 2), (4, 5, 3, 7), (3, 2, 8, 9), (2, 4, 17, 33), (5, 1, 1, 1)]


def data(shape, seed=0, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    x = (offset + scale * rng.standard_normal(shape)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_forward_train(isa, shape, affine):
    x, w, b = data(shape, seed=sum(shape))
    if not affine:
        w = b = None
    y, mean, invstd, var_u = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
    ry, rmean, rinv, rvar = R.batch_norm2d_train(x, w, b, 1e-5)
    for a in (y, mean, invstd, var_u):
        assert a.dtype == np.float32
    assert y.shape == shape and mean.shape == invstd.shape == var_u.shape == (shape[1],)
    np.testing.assert_allclose(mean, rmean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-6)
    np.testing.assert_allclose(var_u, rvar, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-5)


def test_forward_train_large_offset_is_accurate(isa):
    # mean 1000, std 0.01: one-pass float sums would lose the variance entirely
    x, w, b = data((4, 3, 10, 10), seed=1, offset=1000.0, scale=0.01)
    y, mean, invstd, var_u = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
    ry, rmean, rinv, rvar = R.batch_norm2d_train(x, w, b, 1e-5)
    np.testing.assert_allclose(var_u, rvar, rtol=1e-5)
    np.testing.assert_allclose(invstd, rinv, rtol=1e-5)
    np.testing.assert_allclose(y, ry, rtol=1e-4, atol=1e-4)


def test_forward_train_constant_channel(isa):
    x = np.full((2, 2, 3, 3), 7.0, np.float32)
    y, mean, invstd, var_u = _C.batch_norm2d_forward_train(x, None, None, 1e-5)
    np.testing.assert_array_equal(mean, [7.0, 7.0])
    np.testing.assert_array_equal(var_u, [0.0, 0.0])
    np.testing.assert_allclose(invstd, 1 / np.sqrt(1e-5), rtol=1e-6)
    np.testing.assert_array_equal(y, np.zeros_like(x))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_eval(isa, shape):
    x, w, b = data(shape, seed=3)
    rng = np.random.default_rng(4)
    rm = rng.standard_normal(shape[1]).astype(np.float32)
    rv = rng.uniform(0.1, 2.0, shape[1]).astype(np.float32)
    y = _C.batch_norm2d_forward_eval(x, w, b, rm, rv, 1e-3)
    np.testing.assert_allclose(y, R.batch_norm2d_eval(x, w, b, rm, rv, 1e-3), rtol=1e-5, atol=1e-6)
    y0 = _C.batch_norm2d_forward_eval(x, None, None, rm, rv, 1e-3)
    np.testing.assert_allclose(y0, R.batch_norm2d_eval(x, None, None, rm, rv, 1e-3), rtol=1e-5, atol=1e-6)


def test_forward_eval_empty_batch():
    x = np.zeros((0, 3, 4, 4), np.float32)
    ones = np.ones(3, np.float32)
    assert _C.batch_norm2d_forward_eval(x, ones, ones, ones, ones, 1e-5).shape == x.shape


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", [True, False])
def test_backward(isa, shape, affine):
    x, w, b = data(shape, seed=5)
    if not affine:
        w = b = None
    _, mean, invstd, _ = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
    g = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    dx, dw, db = _C.batch_norm2d_backward(x, g, w, mean, invstd)
    rdx, rdw, rdb = R.batch_norm2d_backward(x, g, w, mean, invstd)
    assert dx.shape == shape and dw.shape == db.shape == (shape[1],)
    np.testing.assert_allclose(db, rdb, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dw, rdw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-5)


def test_backward_oracle_matches_finite_differences():
    # The oracle's analytic gradient against central differences of the float64 forward.
    shape = (2, 2, 3, 2)
    x, w, b = data(shape, seed=7)
    x = x.astype(np.float64)
    g = np.random.default_rng(8).standard_normal(shape)
    eps = 1e-5

    def loss(xx, ww, bb):
        return float((R.batch_norm2d_train(xx, ww, bb, eps)[0] * g).sum())

    _, mean, invstd, _ = R.batch_norm2d_train(x, w, b, eps)
    rdx, rdw, rdb = R.batch_norm2d_backward(x, g, w, mean, invstd)
    h = 1e-6
    wd, bd = w.astype(np.float64), b.astype(np.float64)
    for name, arr, grad in (("x", x, rdx), ("weight", wd, rdw), ("bias", bd, rdb)):
        num = np.zeros(arr.size)
        for i in range(arr.size):
            orig = arr.flat[i]
            arr.flat[i] = orig + h
            fp = loss(x, wd, bd)
            arr.flat[i] = orig - h
            fm = loss(x, wd, bd)
            arr.flat[i] = orig
            num[i] = (fp - fm) / (2 * h)
        np.testing.assert_allclose(np.asarray(grad).reshape(-1), num, rtol=1e-5, atol=1e-6, err_msg=name)


def test_threads_bit_identical(isa):
    x, w, b = data((5, 7, 19, 23), seed=9)
    g = np.random.default_rng(10).standard_normal(x.shape).astype(np.float32)
    rm, rv = np.zeros(7, np.float32), np.ones(7, np.float32)
    out = {}
    for n in (1, 2, 3):
        with use_threads(n):
            train = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
            ev = _C.batch_norm2d_forward_eval(x, w, b, rm, rv, 1e-5)
            bwd = _C.batch_norm2d_backward(x, g, w, train[1], train[2])
            out[n] = list(train) + [ev] + list(bwd)
    for n in (2, 3):
        for a, c in zip(out[1], out[n]):
            assert np.array_equal(a, c)


def test_one_value_per_channel_raises():
    x = np.ones((1, 3, 1, 1), np.float32)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        _C.batch_norm2d_forward_train(x, None, None, 1e-5)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        _C.batch_norm2d_forward_train(np.ones((0, 3, 4, 4), np.float32), None, None, 1e-5)
    # eval mode has no such restriction
    ones = np.ones(3, np.float32)
    assert _C.batch_norm2d_forward_eval(x, ones, ones, ones, ones, 1e-5).shape == x.shape


def test_bad_arguments():
    x, w, b = data((2, 3, 4, 4))
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.batch_norm2d_forward_train(x[0], w, b, 1e-5)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        _C.batch_norm2d_forward_train(x, w[:2].copy(), b, 1e-5)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        _C.batch_norm2d_forward_train(x, w, b[None].copy(), 1e-5)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        _C.batch_norm2d_forward_train(x, w, b, -1.0)
    with pytest.raises(ValueError, match="eps"):
        _C.batch_norm2d_forward_eval(x, w, b, w, w, float("nan"))
    with pytest.raises(ValueError, match="running_var must be a float32 array of shape"):
        _C.batch_norm2d_forward_eval(x, w, b, w, None, 1e-5)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        _C.batch_norm2d_forward_eval(x, w, b, np.ones(4, np.float32), w, 1e-5)
    with pytest.raises(TypeError, match="x must have dtype float32"):
        _C.batch_norm2d_forward_train(x.astype(np.float64), w, b, 1e-5)
    with pytest.raises(TypeError, match="weight must have dtype float32"):
        _C.batch_norm2d_forward_train(x, w.astype(np.float64), b, 1e-5)
    with pytest.raises(TypeError, match="x must be C-contiguous"):
        _C.batch_norm2d_forward_train(x.transpose(0, 1, 3, 2), w, b, 1e-5)
    _, mean, invstd, _ = _C.batch_norm2d_forward_train(x, w, b, 1e-5)
    with pytest.raises(ValueError, match="grad_y must have the shape of x"):
        _C.batch_norm2d_backward(x, x[:1].copy(), w, mean, invstd)
    with pytest.raises(ValueError, match=r"batch_invstd must have shape \(3,\)"):
        _C.batch_norm2d_backward(x, x, w, mean, invstd[:1].copy())


def test_against_torch():
    torch = pytest.importorskip("torch")
    x, w, b = data((4, 6, 7, 9), seed=11, offset=0.5)
    momentum, eps = 0.1, 1e-5
    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    rm, rv = torch.zeros(6), torch.ones(6)
    ty = torch.nn.functional.batch_norm(tx, rm, rv, tw, tb, training=True, momentum=momentum, eps=eps)
    g = np.random.default_rng(12).standard_normal(x.shape).astype(np.float32)
    ty.backward(torch.from_numpy(g))
    y, mean, invstd, var_u = _C.batch_norm2d_forward_train(x, w, b, eps)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    # the layer's running update, as torch.nn.BatchNorm2d
    np.testing.assert_allclose((1 - momentum) * 0 + momentum * mean, rm.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose((1 - momentum) * 1 + momentum * var_u, rv.numpy(), rtol=1e-5)
    dx, dw, db = _C.batch_norm2d_backward(x, g, w, mean, invstd)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-5, atol=1e-5)
    ye = _C.batch_norm2d_forward_eval(x, w, b, rm.numpy(), rv.numpy(), eps)
    te = torch.nn.functional.batch_norm(torch.from_numpy(x), rm, rv, torch.from_numpy(w), torch.from_numpy(b), training=False, eps=eps)
    np.testing.assert_allclose(ye, te.numpy(), rtol=1e-5, atol=1e-5)


# Plane sizes around the avx512 kernels' 8-element units (masked last unit) and 32-element steps
# (four accumulators), with a large common offset: a dropped, doubled or unmasked element moves
# the statistics far beyond rounding.
EDGE_HW = [(1, 1), (1, 7), (1, 8), (1, 9), (3, 5), (1, 16), (1, 17), (1, 31), (4, 8), (1, 33),
           (5, 7), (1, 63), (1, 65), (7, 9)]


@pytest.mark.parametrize("hw", EDGE_HW, ids=str)
def test_plane_edges(isa, hw):
    shape = (3, 2) + hw
    x, w, b = data(shape, seed=hw[0] * 100 + hw[1], offset=50.0, scale=3.0)
    g = (np.random.default_rng(hw[1]).standard_normal(shape) + 2.0).astype(np.float32)
    y, mean, invstd, var_u = same_for_thread_counts(lambda: _C.batch_norm2d_forward_train(x, w, b, 1e-5))
    ry, rmean, rinv, rvar = R.batch_norm2d_train(x, w, b, 1e-5)
    np.testing.assert_allclose(mean, rmean, rtol=1e-7)
    np.testing.assert_allclose(var_u, rvar, rtol=2e-6)
    np.testing.assert_allclose(invstd, rinv, rtol=2e-6)
    np.testing.assert_allclose(y, ry, rtol=1e-5, atol=1e-5)
    dx, dw, db = same_for_thread_counts(lambda: _C.batch_norm2d_backward(x, g, w, mean, invstd))
    rdx, rdw, rdb = R.batch_norm2d_backward(x, g, w, mean, invstd)
    np.testing.assert_allclose(db, rdb, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dw, rdw, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, rdx, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hw", EDGE_HW, ids=str)
def test_eval_same_bits_on_every_tier(hw):
    shape = (2, 3) + hw
    x, w, b = data(shape, seed=hw[1], offset=1.0, scale=5.0)
    rng = np.random.default_rng(11)
    rm = rng.standard_normal(3).astype(np.float32)
    rv = rng.uniform(0.1, 2.0, 3).astype(np.float32)
    with use_isa("ref"):
        ref = _C.batch_norm2d_forward_eval(x, w, b, rm, rv, 1e-3)
    for tier in _C.supported_isas():
        with use_isa(tier):
            got = _C.batch_norm2d_forward_eval(x, w, b, rm, rv, 1e-3)
        assert got.tobytes() == ref.tobytes(), tier
