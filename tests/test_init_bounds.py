"""Default initialisation bounds, checked from both sides.

PyTorch's layer default is kaiming_uniform_(a=sqrt(5)): U(-B, B) with
B = sqrt(6 / ((1 + a^2) * fan_in)) = 1 / sqrt(fan_in), fan_in = (in_channels / groups) * kh * kw;
the bias is U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the same fan_in.

An upper-bound check alone passes a bound that is too small (e.g. fan_in ignoring groups, or a
halved bound), so each test also requires the largest |w| to be within 0.5 % below B (a bound
1 % too small fails). With m independent draws, P(max |w| < 0.995 B) = 0.995^m; every sample
here has m >= 4000 (< 2e-9), and the draws are seeded, so the tests are deterministic. The mean of |w| (B / 2 for a uniform
law) and of w^2 (B^2 / 3) are also checked, to catch a different distribution with the right range.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyconvnet
from pyconvnet.init import calculate_fan_in, kaiming_uniform_
from pyconvnet.layers import Conv2d, Linear

MIN_SAMPLES = 4000


def _check_uniform(values, bound, what):
    v = np.abs(np.asarray(values, np.float64).ravel())
    assert v.size >= MIN_SAMPLES, f"{what}: only {v.size} samples"
    top = float(v.max())
    assert top <= bound * (1 + 1e-6), f"{what}: max |w| {top:.6g} above the bound {bound:.6g}"
    assert top >= 0.995 * bound, f"{what}: max |w| {top:.6g} more than 0.5% below the bound {bound:.6g}"
    # mean |w| = B/2 and mean w^2 = B^2/3, each with a relative standard error near 1 % at m >= 4000
    assert abs(v.mean() / bound - 0.5) < 0.05, f"{what}: mean |w| / B = {v.mean() / bound:.4f}, expected 0.5"
    assert abs((v * v).mean() / bound**2 - 1 / 3) < 0.05, f"{what}: mean w^2 / B^2 off 1/3"


def _draws(make, attr, count):
    """Concatenates `count` fresh initialisations of a layer's weight or bias (seeded)."""
    pyconvnet.manual_seed(1234)
    return np.concatenate([getattr(make(), attr).data.ravel() for _ in range(count)])


# (in_channels, out_channels, kernel, groups)
CONV_CASES = [
    (16, 32, (3, 3), 1),
    (16, 32, (3, 3), 2),
    (16, 32, (3, 5), 4),
    (32, 32, (3, 3), 32),  # depthwise: fan_in = kh * kw
    (16, 48, (5, 5), 16),  # depthwise with channel multiplier 3
]


@pytest.mark.parametrize("cin,cout,kernel,groups", CONV_CASES)
def test_conv2d_weight_bound_two_sided(cin, cout, kernel, groups):
    fan_in = (cin // groups) * kernel[0] * kernel[1]
    make = lambda: Conv2d(cin, cout, kernel, groups=groups)  # noqa: E731
    count = -(-MIN_SAMPLES // (cout * fan_in))
    _check_uniform(_draws(make, "weight", count), 1 / math.sqrt(fan_in), f"Conv2d weight groups={groups}")


@pytest.mark.parametrize("cin,cout,kernel,groups", CONV_CASES)
def test_conv2d_bias_bound_two_sided(cin, cout, kernel, groups):
    fan_in = (cin // groups) * kernel[0] * kernel[1]
    make = lambda: Conv2d(cin, cout, kernel, groups=groups)  # noqa: E731
    _check_uniform(_draws(make, "bias", -(-MIN_SAMPLES // cout)), 1 / math.sqrt(fan_in),
                   f"Conv2d bias groups={groups}")


def test_conv2d_reset_parameters_uses_grouped_fan_in():
    layer = Conv2d(64, 64, 3, groups=4)
    bound = 1 / math.sqrt((64 // 4) * 9)
    draws = []
    for seed in range(4):
        layer.reset_parameters(rng=seed)
        draws.append(layer.weight.data.ravel().copy())
    _check_uniform(np.concatenate(draws), bound, "Conv2d.reset_parameters weight, groups=4")


@pytest.mark.parametrize("fin,fout", [(1, 2000), (10, 300), (300, 10), (1024, 4)])
def test_linear_weight_bound_two_sided(fin, fout):
    make = lambda: Linear(fin, fout)  # noqa: E731
    _check_uniform(_draws(make, "weight", -(-MIN_SAMPLES // (fin * fout))), 1 / math.sqrt(fin), f"Linear({fin}, {fout}) weight")


@pytest.mark.parametrize("fin,fout", [(1, 2000), (10, 300), (300, 10)])
def test_linear_bias_bound_two_sided(fin, fout):
    make = lambda: Linear(fin, fout)  # noqa: E731
    _check_uniform(_draws(make, "bias", -(-MIN_SAMPLES // fout)), 1 / math.sqrt(fin), f"Linear({fin}, {fout}) bias")


@pytest.mark.parametrize("a", [0.0, 1.0, math.sqrt(5.0), 0.01, 3.0])
@pytest.mark.parametrize("shape", [(96, 48), (64, 8, 3, 3), (320, 1, 5, 3)])
def test_kaiming_uniform_bound_for_a(a, shape):
    fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
    bound = math.sqrt(6.0 / ((1.0 + a * a) * fan_in))
    arr = np.empty(shape, np.float32)
    kaiming_uniform_(arr, a=a, rng=np.random.default_rng(0))
    _check_uniform(arr, bound, f"kaiming_uniform_(a={a}) {shape}")
    # an explicit fan_in overrides the shape's
    arr2 = np.empty(shape, np.float32)
    kaiming_uniform_(arr2, a=a, fan_in=7, rng=np.random.default_rng(1))
    _check_uniform(arr2, math.sqrt(6.0 / ((1.0 + a * a) * 7)), f"kaiming_uniform_(a={a}, fan_in=7)")


def test_calculate_fan_in_of_grouped_weight_shapes():
    assert calculate_fan_in((10, 3)) == 3
    assert calculate_fan_in((32, 16 // 4, 3, 5)) == 4 * 15
    assert calculate_fan_in((32, 1, 3, 3)) == 9
