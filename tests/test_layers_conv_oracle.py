"""Conv2d layer and F.conv2d forward values against the float64 oracle in conv_oracle64.

The padding given to the oracle is written out here (PyTorch's documented 'same' rule, or the
integer (ph, pw) pair placed on both sides), never taken from pyconvnet, so misplacing the extra
'same' pixel or swapping the (h, w) pair fails. Inputs are non-square and kernels rectangular so
that a swapped axis changes the values (and usually the shape).
"""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F
from pyconvnet.layers import Conv2d

import conv_oracle64 as oracle

RTOL = 1e-5  # float32 kernels vs float64, relative to the output's scale


def _data(x_shape, w_shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    b = rng.standard_normal(w_shape[0]).astype(np.float32)
    return x, w, b


def _layer(c, o, kernel, w, b, **kwargs):
    layer = Conv2d(c, o, kernel, **kwargs)
    layer.weight.data[...] = w
    layer.bias.data[...] = b
    return layer


# (kernel, dilation): even, rectangular and dilated kernels, where the total 'same' padding is odd
SAME_CASES = [
    ((2, 2), (1, 1)),
    ((4, 4), (1, 1)),
    ((2, 3), (1, 1)),
    ((3, 4), (1, 1)),
    ((1, 2), (1, 1)),
    ((2, 2), (3, 1)),
    ((2, 4), (1, 3)),
    ((3, 2), (2, 2)),
    ((4, 3), (1, 2)),
]


def test_same_rule_written_out():
    # the oracle's rule, spelled out for a few cases (the extra pixel goes bottom/right)
    assert oracle.same_padding((2, 2), (1, 1)) == (0, 0, 1, 1)
    assert oracle.same_padding((4, 3), (1, 1)) == (1, 1, 2, 1)
    assert oracle.same_padding((2, 4), (3, 1)) == (1, 1, 2, 2)


@pytest.mark.parametrize("kernel,dilation", SAME_CASES)
def test_conv2d_layer_same_padding_values(kernel, dilation, isa):
    c, o, groups = 4, 6, 2
    x, w, b = _data((2, c, 7, 9), (o, c // groups) + kernel, seed=sum(kernel) * 10 + dilation[0])
    layer = _layer(c, o, kernel, w, b, padding="same", dilation=dilation, groups=groups)
    y = layer.forward(x)
    ref = oracle.conv2d(x, w, b, (1, 1), oracle.same_padding(kernel, dilation), dilation, groups)
    assert y.shape == x.shape[:1] + (o,) + x.shape[2:]
    oracle.assert_close_to_scale(y, ref, RTOL, f"Conv2d same {kernel} d={dilation}")


@pytest.mark.parametrize("kernel,dilation", SAME_CASES)
def test_functional_conv2d_same_padding_values(kernel, dilation, isa):
    c, o = 3, 5
    x, w, b = _data((2, c, 8, 6), (o, c) + kernel, seed=7 + sum(kernel) + dilation[1])
    y = F.conv2d(x, w, b, padding="same", dilation=dilation)
    ref = oracle.conv2d(x, w, b, (1, 1), oracle.same_padding(kernel, dilation), dilation, 1)
    oracle.assert_close_to_scale(y, ref, RTOL, f"F.conv2d same {kernel} d={dilation}")
    # unbatched (C, H, W) input pads the same way
    y1 = F.conv2d(x[1], w, b, padding="same", dilation=dilation)
    oracle.assert_close_to_scale(y1, ref[1], RTOL, "F.conv2d same, unbatched")


@pytest.mark.parametrize("kernel,dilation", [((2, 3), (1, 1)), ((4, 2), (1, 2))])
def test_conv2d_layer_same_padding_gradient(kernel, dilation):
    # backward uses the same padding: dx near the bottom/right border differs when it is misplaced
    c, o = 2, 3
    x, w, b = _data((2, c, 6, 7), (o, c) + kernel, seed=3)
    layer = _layer(c, o, kernel, w, b, padding="same", dilation=dilation)
    layer.forward(x)
    dy = np.random.default_rng(4).standard_normal((2, o, 6, 7)).astype(np.float32)
    dx = layer.backward(dy)
    rdx, rdw, _ = oracle.conv2d_grads(x, w, dy, (1, 1), oracle.same_padding(kernel, dilation), dilation, 1)
    oracle.assert_close_to_scale(dx, rdx, RTOL, "dx, same padding")
    oracle.assert_close_to_scale(layer.weight.grad, rdw, RTOL, "dw, same padding")


# (padding pair, kernel, stride, dilation) with ph != pw
ASYM_CASES = [
    ((1, 2), (3, 3), (1, 1), (1, 1)),
    ((0, 3), (3, 2), (1, 1), (1, 1)),
    ((2, 0), (2, 3), (2, 1), (1, 1)),
    ((3, 1), (3, 3), (1, 2), (2, 1)),
]


@pytest.mark.parametrize("pad,kernel,stride,dilation", ASYM_CASES)
def test_conv2d_asymmetric_integer_padding(pad, kernel, stride, dilation, isa):
    c, o = 4, 4
    x, w, b = _data((2, c, 7, 10), (o, c) + kernel, seed=pad[0] * 5 + pad[1])
    pad4 = (pad[0], pad[1], pad[0], pad[1])  # rows get ph on top and bottom, columns pw left and right
    ref = oracle.conv2d(x, w, b, stride, pad4, dilation, 1)
    layer = _layer(c, o, kernel, w, b, padding=pad, stride=stride, dilation=dilation)
    oracle.assert_close_to_scale(layer.forward(x), ref, RTOL, f"Conv2d padding={pad}")
    y = F.conv2d(x, w, b, stride=stride, padding=pad, dilation=dilation)
    oracle.assert_close_to_scale(y, ref, RTOL, f"F.conv2d padding={pad}")
