"""pyconvnet.InferenceModel against a float64 NumPy oracle of the whole network.

The oracle below is written from the layers' definitions (PyTorch semantics) and reads only the
layers' parameters and configuration: no pyconvnet kernel, no code of pyconvnet/inference.py
(it does not fold BatchNorm, fuse activations or know about steps), so a folding, fusion,
packing or step-ordering mistake shows up as a numerical difference.
"""

from __future__ import annotations

import pickle
import re
import threading

import numpy as np
import pytest

import pyconvnet
from pyconvnet import InferenceModel, Sequential, init
from pyconvnet.layers import (
    ELU, Layer, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, GlobalAvgPool2d, LeakyReLU, Linear,
    LPPool2d, MaxPool2d, ReLU, Sigmoid, Softmax, Tanh,
)

from conftest import call_from_threads, same_for_thread_counts

HAS_BF16 = hasattr(pyconvnet._C, "round_to_bf16")
needs_bf16 = pytest.mark.skipif(
    not HAS_BF16,
    reason="bf16 serving needs _C.round_to_bf16 and the bf16 PackedLinear (packed-linear branch, not merged here)")

FP32_TOL = 1e-4  # of the output scale (max |oracle|), the API contract


# ============================================================================ float64 oracle
def _bf16(a):
    """float32 -> nearest bfloat16, ties to even, kept as float64 (the oracle's own rounding)."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    lsb = (u >> 16) & 1
    r = ((u + 0x7FFF + lsb) & 0xFFFF0000).astype(np.uint32)
    return r.view(np.float32).astype(np.float64)


def _conv_padding(layer):
    """(top, left, bottom, right) from the layer's configuration ("same", "valid" or (ph, pw))."""
    p = layer.padding
    if p == "valid":
        return 0, 0, 0, 0
    if p == "same":
        th = layer.dilation[0] * (layer.kernel_size[0] - 1)
        tw = layer.dilation[1] * (layer.kernel_size[1] - 1)
        return th // 2, tw // 2, th - th // 2, tw - tw // 2  # the odd pixel bottom/right
    ph, pw = p
    return ph, pw, ph, pw


def o_conv2d(x, w, b, stride, pad, dilation, groups):
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    t, l, bo, r = pad
    sh, sw = stride
    dh, dw = dilation
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    oh = (h + t + bo - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + l + r - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n, oc, oh, ow))
    og = oc // groups
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, wg[:, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def _pool_out(size, k, s, p, ceil_mode):
    span = size + 2 * p - k
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:  # the last window must start inside the input or left padding
        o -= 1
    return o


def o_pool2d(x, kind, k, s, p, ceil_mode, count_include_pad=True, norm_type=2.0):
    n, c, h, w = x.shape
    oh, ow = _pool_out(h, k[0], s[0], p[0], ceil_mode), _pool_out(w, k[1], s[1], p[1], ceil_mode)
    y = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])  # window within the padded input
            padded_count = (h1 - h0) * (w1 - w0)
            hs, ws, he, we = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":
                y[:, :, i, j] = win.max(axis=(2, 3))
            elif kind == "avg":
                div = padded_count if count_include_pad else (he - hs) * (we - ws)
                y[:, :, i, j] = win.sum(axis=(2, 3)) / div
            else:  # LP: (sum x^p)^(1/p) with the sign kept, as torch.nn.LPPool2d
                sm = (win ** norm_type).sum(axis=(2, 3))
                y[:, :, i, j] = np.sign(sm) * np.abs(sm) ** (1.0 / norm_type)
    return y


def o_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def oracle(model, x, bf16=False):
    """float64 outputs of `model` (eval mode). bf16=True: each Conv2d/Linear sees its weights and
    its input rounded to bfloat16 (weights after folding a following BatchNorm2d, as the contract
    rounds the weights the kernel uses); the rest stays float64."""
    a = np.asarray(x, dtype=np.float64)
    layers = list(model.layers)
    i = 0
    while i < len(layers):
        L = layers[i]
        if isinstance(L, Conv2d):
            w, b = _f64(L.weight.data), _f64(None if L.bias is None else L.bias.data)
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if bf16 and isinstance(nxt, BatchNorm2d):
                # the folded float32 weights are what gets rounded
                sc = _f64(nxt.weight.data) / np.sqrt(_f64(nxt.running_var) + nxt.eps)
                w = _bf16((w * sc[:, None, None, None]).astype(np.float32))
                b = (np.zeros(w.shape[0]) if b is None else b) - _f64(nxt.running_mean)
                b = (b * sc + _f64(nxt.bias.data)).astype(np.float32).astype(np.float64)
                a = o_conv2d(_bf16(a), w, b, L.stride, _conv_padding(L), L.dilation, L.groups)
                i += 2
                continue
            if bf16:
                w, a = _bf16(w.astype(np.float32)), _bf16(a)
            a = o_conv2d(a, w, b, L.stride, _conv_padding(L), L.dilation, L.groups)
        elif isinstance(L, Linear):
            w, b = _f64(L.weight.data), _f64(None if L.bias is None else L.bias.data)
            if bf16:
                w, a = _bf16(w.astype(np.float32)), _bf16(a)
            a = a @ w.T + (0 if b is None else b)
        elif isinstance(L, BatchNorm2d):
            sh = (1, -1, 1, 1)
            a = ((a - _f64(L.running_mean).reshape(sh)) / np.sqrt(_f64(L.running_var).reshape(sh) + L.eps)
                 * _f64(L.weight.data).reshape(sh) + _f64(L.bias.data).reshape(sh))
        elif isinstance(L, MaxPool2d):
            a = o_pool2d(a, "max", L.kernel_size, L.stride, L.padding, L.ceil_mode)
        elif isinstance(L, AvgPool2d):
            a = o_pool2d(a, "avg", L.kernel_size, L.stride, L.padding, L.ceil_mode, L.count_include_pad)
        elif isinstance(L, LPPool2d):
            a = o_pool2d(a, "lp", L.kernel_size, L.stride, (0, 0), L.ceil_mode, norm_type=L.norm_type)
        elif isinstance(L, GlobalAvgPool2d):
            a = a.mean(axis=(2, 3), keepdims=True)
        elif isinstance(L, ReLU):
            a = np.maximum(a, 0.0)
        elif isinstance(L, LeakyReLU):
            a = np.where(a > 0, a, a * L.negative_slope)
        elif isinstance(L, Sigmoid):
            a = 1.0 / (1.0 + np.exp(-a))
        elif isinstance(L, Tanh):
            a = np.tanh(a)
        elif isinstance(L, ELU):
            a = np.where(a > 0, a, L.alpha * np.expm1(np.minimum(a, 0.0)))
        elif isinstance(L, Softmax):
            a = o_softmax(a, L.axis)
        elif isinstance(L, Flatten):
            a = a.reshape(a.shape[0], -1)
        elif isinstance(L, Dropout):
            pass  # identity in eval mode
        elif hasattr(L, "oracle64"):  # a layer defined in this test module
            a = L.oracle64(a)
        else:  # pragma: no cover - a layer the oracle does not model
            raise NotImplementedError(type(L).__name__)
        i += 1
    return a


# ============================================================================ networks
def _set_bn(bn, rng, eps=None):
    """Non-trivial running statistics and affine parameters (the defaults would hide a
    folding mistake: mean 0, var 1, weight 1, bias 0)."""
    c = bn.num_features
    bn.running_mean[...] = rng.normal(0.0, 0.5, c)
    bn.running_var[...] = rng.uniform(0.3, 2.5, c)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, c) * rng.choice([-1.0, 1.0], c)
    bn.bias.data[...] = rng.normal(0.0, 0.3, c)
    if eps is not None:
        bn.eps = eps
    return bn


def _net(layers, input_shape, seed):
    rng = np.random.default_rng(seed)
    for L in layers:
        if isinstance(L, BatchNorm2d):
            _set_bn(L, rng, eps=float(rng.choice([1e-5, 1e-3, 0.1])))
    return Sequential(layers, input_shape=input_shape)


def net_conv_bn_relu():
    """conv + BN + ReLU (all three in one step), max pool, linear + ReLU, linear."""
    return _net([Conv2d(3, 8, 3, padding=1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                 Flatten(), Linear(8 * 4 * 4, 16), ReLU(), Dropout(0.3), Linear(16, 5)], (3, 8, 8), 1)


def net_conv_bn_nobias():
    """conv without bias + BN (the folded bias comes from BN alone), tanh fused; avg pool
    without counting the padding; linear + tanh."""
    return _net([Conv2d(2, 6, 3, bias=False), BatchNorm2d(6), Tanh(),
                 AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                 Flatten(), Linear(6 * 4 * 4, 7), Tanh()], (2, 9, 9), 2)


def net_conv_leaky_strided():
    """strided conv + LeakyReLU, avg pool counting the padding with ceil_mode, conv + BN with
    ELU, global average pool, linear + LeakyReLU, linear + Sigmoid."""
    return _net([Conv2d(3, 8, 3, stride=2, padding=1), LeakyReLU(0.2),
                 AvgPool2d(2, padding=1, ceil_mode=True, count_include_pad=True),
                 Conv2d(8, 8, 2), BatchNorm2d(8), ELU(0.7), GlobalAvgPool2d(), Flatten(),
                 Linear(8, 12), LeakyReLU(0.05), Linear(12, 4), Sigmoid()], (3, 11, 11), 3)


def net_grouped_dilated():
    """grouped dilated conv + ELU, depthwise conv with 'same' padding + sigmoid, LP pooling
    (p=3, ceil_mode), 1x1 conv, flatten, linear + ELU."""
    return _net([Conv2d(4, 8, 3, dilation=2, padding=2, groups=2), ELU(1.3),
                 Conv2d(8, 8, 3, groups=8, padding="same"), Sigmoid(),
                 LPPool2d(3, 2, stride=2, ceil_mode=True), Conv2d(8, 6, 1),
                 Flatten(), Linear(6 * 5 * 5, 9), ELU()], (4, 10, 10), 4)


def net_same_asymmetric():
    """'same' padding with an even extent (the extra pixel on one side), dilation 2, a
    rectangular kernel and stride; activations that stand alone (not after conv/linear)."""
    return _net([Conv2d(3, 5, 4, padding="same"), MaxPool2d(2, stride=1, padding=1), ReLU(),
                 Conv2d(5, 6, 2, dilation=3, padding="same"), BatchNorm2d(6), LeakyReLU(0.3),
                 Conv2d(6, 4, (3, 1), stride=(2, 1), padding=(1, 0)), Tanh(), Sigmoid(),
                 Flatten(), Linear(4 * 5 * 11, 6)], (3, 9, 10), 5)


def net_bn_standalone():
    """BatchNorm2d not after a conv: on the input, after a pool, after an activation."""
    return _net([BatchNorm2d(3), Conv2d(3, 6, 3, padding=1), ReLU(), BatchNorm2d(6),
                 MaxPool2d(2, ceil_mode=True), BatchNorm2d(6), Conv2d(6, 4, 3), Flatten(),
                 Linear(4 * 2 * 2, 3)], (3, 7, 7), 6)


def net_softmax_channels():
    """native softmax: over the channels of an image (axis -3) and over the features of a
    vector (axis -1); the mlp has axis 1."""
    return _net([Conv2d(2, 5, 3, padding=1), BatchNorm2d(5), Softmax(axis=-3),
                 Conv2d(5, 4, 3), Flatten(), Linear(4 * 4 * 4, 6), Softmax(axis=-1)], (2, 6, 6), 7)


def net_softmax_fallback():
    """softmax over another axis (width, then height) runs the layer's own infer between two
    native segments."""
    return _net([Conv2d(2, 4, 3, padding=1), ReLU(), Softmax(axis=-1), Conv2d(4, 4, 3), Tanh(),
                 Softmax(axis=2), Flatten(), Linear(4 * 4 * 6, 5), Softmax(axis=1)], (2, 6, 8), 8)


def net_mlp():
    """vectors only: linear + ReLU / Tanh / Sigmoid / LeakyReLU / ELU, a linear without bias,
    dropout, softmax."""
    return _net([Linear(20, 32), ReLU(), Dropout(0.5), Linear(32, 24), Tanh(), Linear(24, 16, bias=False),
                 Sigmoid(), Linear(16, 12), LeakyReLU(0.1), Linear(12, 10), ELU(0.5), Linear(10, 4),
                 Softmax()], (20,), 9)


def net_pool_edges():
    """windows that hang over the padded border with ceil_mode (the avg divisor is clipped to
    the padded input; a last window that would start in the right padding is dropped), LP
    pooling with a clipped last window, depthwise conv + BN + ReLU."""
    return _net([Conv2d(2, 4, 3, padding=1, groups=2), BatchNorm2d(4), ReLU(),
                 AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=True),
                 Conv2d(4, 4, 3, padding=1, groups=4), BatchNorm2d(4), ReLU(),
                 MaxPool2d(2, stride=2, padding=1, ceil_mode=True),
                 LPPool2d(2, 2, stride=1, ceil_mode=True), Sigmoid(), LPPool2d(1.5, 2, ceil_mode=True),
                 Flatten(), Linear(4, 3)], (2, 6, 9), 10)


def net_wide():
    """channel counts that take the direct convolution (groups 1, >= 4 input channels, many
    output channels, some not a multiple of the vector width), strided, dilated and
    rectangular, with BN folded and activations fused."""
    return _net([Conv2d(4, 32, 3, padding=1), BatchNorm2d(32), ReLU(),
                 Conv2d(32, 48, 3, stride=2), LeakyReLU(0.1),
                 Conv2d(48, 37, (3, 2), dilation=(1, 2), padding=(1, 1)), BatchNorm2d(37), ELU(),
                 MaxPool2d(2, ceil_mode=True), Flatten(), Linear(37 * 3 * 3, 10)], (4, 12, 12), 11)


def net_winograd():
    """3x3 stride-1 layers with enough channels for the Winograd path on the vector tiers
    (16 -> 24 on 20x20, then 24 -> 32 with asymmetric padding on 10x10: maps that are not a
    multiple of the 4x4 output tile), BN folded, ReLU and pool fused."""
    return _net([Conv2d(16, 24, 3, padding=1), BatchNorm2d(24), ReLU(), MaxPool2d(2),
                 Conv2d(24, 32, 3, padding=(1, 2)), ReLU(), GlobalAvgPool2d(), Flatten(),
                 Linear(32, 6)], (16, 20, 20), 12)


def net_winograd_f2():
    """3x3 stride-1 layers of 128+ channels on a 6x6 map, where serving runs Winograd
    F(2x2, 3x3) for batches of 1-2 on the vector tiers (and F(4x4, 3x3) or the direct path for
    larger ones): 128 -> 136 with BN folded and ReLU, then 136 -> 128 with asymmetric padding
    (a 6x7 output), global average pool, linear."""
    return _net([Conv2d(128, 136, 3, padding=1), BatchNorm2d(136), ReLU(),
                 Conv2d(136, 128, 3, padding=(1, 2)), ReLU(), GlobalAvgPool2d(), Flatten(),
                 Linear(128, 5)], (128, 6, 6), 13)


NETS = {f.__name__[4:]: f for f in (
    net_conv_bn_relu, net_conv_bn_nobias, net_conv_leaky_strided, net_grouped_dilated,
    net_same_asymmetric, net_bn_standalone, net_softmax_channels, net_softmax_fallback, net_mlp,
    net_pool_edges, net_wide, net_winograd, net_winograd_f2)}
NET_SEEDS = {name: k for k, name in enumerate(NETS)}


def make(name):
    init.manual_seed(100 + NET_SEEDS[name])
    return NETS[name]()


def inputs(model, n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n,) + tuple(model.input_shape)).astype(np.float32)


def assert_close_to(y, ref, tol=FP32_TOL, what="oracle"):
    ref = np.asarray(ref, dtype=np.float64)
    assert y.shape == ref.shape, f"shape {y.shape} vs {what} {ref.shape}"
    assert y.dtype == np.float32
    scale = max(float(np.abs(ref).max()), 1e-30)
    err = float(np.abs(y.astype(np.float64) - ref).max())
    assert err <= tol * scale, f"max |InferenceModel - {what}| = {err:.3g}, scale {scale:.3g}, tol {tol * scale:.3g}"


# ============================================================================ fp32 against the oracle
@pytest.mark.parametrize("n", [1, 2, 7, 64])
@pytest.mark.parametrize("name", list(NETS))
def test_fp32_matches_oracle_and_model_predict(name, n, isa):
    model = make(name)
    im = InferenceModel(model)  # built, and compiled for model.input_shape, under the tier
    x = inputs(model, n, seed=n)
    y = im.predict(x)
    assert_close_to(y, oracle(model, x))
    assert_close_to(y, model.predict(x), what="model.predict")


@pytest.mark.parametrize("name", list(NETS))
def test_max_batch_splits_into_calls_on_the_slices(name, isa):
    model = make(name)
    whole, split = InferenceModel(model), InferenceModel(model, max_batch=3)
    x = inputs(model, 10, seed=3)
    y = split.predict(x)
    assert_close_to(y, oracle(model, x))
    for s in range(0, 10, 3):  # 3 + 3 + 3 + 1: each slice is one native call
        assert y[s:s + 3].tobytes() == whole.predict(x[s:s + 3]).tobytes(), f"slice at {s}"
    assert split.max_batch == 3


@pytest.mark.parametrize("pool", [MaxPool2d(2), AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
                                  LPPool2d(2, 3, stride=2, ceil_mode=True)], ids=["max", "avg", "lp"])
def test_conv_then_pool_over_a_batch_of_several_l2_groups(pool, isa):
    """A conv whose output is ~100 KB per image, then a pool: a batch of 23 is convolved and
    pooled a few images at a time (at most 512 KB of conv output per group), not at once."""
    init.manual_seed(29)
    model = _net([Conv2d(3, 16, 3, padding=1), BatchNorm2d(16), ReLU(), pool, Flatten()], (3, 40, 40), 29)
    x = inputs(model, 23, seed=29)
    im = InferenceModel(model)
    y = im.predict(x)
    assert_close_to(y, oracle(model, x))
    # the second group (images 5-9) computes as a call on those 5 images alone
    assert y[5:10].tobytes() == im.predict(x[5:10]).tobytes()


def test_max_batch_larger_than_the_batch_is_one_call():
    model = make("conv_bn_relu")
    x = inputs(model, 5, seed=4)
    a = InferenceModel(model, max_batch=64).predict(x)
    assert a.tobytes() == InferenceModel(model).predict(x).tobytes()


def test_python_fallback_after_a_1x1_output_keeps_the_image_shape(isa):
    """A global average pool gives (N, C, 1, 1); a Softmax over its last axis (width 1, a
    Python fallback) must see that 4-D shape, as in model.predict: every output is 1."""
    init.manual_seed(11)
    model = _net([Conv2d(3, 6, 3), ReLU(), GlobalAvgPool2d(), Softmax(axis=-1), Flatten(),
                  Linear(6, 4)], (3, 6, 6), 11)
    x = inputs(model, 4, seed=11)
    ref = oracle(model, x)
    assert_close_to(model.predict(x), ref, what="model.predict")  # the oracle is right here
    assert_close_to(InferenceModel(model).predict(x), ref)


def test_python_fallback_after_a_native_step_on_3d_samples():
    init.manual_seed(21)
    model = Sequential([ReLU(), Softmax(axis=-1)], input_shape=(4, 5))
    x = inputs(model, 2, seed=21)
    assert_close_to(InferenceModel(model).predict(x), oracle(model, x))


def test_3d_samples_with_a_python_step_first():
    model = Sequential([Softmax(axis=-1), Tanh(), Softmax(axis=1)], input_shape=(4, 5))
    x = inputs(model, 3, seed=22)
    assert_close_to(InferenceModel(model).predict(x), oracle(model, x))


def test_a_1x1_image_output_keeps_its_shape():
    """The last step gives (N, C, 1, 1): returned as that, not as (N, C)."""
    init.manual_seed(28)
    model = _net([Conv2d(3, 5, 3), BatchNorm2d(5), ELU(), GlobalAvgPool2d()], (3, 5, 5), 28)
    x = inputs(model, 3, seed=28)
    y = InferenceModel(model, max_batch=2).predict(x)
    assert y.shape == (3, 5, 1, 1)
    assert_close_to(y, oracle(model, x))


def test_softmax_over_the_height_of_a_conv_output_with_1x1_width():
    """Conv output (N, C, H, 1): softmax over H (axis 2) runs in Python on the 4-D array."""
    init.manual_seed(12)
    model = _net([Conv2d(2, 3, (1, 4)), Softmax(axis=2), Flatten(), Linear(3 * 5, 2)], (2, 5, 4), 12)
    x = inputs(model, 3, seed=12)
    assert_close_to(InferenceModel(model).predict(x), oracle(model, x))


class CropSquare(Layer):
    """A layer with no native step: x[..., :-1] ** 2 on images, x ** 2 on vectors (the shape
    changes on images, so the next native segment starts from a shape only Python knows)."""

    def infer(self, x):
        x = np.asarray(x, np.float32)
        return np.ascontiguousarray(x[..., :-1] if x.ndim == 4 else x) ** 2

    forward = infer

    def output_shape(self, input_shape):
        s = tuple(input_shape)
        return s[:-1] + (s[-1] - 1,) if len(s) == 4 else s

    def oracle64(self, a):
        return (a[..., :-1] if a.ndim == 4 else a) ** 2


def test_a_layer_without_native_step_runs_its_own_infer(isa):
    init.manual_seed(27)
    model = _net([Conv2d(2, 4, 3, padding=1), BatchNorm2d(4), Tanh(), CropSquare(), Conv2d(4, 3, 3),
                  ReLU(), Flatten(), Linear(3 * 4 * 5, 6), CropSquare(), Linear(6, 3)], (2, 6, 8), 27)
    im = InferenceModel(model)
    x = inputs(model, 5, seed=27)
    ref = oracle(model, x)
    assert_close_to(model.predict(x), ref, what="model.predict")
    assert_close_to(im.predict(x), ref)
    assert "CropSquare" in im.summary()


def test_model_without_input_shape_compiles_per_input_shape(isa):
    """A fully convolutional model (global pool, then linear) accepts several image sizes; each
    compiled shape gives the oracle's outputs."""
    init.manual_seed(13)
    model = _net([Conv2d(3, 8, 3, padding=1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                  Conv2d(8, 8, 3, groups=4, padding="same"), Tanh(), GlobalAvgPool2d(), Flatten(),
                  Linear(8, 5)], None, 13)
    im = InferenceModel(model)
    rng = np.random.default_rng(13)
    for hw in [(8, 8), (9, 13), (4, 4), (8, 8)]:
        x = rng.normal(size=(3, 3) + hw).astype(np.float32)
        assert_close_to(im.predict(x), oracle(model, x))


def test_other_image_sizes_than_the_model_input_shape(isa):
    """The model was built for 8x8 but has no layer tied to the size: other sizes compile."""
    init.manual_seed(23)
    model = _net([Conv2d(3, 4, 3), BatchNorm2d(4), ELU(), GlobalAvgPool2d(), Flatten(), Linear(4, 2)],
                 (3, 8, 8), 23)
    im = InferenceModel(model)
    rng = np.random.default_rng(23)
    for hw in [(10, 10), (5, 7), (8, 8)]:
        x = rng.normal(size=(2, 3) + hw).astype(np.float32)
        assert_close_to(im.predict(x), oracle(model, x))


def test_more_image_sizes_than_the_compiled_cache_holds():
    """Past the cache of compiled shapes the oldest are dropped and compiled again on demand."""
    init.manual_seed(24)
    model = _net([Conv2d(1, 3, 3), BatchNorm2d(3), ReLU(), GlobalAvgPool2d(), Flatten(), Linear(3, 2)], None, 24)
    im = InferenceModel(model)
    rng = np.random.default_rng(24)
    xs = [rng.normal(size=(2, 1, 3 + k, 4 + k)).astype(np.float32) for k in range(12)]
    first = [im.predict(x) for x in xs]
    for x, y in zip(xs, first):
        assert im.predict(x).tobytes() == y.tobytes()
        assert_close_to(y, oracle(model, x))


def test_input_and_earlier_outputs_are_not_modified():
    """The first step may run in place (an activation on the input): the caller's array must
    stay as it was, and a returned array must not be a buffer that a later call reuses."""
    init.manual_seed(14)
    model = _net([ReLU(), BatchNorm2d(2), Conv2d(2, 3, 3), Sigmoid(), Flatten()], (2, 5, 5), 14)
    im = InferenceModel(model)
    x = inputs(model, 4, seed=14)
    keep = x.copy()
    y1 = im.predict(x)
    assert x.tobytes() == keep.tobytes()
    y1_copy = y1.copy()
    im.predict(-x)
    assert y1.tobytes() == y1_copy.tobytes()
    assert_close_to(y1, oracle(model, keep))


def test_accepts_float64_lists_and_non_contiguous_input():
    model = make("conv_bn_relu")
    im = InferenceModel(model)
    x = inputs(model, 3, seed=15)
    ref = im.predict(x)
    assert im.predict(x.astype(np.float64)).tobytes() == ref.tobytes()
    assert im.predict(x.tolist()).tobytes() == ref.tobytes()
    wide = np.zeros((3, 3, 8, 16), np.float32)
    wide[..., ::2] = x
    assert im.predict(wide[..., ::2]).tobytes() == ref.tobytes()
    assert im(x).tobytes() == ref.tobytes()


# ============================================================================ frozen copy
@pytest.mark.parametrize("with_input_shape", [True, False])
def test_later_changes_to_the_model_do_not_change_outputs(with_input_shape):
    """Without an input shape nothing is compiled at construction: the frozen copy must still
    be taken then, not at the first predict."""
    model = make("softmax_fallback")
    model2 = make("conv_bn_relu")
    for m in (model, model2):
        if not with_input_shape:
            m.input_shape = None
    shape_a, shape_b = (2, 6, 8), (3, 8, 8)
    xa = np.random.default_rng(16).normal(size=(5,) + shape_a).astype(np.float32)
    xb = np.random.default_rng(17).normal(size=(5,) + shape_b).astype(np.float32)
    ref_a, ref_b = oracle(model, xa), oracle(model2, xb)
    ims = [InferenceModel(model), InferenceModel(model2)]
    before = [im.predict(x) for im, x in zip(ims, (xa, xb))] if with_input_shape else None
    for m in (model, model2):
        for L in m.layers:
            for p in L.params():
                p.data *= -1.5  # in place: a view kept by the frozen model would see this
                p.data += 0.25
            if isinstance(L, BatchNorm2d):
                L.running_mean += 3.0
                L.running_var *= 4.0
                L.eps = 0.5
            if isinstance(L, Softmax):
                L.axis = 1
            if isinstance(L, LeakyReLU):
                L.negative_slope = 0.9
        m.layers.insert(0, ReLU())
        m.layers.pop()
    after = [im.predict(x) for im, x in zip(ims, (xa, xb))]
    assert_close_to(after[0], ref_a)
    assert_close_to(after[1], ref_b)
    if before is not None:
        for b, a in zip(before, after):
            assert a.tobytes() == b.tobytes()


def test_a_model_left_in_training_mode_is_served_in_eval_mode():
    """BatchNorm uses its running statistics and Dropout is the identity whatever the mode."""
    model = make("conv_bn_relu")
    model.train()
    x = inputs(model, 6, seed=26)
    assert_close_to(InferenceModel(model).predict(x), oracle(model, x))


# ============================================================================ threads
def test_16_python_threads_give_the_sequential_results():
    """16 threads call one InferenceModel at once, several rounds, each with its own inputs
    and batch size (so per-thread buffers of different sizes), and some with an image size
    never compiled before (compiled concurrently)."""
    init.manual_seed(18)
    model = _net([Conv2d(3, 8, 3, padding=1), BatchNorm2d(8), ReLU(), MaxPool2d(2),
                  Conv2d(8, 8, 3, padding=1), ELU(), Softmax(axis=-1), GlobalAvgPool2d(), Flatten(),
                  Linear(8, 16), ReLU(), Linear(16, 4)], None, 18)
    im = InferenceModel(model)
    rng = np.random.default_rng(18)
    sizes = [(8, 8), (10, 12), (6, 9), (12, 12)]
    work = [[rng.normal(size=(1 + (t * 5 + r) % 9, 3) + sizes[(t + r) % 4]).astype(np.float32)
             for r in range(4)] for t in range(16)]
    got = call_from_threads(im.predict, work)
    fresh = InferenceModel(model)
    for t in range(16):
        for r in range(4):
            want = fresh.predict(work[t][r])
            assert got[t][r].tobytes() == want.tobytes(), f"thread {t} round {r}"
    assert_close_to(got[0][0], oracle(model, work[0][0]))


def test_threads_compiling_more_shapes_than_the_cache_holds():
    """8 threads, each serving its own image sizes, 12 sizes in all: compiling and dropping
    compiled shapes while other threads run them."""
    init.manual_seed(25)
    model = _net([Conv2d(2, 4, 3), BatchNorm2d(4), ReLU(), GlobalAvgPool2d(), Flatten(), Linear(4, 3)], None, 25)
    im = InferenceModel(model)
    rng = np.random.default_rng(25)
    work = [[rng.normal(size=(2, 2, 3 + (t + 8 * r) % 12, 5)).astype(np.float32) for r in range(6)]
            for t in range(8)]
    got = call_from_threads(im.predict, work)
    fresh = InferenceModel(model)
    for t in range(8):
        for r in range(6):
            assert got[t][r].tobytes() == fresh.predict(work[t][r]).tobytes(), f"thread {t} round {r}"


@pytest.mark.parametrize("name", list(NETS))
def test_bit_identical_for_1_2_3_threads(name):
    model = make(name)
    x = inputs(model, 9, seed=19)
    im = InferenceModel(model)
    same_for_thread_counts(lambda: im.predict(x), (1, 2, 3))
    # and when the model is also built under each thread count
    same_for_thread_counts(lambda: InferenceModel(model, max_batch=4).predict(x), (1, 2, 3))


# ============================================================================ pickle, summary
@pytest.mark.parametrize("name", list(NETS))
def test_pickle_round_trip_is_bit_identical(name):
    model = make(name)
    im = InferenceModel(model, max_batch=5)
    x = inputs(model, 11, seed=20)
    y = im.predict(x)
    back = pickle.loads(pickle.dumps(im))
    assert back.precision == "fp32" and back.max_batch == 5
    assert back.predict(x).tobytes() == y.tobytes()
    assert pickle.loads(pickle.dumps(back)).predict(x[:1]).tobytes() == im.predict(x[:1]).tobytes()


def test_pickle_of_a_model_without_input_shape():
    model = make("conv_bn_relu")
    model.input_shape = None
    im = InferenceModel(model)
    back = pickle.loads(pickle.dumps(im))
    x = inputs(make("conv_bn_relu"), 4, seed=21)
    assert back.predict(x).tobytes() == im.predict(x).tobytes()


@pytest.mark.parametrize("name", list(NETS))
def test_summary_names_each_layer_and_a_kernel_per_step(name):
    model = make(name)
    text = InferenceModel(model).summary()
    for L in model.layers:
        if not isinstance(L, Dropout):  # see test_summary_mentions_dropout
            assert type(L).__name__ in text, f"{type(L).__name__} missing from\n{text}"
    lines = text.splitlines()
    rule = next(k for k, ln in enumerate(lines) if set(ln.replace(" ", "")) == {"-"})
    header = lines[rule - 1]
    kernel_col = header.index("kernel")
    output_col = header.index("output")
    rows = [ln for ln in lines[rule + 1:] if ln and not ln.startswith("weights held")]
    assert rows, text
    for row in rows:
        assert row[:kernel_col].strip(), f"a step without layers: {row!r}"
        assert row[kernel_col:output_col].strip(), f"a step without a kernel name: {row!r}"
    assert re.search(r"\bfp32\b", lines[0])


def test_summary_mentions_dropout():
    text = InferenceModel(make("conv_bn_relu")).summary()
    assert "Dropout" in text, text


def test_winograd_runs_where_it_pays(isa):
    """On the vector tiers the 3x3 stride-1 layers of net_winograd take the Winograd path (and
    its outputs meet the oracle in test_fp32_matches_oracle_and_model_predict)."""
    text = InferenceModel(make("winograd")).summary()
    assert ("winograd" in text) == (isa != "ref"), text
    assert "winograd_f2" not in text, text  # 16-32 channels: F(4x4, 3x3) at every batch


def test_winograd_f2_serves_batches_of_1_and_2(isa):
    """net_winograd_f2's layers run F(2x2, 3x3) at batches 1-2 on the vector tiers (the plan's
    small-batch rule) and the plan's choice at batch 3 beyond: each batch size meets the
    float64 oracle, and a sample's bits are the same in batches of 1 and 2 (one path) but not
    in a batch of 3 (the other)."""
    model = make("winograd_f2")
    im = InferenceModel(model)
    text = im.summary()
    convs = [ln for ln in text.splitlines() if ln.startswith("Conv2d")]
    assert len(convs) == 2, text
    for ln in convs:
        if isa == "ref":
            assert "winograd" not in ln, ln
        else:
            assert re.search(rf"conv winograd_f2 {isa} up to batch 2, \S+ {isa}.* beyond", ln), ln
    x = inputs(model, 3, seed=5)
    ys = {n: im.predict(x[:n]) for n in (1, 2, 3)}
    for n, y in ys.items():
        assert_close_to(y, oracle(model, x[:n]))
    assert ys[1].tobytes() == ys[2][:1].tobytes()
    if isa != "ref":
        assert ys[2][:1].tobytes() != ys[3][:1].tobytes()
    same_for_thread_counts(lambda: im.predict(x[:1]), (1, 2, 3))


def _forced_chain(c, size, algorithm, seed):
    """Two c -> c 3x3 layers with bias and ReLU as a _C.Network naming their algorithm, and the
    float64 result for x."""
    rng = np.random.default_rng(seed)
    ws = [(rng.standard_normal((c, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32) for _ in range(2)]
    bs = [rng.standard_normal(c).astype(np.float32) for _ in range(2)]
    net = pyconvnet._C.Network((c, size, size))
    for w, b in zip(ws, bs):
        net.add_conv(w, b, (1, 1), (1, 1, 1, 1), (1, 1), 1, "relu", 0.0, algorithm=algorithm)

    def want(x):
        a = x.astype(np.float64)
        for w, b in zip(ws, bs):
            a = np.maximum(o_conv2d(a, w.astype(np.float64), b.astype(np.float64), (1, 1), (1, 1, 1, 1),
                                    (1, 1), 1), 0.0)
        return a
    return net, want


@pytest.mark.parametrize("algorithm", ["winograd_f2", "winograd", "direct", "im2col_gemm"])
def test_network_runs_a_named_algorithm_at_every_batch(isa, algorithm):
    """_C.Network.add_conv(algorithm=...) (benchmarks/compare_served_3x3.py) runs that
    algorithm on any tier, whatever the plan would pick: 20 channels on 7x7 and 14x14 maps
    (non-multiples of the GEMMs' 12 rows and 16 lanes), batches 1-3, against float64."""
    for size in (7, 14):
        net, want = _forced_chain(20, size, algorithm, seed=size)
        assert all(f"conv {algorithm} {isa}" in d[0] for d in net.describe()), net.describe()
        x = np.random.default_rng(1).standard_normal((3, 20, size, size)).astype(np.float32)
        for n in (1, 2, 3):
            assert_close_to(net.run(x[:n]), want(x[:n]))
        same_for_thread_counts(lambda: net.run(x[:1]), (1, 2, 3))


def test_network_rejects_an_algorithm_that_does_not_fit():
    net = pyconvnet._C.Network((8, 6, 6))
    w = np.zeros((16, 8, 3, 3), np.float32)
    with pytest.raises(ValueError, match="algorithm must be"):
        net.add_conv(w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, algorithm="fft")
    with pytest.raises(ValueError, match="winograd_f2 does not cover this layer"):
        net.add_conv(w, None, (2, 2), (1, 1, 1, 1), (1, 1), 1, algorithm="winograd_f2")
    with pytest.raises(ValueError, match="winograd does not cover this layer"):
        net.add_conv(w, None, (1, 1), (3, 3, 3, 3), (1, 1), 1, algorithm="winograd")
    with pytest.raises(ValueError, match="direct does not cover this layer"):
        net.add_conv(np.zeros((8, 8, 3, 3), np.float32), None, (1, 1), (1, 1, 1, 1), (1, 1), 1,
                     algorithm="direct")
    with pytest.raises(ValueError, match="pointwise_gemm does not cover this layer"):
        net.add_conv(w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, algorithm="pointwise_gemm")
    bf16 = pyconvnet._C.Network((8, 6, 6), bf16=True)
    with pytest.raises(ValueError, match="float32 layers only"):
        bf16.add_conv(w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, algorithm="winograd")
    net.add_conv(w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1, algorithm="winograd_f2")
    assert net.describe()[0][0].startswith("conv winograd_f2 ")


def test_summary_shows_fusion_and_fallback():
    text = InferenceModel(make("softmax_fallback")).summary()
    assert re.search(r"Conv2d \+ ReLU\s+conv .*relu", text), text
    assert "python" in text
    text = InferenceModel(make("conv_bn_relu")).summary()
    assert re.search(r"^Conv2d \+ BatchNorm2d \+ ReLU\b.*\s{2}conv .*relu", text, re.M), text


def test_summary_for_a_shape_given_later():
    model = make("conv_bn_relu")
    model.input_shape = None
    im = InferenceModel(model)
    with pytest.raises(ValueError, match="input_shape"):
        im.summary()
    assert "Conv2d" in im.summary((3, 8, 8))


# ============================================================================ argument errors
@pytest.mark.parametrize("shape", [(2, 2, 8, 8), (2, 3, 8), (2, 3, 8, 8, 1), (3 * 8 * 8,), (0, 3, 8, 8),
                                   (2, 3, 10, 8)])
def test_input_shape_errors_name_x(shape):
    """(2, 3, 10, 8): the channels fit but the flattened features (160) do not fit the Linear
    (128); the error comes from compiling that shape and must still name x."""
    im = InferenceModel(make("conv_bn_relu"))
    with pytest.raises(ValueError, match=r"\bx\b"):
        im.predict(np.zeros(shape, np.float32))


@pytest.mark.parametrize("shape", [(2, 2, 8, 8), (2, 3, 2, 2), (2, 3, 8),
                                   (0, 3, 8, 8), (3 * 8 * 8,)])
def test_input_shape_errors_name_x_without_model_input_shape(shape):
    model = make("conv_bn_relu")
    model.input_shape = None
    with pytest.raises(ValueError, match=r"\bx\b"):
        InferenceModel(model).predict(np.zeros(shape, np.float32))




@pytest.mark.parametrize("layers, shape", [([Conv2d(3, 4, 1), ReLU()], (2, 3, 5)),
                                           ([Linear(20, 3)], (2, 4, 5))], ids=["conv_3d", "linear_3d"])
def test_wrong_rank_without_model_input_shape_raises(layers, shape):
    model = Sequential(layers)
    x = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=r"\bx\b"):
        model.predict(x)  # what the InferenceModel must match
    with pytest.raises(ValueError, match=r"\bx\b"):
        InferenceModel(model).predict(x)


def test_vector_input_shape_errors_name_x():
    im = InferenceModel(make("mlp"))
    for shape in [(3, 21), (3, 20, 1), (20,)]:
        with pytest.raises(ValueError, match=r"\bx\b"):
            im.predict(np.zeros(shape, np.float32))


def test_non_numeric_x_raises():
    im = InferenceModel(make("mlp"))
    with pytest.raises((TypeError, ValueError), match=r"\bx\b"):
        im.predict([["a"] * 20])


@pytest.mark.parametrize("precision, exc", [("fp16", ValueError), ("FP32", ValueError), ("", ValueError),
                                            (32, (TypeError, ValueError)), (None, (TypeError, ValueError))])
def test_bad_precision(precision, exc):
    with pytest.raises(exc, match="precision"):
        InferenceModel(make("mlp"), precision=precision)


@pytest.mark.parametrize("max_batch, exc", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                            ("4", TypeError), (True, TypeError)])
def test_bad_max_batch(max_batch, exc):
    with pytest.raises(exc, match="max_batch"):
        InferenceModel(make("mlp"), max_batch=max_batch)


def test_max_batch_accepts_numpy_ints():
    model = make("mlp")
    x = inputs(model, 5)
    assert InferenceModel(model, max_batch=np.int64(2)).predict(x).shape == (5, 4)


@pytest.mark.parametrize("obj", [[Linear(2, 3)], Linear(2, 3), None, "model"])
def test_non_sequential_model_raises_type_error(obj):
    with pytest.raises(TypeError, match="model"):
        InferenceModel(obj)


# ============================================================================ bf16
def test_oracle_bf16_rounding_is_round_to_nearest_even():
    """The oracle's own rounding, on values whose bfloat16 neighbours are known."""
    one, ulp = 1.0, 2.0 ** -7  # bfloat16 spacing in [1, 2)
    vals = np.array([one, one + ulp / 2, one + ulp * 1.5, one + ulp * 2.5, one + ulp * 0.49,
                     one + ulp * 0.51, -(one + ulp * 1.5), 2.0 ** -20 * (one + ulp / 2), 0.0], np.float32)
    want = np.array([one, one, one + 2 * ulp, one + 2 * ulp, one, one + ulp, -(one + 2 * ulp),
                     2.0 ** -20, 0.0])
    np.testing.assert_array_equal(_bf16(vals), want)
    assert np.all(_bf16(np.random.default_rng(0).normal(size=1000)).astype(np.float32).view(np.uint32)
                  & 0xFFFF == 0)


def _single(kind):
    """One native step: the input is the only activation rounded, so the oracle rounds
    exactly the same values as the implementation and only float32 summation differs."""
    init.manual_seed(30)
    if kind == "conv":
        return _net([Conv2d(3, 8, 3, padding=1)], (3, 7, 7), 30)
    if kind == "conv_bn_relu":
        return _net([Conv2d(4, 6, 3, stride=2, bias=False), BatchNorm2d(6), ReLU()], (4, 9, 9), 31)
    if kind == "grouped_same":
        return _net([Conv2d(4, 8, 4, padding="same", groups=2, dilation=2)], (4, 8, 8), 32)
    if kind == "conv_pool":  # conv and pool run as one step
        return _net([Conv2d(3, 8, 3, padding=1), LeakyReLU(0.1), AvgPool2d(2)], (3, 8, 8), 35)
    if kind == "linear":
        return _net([Flatten(), Linear(60, 17)], (3, 4, 5), 33)
    return _net([Linear(300, 33), ReLU()], (300,), 34)  # "linear_relu"


@needs_bf16
@pytest.mark.parametrize("n", [1, 7, 64])
@pytest.mark.parametrize("kind", ["conv", "conv_bn_relu", "grouped_same", "conv_pool", "linear", "linear_relu"])
def test_bf16_single_step_equals_bf16_oracle(kind, n, isa):
    model = _single(kind)
    x = inputs(model, n, seed=30 + n)
    y = InferenceModel(model, precision="bf16").predict(x)
    ref = oracle(model, x, bf16=True)
    assert_close_to(y, ref, tol=2e-5, what="bf16 oracle")  # float32 summation only
    fp = oracle(model, x)
    gap = float(np.abs(fp - ref).max()) / float(np.abs(ref).max())
    assert gap > 2e-4, f"test too weak: bf16 rounding moves the outputs by only {gap:.2g} of the scale"


@needs_bf16
@pytest.mark.parametrize("name", list(NETS))
def test_bf16_network_tracks_the_bf16_oracle(name, isa):
    """Deeper in a network an activation can sit within float32 error of a bfloat16 rounding
    midpoint and round the other way than in the float64 oracle: rare, one bfloat16 step on
    one value. So: the implementation's distance to the bf16 oracle must be a small part of
    what the rounding itself does (the oracle's bf16 - fp64 difference), on average and at
    worst; skipping the rounding of weights or of activations leaves about half of it."""
    model = make(name)
    x = inputs(model, 7, seed=35)
    y = InferenceModel(model, precision="bf16").predict(x).astype(np.float64)
    ref = oracle(model, x, bf16=True)
    effect = np.abs(oracle(model, x) - ref)
    dist = np.abs(y - ref)
    scale = float(np.abs(ref).max())
    assert effect.max() > 2e-4 * scale, "test too weak: bf16 rounding hardly changes this network"
    assert dist.mean() <= 0.05 * effect.mean(), (dist.mean(), effect.mean())
    assert dist.max() <= max(0.2 * effect.max(), 2e-5 * scale), (dist.max(), effect.max())


@needs_bf16
@pytest.mark.parametrize("name", ["conv_bn_relu", "grouped_dilated", "same_asymmetric", "linear"])
def test_bf16_differs_from_fp32(name):
    """On outputs that are not squashed by a final softmax/sigmoid, bf16 moves them by ~1e-3
    of the scale: well past the fp32 tolerance."""
    model = _single(name) if name == "linear" else make(name)
    x = inputs(model, 7, seed=36)
    y16 = InferenceModel(model, precision="bf16").predict(x)
    y32 = InferenceModel(model).predict(x)
    scale = float(np.abs(y32).max())
    assert float(np.abs(y16 - y32).max()) > 10 * FP32_TOL * scale  # the rounding really happens


@needs_bf16
@pytest.mark.parametrize("name", ["conv_bn_relu", "mlp", "softmax_fallback"])
def test_bf16_pickles_threads_and_summary(name):
    model = make(name)
    im = InferenceModel(model, precision="bf16", max_batch=4)
    x = inputs(model, 9, seed=37)
    y = same_for_thread_counts(lambda: im.predict(x), (1, 2, 3))
    back = pickle.loads(pickle.dumps(im))
    assert back.precision == "bf16"
    assert back.predict(x).tobytes() == y.tobytes()
    assert "bf16" in im.summary().splitlines()[0]


@needs_bf16
def test_bf16_model_changes_after_construction_do_not_matter():
    model = make("mlp")
    x = inputs(model, 3, seed=38)
    im = InferenceModel(model, precision="bf16")
    y = im.predict(x)
    for L in model.layers:
        for p in L.params():
            p.data *= 2.0
    assert im.predict(x).tobytes() == y.tobytes()


# ============================================================================ bf16 convolution kernel
BF16_DOT = "bf16_dot avx512-bf16"


def _bf16_dot_expected(isa):
    """The VDPBF16PS convolution runs for bf16 models built on the avx512 tier of a CPU with
    AVX512-BF16; elsewhere the float32 kernels run on rounded values."""
    return isa == "avx512" and bool(pyconvnet._C.cpu_features()["avx512_bf16"])


def _bf16_dot_net(kind):
    """Layers with enough multiply-adds per output (c * kh * kw >= 256, >= 384 below 64 output
    channels), not 1x1 and not 3x3 stride 1 on maps where Winograd pays, so the bf16 dot kernel takes them; odd channel counts,
    odd kdim, padding, stride, dilation and the fused step variants."""
    init.manual_seed(40)
    if kind == "odd_channels":  # 5 -> 37, kdim 405 (odd: a zero pads the last pair)
        return _net([Conv2d(5, 37, 9, padding=(4, 3))], (5, 9, 11), 40)
    if kind == "strided":  # stride 2, asymmetric padding, fused ReLU
        return _net([Conv2d(48, 20, 3, stride=2, padding=(1, 2)), ReLU()], (48, 11, 10), 41)
    if kind == "dilated":  # dilation: one copy per tap instead of kw taps per copy
        return _net([Conv2d(29, 33, (3, 5), dilation=(2, 3), padding=(2, 1))], (29, 10, 16), 42)
    if kind == "same_even":  # 'same' with an even kernel: the extra pixel bottom/right
        return _net([Conv2d(17, 70, 4, padding="same"), Tanh()], (17, 9, 8), 43)
    if kind == "bn_relu_pool":  # fmnist-cnn's second layer, BN folded, ReLU and pool fused
        return _net([Conv2d(32, 64, 5, padding=2, bias=False), BatchNorm2d(64), ReLU(),
                     MaxPool2d(2)], (32, 14, 14), 44)
    return _net([Conv2d(16, 48, 5, padding=2), LeakyReLU(0.1)], (16, 7, 6), 45)  # "leaky", 400


BF16_DOT_KINDS = ["odd_channels", "strided", "dilated", "same_even", "bn_relu_pool", "leaky"]


@needs_bf16
@pytest.mark.parametrize("n", [1, 3, 64])
@pytest.mark.parametrize("kind", BF16_DOT_KINDS)
def test_bf16_conv_kernel_equals_bf16_oracle(kind, n, isa):
    model = _bf16_dot_net(kind)
    im = InferenceModel(model, precision="bf16")
    assert (BF16_DOT in im.summary()) == _bf16_dot_expected(isa), im.summary()
    x = inputs(model, n, seed=40 + n)
    y = im.predict(x)
    ref = oracle(model, x, bf16=True)
    assert_close_to(y, ref, tol=2e-5, what="bf16 oracle")  # float32 summation only
    gap = float(np.abs(oracle(model, x) - ref).max()) / float(np.abs(ref).max())
    assert gap > 2e-4, f"test too weak: bf16 rounding moves the outputs by only {gap:.2g} of the scale"


@needs_bf16
@pytest.mark.parametrize("kind", BF16_DOT_KINDS)
def test_bf16_conv_kernel_same_bits_for_threads_and_batch_splits(kind, isa):
    model = _bf16_dot_net(kind)
    im = InferenceModel(model, precision="bf16")
    x = inputs(model, 67, seed=46)
    y = same_for_thread_counts(lambda: im.predict(x), (1, 2))
    for i in (0, 5, 66):  # a sample alone gives the bits it gets inside the batch
        assert im.predict(x[i:i + 1]).tobytes() == y[i:i + 1].tobytes()
    assert im.predict(x[3:13]).tobytes() == y[3:13].tobytes()
    split = InferenceModel(model, precision="bf16", max_batch=4)  # calls of at most 4 samples
    assert split.predict(x).tobytes() == y.tobytes()


@needs_bf16
def test_bf16_conv_kernel_left_to_winograd_pointwise_and_small_layers(isa):
    """3x3 stride 1 where Winograd pays (it does a quarter of the multiplies), 1x1 (the float32
    GEMM reads x in place) and few multiply-adds per output (1 -> 32 5x5) keep the float32
    kernels."""
    model = _net([Conv2d(1, 32, 5, padding=2), ReLU(), Conv2d(32, 32, 3, padding=1), ReLU(),
                  Conv2d(32, 64, 1), ReLU(), Conv2d(64, 64, 5, padding=2)], (1, 16, 16), 47)
    im = InferenceModel(model, precision="bf16")
    lines = [line for line in im.summary().splitlines() if "Conv2d" in line]
    assert len(lines) == 4, im.summary()
    assert all(BF16_DOT not in line for line in lines[:3]), im.summary()
    assert (BF16_DOT in lines[3]) == _bf16_dot_expected(isa), im.summary()
    x = inputs(model, 3, seed=48)
    y = im.predict(x).astype(np.float64)
    ref = oracle(model, x, bf16=True)
    # deeper than one step: see test_bf16_network_tracks_the_bf16_oracle
    assert float(np.abs(y - ref).max()) <= 0.2 * float(np.abs(oracle(model, x) - ref).max())


# ============================================================================ review regressions
def test_huge_padding_is_a_value_error_not_a_crash():
    """An output size that overflows must be refused before any buffer is sized from it."""
    model = Sequential([Conv2d(1, 1, 1, padding=(2 ** 39, 2 ** 23 - 1)), GlobalAvgPool2d(), Flatten()])
    with pytest.raises(ValueError, match=r"\bx\b"):
        InferenceModel(model).predict(np.zeros((1, 1, 1, 2), np.float32))
    net = pyconvnet._C.Network([1, 1, 2])
    with pytest.raises(ValueError, match="too large|overflow"):
        net.add_conv(np.ones((1, 1, 1, 1), np.float32), None, (1, 1), (2 ** 39, 2 ** 23, 2 ** 39, 2 ** 23),
                     (1, 1), 1)


def test_bad_pool_arguments_name_them():
    net = pyconvnet._C.Network([2, 6, 6])
    with pytest.raises(ValueError, match="kernel_size"):
        net.add_pool("max", (7, 7), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="norm_type"):
        net.add_pool("lp", (2, 2), (2, 2), (0, 0), norm_type=float("nan"))


def test_a_network_cannot_change_once_it_has_run():
    net = pyconvnet._C.Network([3, 4, 4])
    net.add_activation("relu")
    net.run(np.ones((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="cannot change"):
        net.add_activation("tanh")


def test_tier_switched_by_another_thread_leaves_outputs_unchanged():
    """A frozen convolution keeps the kernels it was packed for: with another thread switching
    the tier all the time, no call pairs one tier's weight layout with another tier's kernels
    (which read out of bounds and gave errors of 100 before). Elementwise kernels (ELU's exp)
    and the fully connected layer follow the tier of the moment, which changes only the last
    bits."""
    tiers = [t for t in pyconvnet._C.supported_isas()]
    if len(tiers) < 2:
        pytest.skip("one tier on this CPU")
    model = make("wide")
    im = InferenceModel(model)
    x = inputs(model, 3, seed=5)
    want = im.predict(x)
    start = pyconvnet._C.isa()
    stop = threading.Event()

    def toggle():
        k = 0
        while not stop.is_set():
            pyconvnet._C.set_isa(tiers[k % len(tiers)])
            k += 1

    t = threading.Thread(target=toggle)
    t.start()
    try:
        got = [im.predict(x) for _ in range(300)]
    finally:
        stop.set()
        t.join()
        pyconvnet._C.set_isa(start)
    for g in got:
        assert_close_to(g, want, tol=1e-5, what="the output of a quiet call")
