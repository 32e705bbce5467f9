"""Values of the Conv2d and Linear gradients (dx, dW, db) against float64 references.

tests/gradcheck.py checks gradients by finite differences of the float32 forward, which needs
loose tolerances (rtol 2e-3): a gradient scaled by 0.999 passes it. Here the references are float64
and the tolerance is rtol 1e-5 relative to the gradient's scale, so a 0.1 % error fails by 100x.

Two independent references:
  * the gradient formulas written out in float64 (conv_oracle64.conv2d_grads; dW = dY^T X,
    db = sum dY, dX = dY W for Linear);
  * central finite differences of a float64 loss L = sum(dy * f(x; w, b)), where f is the float64
    oracle forward (itself checked against the layer's forward). L is linear in each of x, w and
    b separately, so the central difference is exact up to float64 rounding (~1e-13 relative with
    step 1): its only error is float64's, and the comparison measures the float32 backward alone.
    This checks the analytic gradient against the derivative of the forward without trusting any
    hand-derived gradient formula.
"""

from __future__ import annotations

import numpy as np
import pytest

from pyconvnet.layers import Conv2d, Linear

import conv_oracle64 as oracle

RTOL = 1e-5


def _normal(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------------------------- Conv2d
# (N, C, H, W), out_channels, kernel, stride, padding (top, left, bottom, right as ints per axis), dilation, groups
CONV_CASES = [
    dict(x=(2, 8, 12, 11), o=16, k=(3, 3), stride=(1, 1), pad=(1, 1), dil=(1, 1), groups=1),
    dict(x=(2, 8, 11, 13), o=12, k=(3, 2), stride=(2, 1), pad=(1, 0), dil=(1, 1), groups=2),
    dict(x=(3, 6, 13, 12), o=6, k=(3, 3), stride=(1, 2), pad=(2, 1), dil=(2, 1), groups=3),
    dict(x=(2, 8, 14, 15), o=8, k=(2, 3), stride=(2, 2), pad=(0, 2), dil=(1, 2), groups=4),
    dict(x=(2, 8, 10, 19), o=8, k=(3, 3), stride=(2, 1), pad=(1, 1), dil=(1, 2), groups=8),  # depthwise
    dict(x=(2, 4, 9, 18), o=8, k=(5, 3), stride=(1, 2), pad=(2, 1), dil=(1, 1), groups=4),  # depthwise x2
    dict(x=(4, 3, 9, 9), o=5, k=(1, 1), stride=(1, 1), pad=(0, 0), dil=(1, 1), groups=1),
]


def _conv_case(case, seed):
    rng = np.random.default_rng(seed)
    n, c, h, w = case["x"]
    layer = Conv2d(c, case["o"], case["k"], stride=case["stride"], padding=case["pad"],
                   dilation=case["dil"], groups=case["groups"])
    layer.weight.data[...] = _normal(rng, layer.weight.data.shape)
    layer.bias.data[...] = _normal(rng, layer.bias.data.shape)
    x = _normal(rng, case["x"])
    ph, pw = case["pad"]
    geom = (case["stride"], (ph, pw, ph, pw), case["dil"], case["groups"])
    return layer, x, geom, rng


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"g{c['groups']}s{c['stride']}d{c['dil']}p{c['pad']}")
def test_conv2d_gradients_match_float64_formulas(case, isa):
    layer, x, (stride, pad4, dil, groups), rng = _conv_case(case, seed=11)
    w, b = layer.weight.data.copy(), layer.bias.data.copy()
    y = layer.forward(x)
    oracle.assert_close_to_scale(y, oracle.conv2d(x, w, b, stride, pad4, dil, groups), RTOL, "forward")
    dy = _normal(rng, y.shape)
    layer.zero_grad()
    dx = layer.backward(dy)
    rdx, rdw, rdb = oracle.conv2d_grads(x, w, dy, stride, pad4, dil, groups)
    oracle.assert_close_to_scale(dx, rdx, RTOL, "dx")
    oracle.assert_close_to_scale(layer.weight.grad, rdw, RTOL, "dW")
    oracle.assert_close_to_scale(layer.bias.grad, rdb, RTOL, "db")
    # a second backward adds to .grad: the sum is twice the float64 reference
    layer.forward(x)
    layer.backward(dy)
    oracle.assert_close_to_scale(layer.weight.grad, 2 * rdw, RTOL, "accumulated dW")
    oracle.assert_close_to_scale(layer.bias.grad, 2 * rdb, RTOL, "accumulated db")


def _central_difference(loss, theta):
    """dL/dtheta by central differences in float64, step 1 (L is linear in theta)."""
    theta = theta.astype(np.float64)
    grad = np.empty_like(theta)
    flat, gflat = theta.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + 1.0
        up = loss(theta)
        flat[i] = keep - 1.0
        down = loss(theta)
        flat[i] = keep
        gflat[i] = (up - down) / 2.0
    return grad


@pytest.mark.parametrize("groups,stride,pad,dil", [(2, (2, 1), (1, 0), (1, 2)), (4, (1, 2), (0, 1), (2, 1))])
def test_conv2d_gradients_match_float64_finite_differences(groups, stride, pad, dil):
    rng = np.random.default_rng(5)
    c, o = 4, 4
    layer = Conv2d(c, o, (2, 3), stride=stride, padding=pad, dilation=dil, groups=groups)
    w = layer.weight.data
    w[...] = _normal(rng, w.shape)
    b = layer.bias.data
    b[...] = _normal(rng, b.shape)
    x = _normal(rng, (2, c, 6, 7))
    pad4 = (pad[0], pad[1], pad[0], pad[1])
    y = layer.forward(x)
    oracle.assert_close_to_scale(y, oracle.conv2d(x, w, b, stride, pad4, dil, groups), RTOL, "forward")
    dy = _normal(rng, y.shape).astype(np.float64)
    layer.zero_grad()
    dx = layer.backward(dy.astype(np.float32))

    def loss(xx, ww, bb):
        return float(np.sum(dy * oracle.conv2d(xx, ww, bb, stride, pad4, dil, groups)))

    fd_w = _central_difference(lambda t: loss(x, t, b), w)
    fd_b = _central_difference(lambda t: loss(x, w, t), b)
    fd_x = _central_difference(lambda t: loss(t, w, b), x)
    oracle.assert_close_to_scale(layer.weight.grad, fd_w, RTOL, "dW vs finite differences")
    oracle.assert_close_to_scale(layer.bias.grad, fd_b, RTOL, "db vs finite differences")
    oracle.assert_close_to_scale(dx, fd_x, RTOL, "dx vs finite differences")


# ---------------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("n,fin,fout", [(1, 7, 3), (5, 33, 17), (64, 96, 40), (130, 257, 65)])
def test_linear_gradients_match_float64_formulas(n, fin, fout, isa):
    rng = np.random.default_rng(n + fin)
    layer = Linear(fin, fout)
    layer.weight.data[...] = _normal(rng, (fout, fin))
    layer.bias.data[...] = _normal(rng, (fout,))
    w64 = layer.weight.data.astype(np.float64)
    x = _normal(rng, (n, fin))
    y = layer.forward(x)
    oracle.assert_close_to_scale(y, x.astype(np.float64) @ w64.T + layer.bias.data, RTOL, "forward")
    dy = _normal(rng, (n, fout))
    dy64 = dy.astype(np.float64)
    layer.zero_grad()
    dx = layer.backward(dy)
    oracle.assert_close_to_scale(dx, dy64 @ w64, RTOL, "dx = dY W")
    oracle.assert_close_to_scale(layer.weight.grad, dy64.T @ x.astype(np.float64), RTOL, "dW = dY^T X")
    oracle.assert_close_to_scale(layer.bias.grad, dy64.sum(axis=0), RTOL, "db = sum dY")
    layer.forward(x)
    layer.backward(dy)
    oracle.assert_close_to_scale(layer.weight.grad, 2 * (dy64.T @ x.astype(np.float64)), RTOL, "accumulated dW")
    oracle.assert_close_to_scale(layer.bias.grad, 2 * dy64.sum(axis=0), RTOL, "accumulated db")


def test_linear_gradients_match_float64_finite_differences():
    rng = np.random.default_rng(9)
    n, fin, fout = 3, 6, 4
    layer = Linear(fin, fout)
    w, b = layer.weight.data, layer.bias.data
    w[...] = _normal(rng, w.shape)
    b[...] = _normal(rng, b.shape)
    x = _normal(rng, (n, fin))
    layer.forward(x)
    dy = _normal(rng, (n, fout)).astype(np.float64)
    layer.zero_grad()
    dx = layer.backward(dy.astype(np.float32))

    def loss(xx, ww, bb):
        # the forward written as explicit float64 sums, not a matrix product
        out = np.zeros((n, fout))
        for i in range(n):
            for j in range(fout):
                out[i, j] = bb[j] + sum(float(xx[i, k]) * float(ww[j, k]) for k in range(fin))
        return float(np.sum(dy * out))

    oracle.assert_close_to_scale(layer.weight.grad, _central_difference(lambda t: loss(x, t, b), w), RTOL, "dW")
    oracle.assert_close_to_scale(layer.bias.grad, _central_difference(lambda t: loss(x, w, t), b), RTOL, "db")
    oracle.assert_close_to_scale(dx, _central_difference(lambda t: loss(t, w, b), x), RTOL, "dx")


def test_frozen_linear_weight_still_gives_exact_dx_and_db():
    # the dx/db path without dW (weight frozen) is a different call into the kernels
    rng = np.random.default_rng(2)
    layer = Linear(19, 11)
    layer.weight.data[...] = _normal(rng, (11, 19))
    layer.weight.trainable = False
    x = _normal(rng, (9, 19))
    layer.forward(x)
    dy = _normal(rng, (9, 11))
    layer.zero_grad()
    dx = layer.backward(dy)
    oracle.assert_close_to_scale(dx, dy.astype(np.float64) @ layer.weight.data.astype(np.float64), RTOL, "dx")
    oracle.assert_close_to_scale(layer.bias.grad, dy.astype(np.float64).sum(axis=0), RTOL, "db")
    assert not layer.weight.grad.any()
