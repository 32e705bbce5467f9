"""Depthwise convolution (groups == in_channels) with stride != dilation, against the float64 oracle.

The depthwise kernels index the input as oy*stride - pad + ky*dilation; exchanging stride and
dilation gives the right values whenever they are equal, so every case here has stride != dilation
on at least one axis, and the axes differ from each other. Widths cover the vector kernels' full
16-lane blocks and their tails; strides 1, 2 and 3 take the three column-load variants.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F
from pyconvnet.layers import Conv2d

import conv_oracle64 as oracle

RTOL = 1e-5

# (N, C, H, W), multiplier, kernel, stride, padding (ph, pw), dilation
CASES = [
    ((2, 3, 12, 37), 1, (3, 3), (1, 2), (1, 1), (2, 1)),
    ((1, 4, 15, 40), 1, (3, 3), (2, 1), (0, 2), (1, 3)),
    ((2, 2, 17, 33), 1, (3, 5), (1, 3), (2, 0), (3, 2)),
    ((1, 3, 20, 21), 2, (5, 3), (3, 1), (1, 1), (1, 2)),
    ((2, 5, 11, 18), 1, (2, 2), (2, 2), (1, 0), (1, 3)),
    ((1, 2, 9, 50), 3, (3, 4), (1, 2), (0, 3), (2, 1)),
]


def _ids(case):
    return f"s{case[3]}d{case[5]}m{case[1]}k{case[2]}"


def _setup(case, seed):
    shape, mult, kernel, stride, pad, dil = case
    c = shape[1]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((c * mult, 1) + kernel).astype(np.float32)
    b = rng.standard_normal(c * mult).astype(np.float32)
    return x, w, b, stride, (pad[0], pad[1], pad[0], pad[1]), dil, c


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_depthwise_forward_stride_not_dilation(case, isa):
    x, w, b, stride, pad4, dil, c = _setup(case, seed=21)
    ref = oracle.conv2d(x, w, b, stride, pad4, dil, c)
    y = F.conv2d(x, w, b, stride=stride, padding=case[4], dilation=dil, groups=c)
    oracle.assert_close_to_scale(y, ref, RTOL, "depthwise F.conv2d")
    y_relu = F.conv2d(x, w, b, stride=stride, padding=case[4], dilation=dil, groups=c, relu=True)
    oracle.assert_close_to_scale(y_relu, np.maximum(ref, 0), RTOL, "depthwise F.conv2d relu")


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_depthwise_backward_stride_not_dilation(case, isa):
    x, w, b, stride, pad4, dil, c = _setup(case, seed=22)
    layer = Conv2d(c, w.shape[0], case[2], stride=stride, padding=case[4], dilation=dil, groups=c)
    layer.weight.data[...] = w
    layer.bias.data[...] = b
    y = layer.forward(x)
    oracle.assert_close_to_scale(y, oracle.conv2d(x, w, b, stride, pad4, dil, c), RTOL, "depthwise layer forward")
    dy = np.random.default_rng(23).standard_normal(y.shape).astype(np.float32)
    layer.zero_grad()
    dx = layer.backward(dy)
    rdx, rdw, rdb = oracle.conv2d_grads(x, w, dy, stride, pad4, dil, c)
    oracle.assert_close_to_scale(dx, rdx, RTOL, "depthwise dx")
    oracle.assert_close_to_scale(layer.weight.grad, rdw, RTOL, "depthwise dW")
    oracle.assert_close_to_scale(layer.bias.grad, rdb, RTOL, "depthwise db")
