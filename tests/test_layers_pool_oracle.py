"""AvgPool2d (layer and functional) against a float64 oracle of PyTorch's divisor rules.

With padding > 0 the two count_include_pad settings give different divisors at the border, so
a layer that drops or inverts the flag fails here without torch. The oracle is written from
PyTorch's documented semantics and shares no code with pyconvnet or tests/reference.
"""

import math

import numpy as np
import pytest

import pyconvnet.functional as F
from pyconvnet.layers import AvgPool2d


def _out_len(n, k, s, p, ceil_mode):
    span = n + 2 * p - k
    o = (math.ceil(span / s) if ceil_mode else span // s) + 1
    # a ceil_mode window that would start in the right padding is dropped
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def _windows(n, k, s, p, ceil_mode):
    """Per output index: (first, last) input index of the window clipped to the input, and the
    window length clipped to the padded input (the count_include_pad divisor)."""
    out = []
    for o in range(_out_len(n, k, s, p, ceil_mode)):
        start = o * s - p
        end_padded = min(start + k, n + p)  # cells of a ceil_mode overhang past the pad never count
        out.append((max(start, 0), min(end_padded, n), end_padded - start))
    return out


def avg_pool_oracle(x, k, s, p, ceil_mode, count_include_pad):
    x = np.asarray(x, np.float64)
    rows = _windows(x.shape[2], k[0], s[0], p[0], ceil_mode)
    cols = _windows(x.shape[3], k[1], s[1], p[1], ceil_mode)
    y = np.zeros(x.shape[:2] + (len(rows), len(cols)))
    for i, (r0, r1, rlen) in enumerate(rows):
        for j, (c0, c1, clen) in enumerate(cols):
            div = rlen * clen if count_include_pad else (r1 - r0) * (c1 - c0)
            y[:, :, i, j] = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3)) / div
    return y


def avg_pool_grad_oracle(gy, in_shape, k, s, p, ceil_mode, count_include_pad):
    """The adjoint of avg_pool_oracle: each output's gradient spread evenly over its divisor."""
    gy = np.asarray(gy, np.float64)
    rows = _windows(in_shape[2], k[0], s[0], p[0], ceil_mode)
    cols = _windows(in_shape[3], k[1], s[1], p[1], ceil_mode)
    gx = np.zeros(in_shape)
    for i, (r0, r1, rlen) in enumerate(rows):
        for j, (c0, c1, clen) in enumerate(cols):
            div = rlen * clen if count_include_pad else (r1 - r0) * (c1 - c0)
            gx[:, :, r0:r1, c0:c1] += (gy[:, :, i, j] / div)[:, :, None, None]
    return gx


# (input shape, kernel, stride, padding, ceil_mode): every case has padding > 0; the ceil_mode
# ones have a last window hanging over the padded input.
CASES = [
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1), False),
    ((2, 3, 7, 6), (3, 3), (2, 2), (1, 1), True),
    ((1, 2, 8, 9), (4, 2), (3, 2), (2, 1), True),
    ((1, 2, 5, 5), (2, 2), (2, 2), (1, 1), False),
    ((3, 1, 6, 7), (3, 2), (1, 3), (1, 0), True),
    ((1, 4, 9, 4), (5, 3), (2, 1), (2, 1), False),
]


def _x(shape, seed):
    # positive values: a wrong divisor cannot cancel against the sum
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=shape).astype(np.float32)


def test_oracle_divisors_by_hand():
    # 1 x 3 input, kernel 2, stride 2, pad 1, ceil_mode: windows [-1, 0] and [1, 2]; a third
    # one would start in the right padding and is dropped.
    x = np.array([[[[2.0, 4.0, 8.0]]]])
    k, s, p = (1, 2), (1, 2), (0, 1)
    np.testing.assert_array_equal(avg_pool_oracle(x, k, s, p, True, True), [[[[1.0, 6.0]]]])
    np.testing.assert_array_equal(avg_pool_oracle(x, k, s, p, True, False), [[[[2.0, 6.0]]]])
    # 1 x 4 input, kernel 3, stride 2, pad 1, ceil_mode: the last window [3, 5] hangs past the
    # padded input [-1, 4]; its include-pad divisor is 2 (cells 3 and 4), the exclude-pad one 1.
    x = np.array([[[[1.0, 2.0, 3.0, 4.0]]]])
    got = avg_pool_oracle(x, (1, 3), (1, 2), (0, 1), True, True)
    np.testing.assert_allclose(got, [[[[3.0 / 3, 9.0 / 3, 4.0 / 2]]]])
    got = avg_pool_oracle(x, (1, 3), (1, 2), (0, 1), True, False)
    np.testing.assert_allclose(got, [[[[3.0 / 2, 9.0 / 3, 4.0 / 1]]]])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,k,s,p,ceil_mode", CASES)
def test_avg_pool_layer_matches_oracle(shape, k, s, p, ceil_mode, count_include_pad):
    x = _x(shape, seed=sum(shape))
    layer = AvgPool2d(k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    want = avg_pool_oracle(x, k, s, p, ceil_mode, count_include_pad)
    for y in (layer.forward(x), layer.infer(x)):
        assert y.shape == want.shape
        np.testing.assert_allclose(y, want, rtol=1e-6, atol=0)
    gy = np.random.default_rng(1).normal(size=want.shape).astype(np.float32)
    layer.forward(x)
    gx = layer.backward(gy)
    np.testing.assert_allclose(gx, avg_pool_grad_oracle(gy, x.shape, k, s, p, ceil_mode, count_include_pad),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,k,s,p,ceil_mode", CASES)
def test_avg_pool_functional_matches_oracle(shape, k, s, p, ceil_mode, count_include_pad):
    x = _x(shape, seed=len(shape) + shape[-1])
    y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    np.testing.assert_allclose(y, avg_pool_oracle(x, k, s, p, ceil_mode, count_include_pad), rtol=1e-6, atol=0)


def test_count_include_pad_changes_the_border():
    """Guards the oracle cases: the two settings must differ at the padded border."""
    shape, k, s, p, ceil_mode = CASES[0]
    x = _x(shape, 0)
    a = AvgPool2d(k, s, p, ceil_mode=ceil_mode, count_include_pad=True).infer(x)
    b = AvgPool2d(k, s, p, ceil_mode=ceil_mode, count_include_pad=False).infer(x)
    assert np.all(a[:, :, 0, 0] < b[:, :, 0, 0])
