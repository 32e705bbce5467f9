"""ConvTranspose2d and functional.conv_transpose2d against a float64 scatter oracle, finite
differences and PyTorch, on every ISA tier and thread count."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C, init
from pyconvnet.layers import LAYER_REGISTRY, ConvTranspose2d

from conftest import same_for_thread_counts
from gradcheck import check_layer


# --------------------------------------------------------------------------- float64 oracle
def _canvas(x_hw, k, s, d, op):
    """Rows of the uncropped output: every tap of every input lands inside, plus output_padding."""
    return (x_hw - 1) * s + d * (k - 1) + 1 + op


def oracle_forward(x, w, b, stride, padding, output_padding, groups, dilation):
    """Scatter formulation: input pixel (iy, ix) of channel ci adds x * w[ci, co, ky, kx] at
    (iy * s + ky * d, ix * s + kx * d) of an uncropped canvas; the output is the canvas cropped by
    `padding` at the top/left, output_size long."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    cig = cin // groups
    canvas = np.zeros((n, cog * groups, _canvas(h, kh, sh, dh, oph), _canvas(wd, kw, sw, dw, opw)))
    for g in range(groups):
        xs = x[:, g * cig:(g + 1) * cig]
        for ky in range(kh):
            for kx in range(kw):
                contrib = np.einsum("nchw,co->nohw", xs, w[g * cig:(g + 1) * cig, :, ky, kx])
                canvas[:, g * cog:(g + 1) * cog,
                       ky * dh:ky * dh + (h - 1) * sh + 1:sh,
                       kx * dw:kx * dw + (wd - 1) * sw + 1:sw] += contrib
    y = canvas[:, :, ph:ph + oh, pw:pw + ow]
    if b is not None:
        y = y + b.astype(np.float64)[None, :, None, None]
    return y


def oracle_backward(x, w, gy, stride, padding, output_padding, groups, dilation):
    """The adjoint of the scatter: each (input pixel, tap) pair reads the gradient at the canvas
    position it wrote to (zero outside the cropped output)."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    oh, ow = gy.shape[2:]
    canvas = np.zeros((n, cog * groups, _canvas(h, kh, sh, dh, oph), _canvas(wd, kw, sw, dw, opw)))
    canvas[:, :, ph:ph + oh, pw:pw + ow] = gy.astype(np.float64)
    cig = cin // groups
    dx = np.zeros_like(x)
    dwt = np.zeros_like(w)
    for g in range(groups):
        xs = x[:, g * cig:(g + 1) * cig]
        for ky in range(kh):
            for kx in range(kw):
                gs = canvas[:, g * cog:(g + 1) * cog,
                            ky * dh:ky * dh + (h - 1) * sh + 1:sh,
                            kx * dw:kx * dw + (wd - 1) * sw + 1:sw]
                dx[:, g * cig:(g + 1) * cig] += np.einsum("nohw,co->nchw", gs, w[g * cig:(g + 1) * cig, :, ky, kx])
                dwt[g * cig:(g + 1) * cig, :, ky, kx] = np.einsum("nchw,nohw->co", xs, gs)
    db = gy.astype(np.float64).sum(axis=(0, 2, 3))
    return dx, dwt, db


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _args(kw):
    return (_pair(kw.get("stride", 1)), _pair(kw.get("padding", 0)), _pair(kw.get("output_padding", 0)),
            kw.get("groups", 1), _pair(kw.get("dilation", 1)))


# (x shape, out channels per group, kernel, kwargs). They reach every convolution path the
# transposed convolution runs on: GEMM + col2im, the direct and in-place forward (dx), depthwise
# (one output channel per group), pointwise, stride-1 dx as a convolution, dW by image chunks,
# output_padding beyond the padding (rows no tap reaches) and within it.
CASES = [
    ((2, 3, 5, 4), 4, 3, dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 4, 5), 3, 2, dict(stride=2)),
    ((1, 4, 5, 5), 2, (2, 3), dict(stride=(2, 3), padding=(0, 1), output_padding=(1, 2))),
    ((2, 4, 6, 5), 3, 3, dict(stride=1, padding=2, dilation=2, output_padding=1)),
    ((2, 6, 4, 4), 2, 3, dict(stride=2, padding=1, groups=3, output_padding=(1, 0))),
    ((2, 6, 5, 5), 1, 3, dict(stride=2, padding=1, groups=6)),          # depthwise
    ((2, 5, 4, 6), 3, 1, {}),                                            # pointwise
    ((2, 5, 4, 6), 3, 1, dict(stride=2, output_padding=1)),             # 1x1 strided
    ((1, 16, 6, 6), 20, 3, dict(stride=2, padding=1, output_padding=1)),  # direct dx
    ((2, 20, 5, 5), 32, 3, dict(padding=1)),                              # dx as a convolution
    ((2, 32, 4, 4), 16, 2, dict(stride=2)),                               # U-Net decoder shape
    ((17, 3, 3, 3), 4, 2, dict(stride=2, padding=1)),                     # dW by image chunks
    # the kernel tiles the output (kernel == stride): dW as one GEMM per image, by chunks of
    # images from 16 on, per group
    ((17, 3, 3, 2), 4, 2, dict(stride=2)),
    ((2, 4, 3, 3), 3, (3, 2), dict(stride=(3, 2), groups=2)),
    ((1, 2, 1, 1), 3, 4, dict(stride=3, padding=1, output_padding=2)),
    ((2, 3, 3, 4), 2, 3, dict(stride=3, padding=2, dilation=(2, 1), output_padding=(1, 2))),
]


def _case_data(case, seed=0):
    xs, cog, k, kw = case
    rng = np.random.default_rng(seed)
    groups = kw.get("groups", 1)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((xs[1], cog) + _pair(k)).astype(np.float32)
    b = rng.standard_normal(cog * groups).astype(np.float32)
    return x, w, b


def _run(x, w, b, kw, need=(True, True, True), seed=1):
    stride, padding, output_padding, groups, dilation = _args(kw)
    y = _C.conv_transpose2d_forward(x, w, b, stride, padding, output_padding, dilation, groups)
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    grads = _C.conv_transpose2d_backward(x, w, gy, stride, padding, output_padding, dilation, groups, *need)
    return y, gy, grads


def _close(a, ref, what, tol=2e-5):
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(a, ref, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[3]}" for c in CASES])
def test_forward_and_backward_match_float64_oracle_on_every_tier(isa, case):
    x, w, b = _case_data(case)
    kw = case[3]
    y, gy, (dx, dw, db) = _run(x, w, b, kw)
    _close(y, oracle_forward(x, w, b, *_args(kw)), f"forward on {isa}")
    rdx, rdw, rdb = oracle_backward(x, w, gy, *_args(kw))
    _close(dx, rdx, f"dx on {isa}")
    _close(dw, rdw, f"dweight on {isa}")
    _close(db, rdb, f"dbias on {isa}")


@pytest.mark.parametrize("case", [CASES[i] for i in (0, 4, 5, 9, 10, 11, 12, 13)])
def test_bit_identical_for_every_thread_count(isa, case):
    x, w, b = _case_data(case, seed=3)
    kw = case[3]
    same_for_thread_counts(lambda: _run(x, w, b, kw)[0])
    same_for_thread_counts(lambda: _run(x, w, b, kw)[2])


def test_bit_identical_for_every_thread_count_on_a_decoder_layer():
    # Large enough that every stage is split between threads.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 32, 16, 16)).astype(np.float32)
    w = rng.standard_normal((32, 16, 2, 2)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    kw = dict(stride=2)
    same_for_thread_counts(lambda: _run(x, w, b, kw)[0], counts=(1, 2, 4))
    same_for_thread_counts(lambda: _run(x, w, b, kw)[2], counts=(1, 2, 4))


def test_requested_gradients_only():
    x, w, b = _case_data(CASES[0])
    _, _, (dx, dw, db) = _run(x, w, b, CASES[0][3])
    for need in [(True, False, False), (False, True, False), (False, False, True)]:
        got = _run(x, w, b, CASES[0][3], need)[2]
        for flag, g, full in zip(need, got, (dx, dw, db)):
            assert (g is None) != flag
            if flag:
                assert np.array_equal(g, full)


def test_empty_batch():
    x = np.zeros((0, 3, 4, 4), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    y, _, (dx, dw, db) = _run(x, w, np.ones(2, np.float32), dict(stride=2, output_padding=1))
    assert y.shape == (0, 2, 10, 10) and dx.shape == x.shape
    assert not dw.any() and not db.any() and dw.shape == w.shape


@pytest.mark.parametrize("kwargs,shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1), (2, 2, 3, 3)),
    (dict(in_channels=4, out_channels=2, kernel_size=(2, 3), stride=(2, 1), groups=2, dilation=(1, 2)), (1, 4, 3, 2)),
    (dict(in_channels=2, out_channels=2, kernel_size=2, stride=2, bias=False), (2, 2, 2, 3)),
])
def test_gradients_finite_differences(kwargs, shape):
    init.manual_seed(0)
    layer = ConvTranspose2d(**kwargs)
    check_layer(layer, np.random.default_rng(0).normal(size=shape).astype(np.float32))


# --------------------------------------------------------------------------- the layer
def test_layer_matches_functional_and_accumulates_gradients():
    init.manual_seed(2)
    layer = ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    y = layer.forward(x)
    assert np.array_equal(y, F.conv_transpose2d(x, layer.weight.data, layer.bias.data, 2, 1, 1, 2))
    assert np.array_equal(layer.infer(x), y)
    assert np.array_equal(F.conv_transpose2d(x[0], layer.weight.data, layer.bias.data, 2, 1, 1, 2), y[0])
    g = np.ones_like(y)
    dx = layer.backward(g)
    dw = layer.weight.grad.copy()
    layer.forward(x)
    assert np.array_equal(layer.backward(g), dx)
    assert np.array_equal(layer.weight.grad, 2 * dw)
    layer.weight.trainable = False
    layer.bias.trainable = False
    layer.forward(x)
    assert layer._backward(g, False) is None


def test_matches_torch_layer_forward_and_backward():
    torch = pytest.importorskip("torch")
    for kw in [dict(stride=2, padding=1, output_padding=1), dict(stride=3, padding=2, dilation=2, output_padding=2,
                                                               groups=2), dict(stride=2)]:
        init.manual_seed(1)
        layer = ConvTranspose2d(4, 6, 3, **kw)
        x = np.random.default_rng(1).standard_normal((2, 4, 7, 6)).astype(np.float32)
        y = layer.forward(x)
        g = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
        dx = layer.backward(g)
        tl = torch.nn.ConvTranspose2d(4, 6, 3, **kw)
        with torch.no_grad():
            tl.weight.copy_(torch.tensor(layer.weight.data))
            tl.bias.copy_(torch.tensor(layer.bias.data))
        xt = torch.tensor(x, requires_grad=True)
        yt = tl(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(layer.weight.grad, tl.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(layer.bias.grad, tl.bias.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_accepts_and_rejects_the_geometries_torch_does():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    w = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    checked = 0
    for s in (1, 2, 3):
        for d in (1, 2):
            for p in (0, 1, 3, 4):
                for op in (0, 1, 2):
                    try:
                        want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(w), None, s, p, op,
                                                                    1, d).numpy()
                    except RuntimeError:
                        with pytest.raises(ValueError):
                            F.conv_transpose2d(x, w, None, s, p, op, 1, d)
                        continue
                    np.testing.assert_allclose(F.conv_transpose2d(x, w, None, s, p, op, 1, d), want,
                                               rtol=1e-5, atol=1e-5)
                    checked += 1
    assert checked > 20


def test_default_init_is_pytorch_kaiming_uniform_with_transposed_fan_in():
    init.manual_seed(0)
    layer = ConvTranspose2d(8, 16, 3, groups=2)
    bound = 1.0 / np.sqrt(8 * 9)  # fan_in = weight.shape[1] * kh * kw = (16 // 2) * 9
    w, b = layer.weight.data, layer.bias.data
    assert w.shape == (8, 8, 3, 3) and b.shape == (16,)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound and np.abs(b).max() > 0.5 * bound
    init.manual_seed(0)
    again = ConvTranspose2d(8, 16, 3, groups=2)
    assert np.array_equal(again.weight.data, w) and np.array_equal(again.bias.data, b)
    assert ConvTranspose2d(2, 3, 2, bias=False).params()[0].shape == (2, 3, 2, 2)
    assert len(ConvTranspose2d(2, 3, 2, bias=False).params()) == 1


def test_output_shape_flops_config_and_summary():
    layer = ConvTranspose2d(3, 8, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2))
    x = np.ones((2, 3, 5, 4), np.float32)
    y = layer.forward(x)
    # (5 - 1) * 2 - 2 + 1 * 2 + 1 + 1 = 10 and (4 - 1) * 3 - 0 + 2 * 1 + 2 + 1 = 14
    assert y.shape == (2, 8, 10, 14)
    assert layer.output_shape(x.shape) == y.shape
    assert layer.output_shape((None, 3, 5, 4)) == (None, 8, 10, 14)
    assert layer.flops((None, 3, 5, 4)) == 2 * 3 * 5 * 4 * 8 * 6 + 8 * 10 * 14
    with pytest.raises(ValueError, match="in_channels"):
        layer.output_shape((None, 4, 5, 4))
    with pytest.raises(ValueError, match="padding"):
        ConvTranspose2d(1, 1, 1, padding=2).output_shape((None, 1, 2, 2))
    cfg = json.loads(json.dumps(layer.get_config()))
    clone = LAYER_REGISTRY["ConvTranspose2d"](**cfg)
    clone.weight.data[...] = layer.weight.data
    clone.bias.data[...] = layer.bias.data
    assert np.array_equal(clone.infer(x), y)
    model = pyconvnet.Sequential([ConvTranspose2d(3, 4, 2, stride=2)])
    assert "ConvTranspose2d" in model.summary((3, 5, 4)) and "(None, 4, 10, 8)" in model.summary((3, 5, 4))


def test_save_load_round_trip(tmp_path):
    init.manual_seed(3)
    model = pyconvnet.Sequential([ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2,
                                                  dilation=1, bias=True),
                                  ConvTranspose2d(4, 1, 2, stride=2, bias=False)])
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32)
    path = tmp_path / "tconv.safetensors"
    model.save(path)
    again = pyconvnet.load(path)
    assert [type(layer) for layer in again.layers] == [ConvTranspose2d, ConvTranspose2d]
    assert again.layers[0].get_config() == model.layers[0].get_config()
    assert np.array_equal(again.predict(x), model.predict(x))


@pytest.mark.parametrize("make,exc,name", [
    (lambda: ConvTranspose2d(2, 2, 3, stride=2, output_padding=2), ValueError, "output_padding"),
    (lambda: ConvTranspose2d(2, 2, 3, stride=1, dilation=1, output_padding=1), ValueError, "output_padding"),
    (lambda: ConvTranspose2d(2, 2, 3, output_padding=-1), ValueError, "output_padding"),
    (lambda: ConvTranspose2d(2, 2, 3, padding=-1), ValueError, "padding"),
    (lambda: ConvTranspose2d(2, 2, 0), ValueError, "kernel_size"),
    (lambda: ConvTranspose2d(2, 2, 3, stride=0), ValueError, "stride"),
    (lambda: ConvTranspose2d(2, 2, 3, dilation=0), ValueError, "dilation"),
    (lambda: ConvTranspose2d(3, 2, 3, groups=2), ValueError, "groups"),
    (lambda: ConvTranspose2d(0, 2, 3), ValueError, "in_channels"),
    (lambda: ConvTranspose2d(2, 2.0, 3), TypeError, "out_channels"),
    (lambda: ConvTranspose2d(2, 2, 3, bias=1), TypeError, "bias"),
    (lambda: ConvTranspose2d(2, 2, 3, stride=True), TypeError, "stride"),
    (lambda: ConvTranspose2d(2, 2, 3, output_padding=(1, 2, 3)), ValueError, "output_padding"),
])
def test_bad_arguments_name_the_argument(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_bad_inputs_name_the_argument():
    layer = ConvTranspose2d(2, 3, 3)
    with pytest.raises(ValueError, match="in_channels"):
        layer.forward(np.ones((1, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(np.ones((2, 4, 4), np.float32))
    with pytest.raises(TypeError, match="x"):
        layer.forward(np.ones((1, 2, 4, 4), np.int64))
    layer.forward(np.ones((1, 2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="grad_y"):
        layer.backward(np.ones((1, 3, 5, 5), np.float32))
    w = np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="weight"):
        F.conv_transpose2d(np.ones((1, 3, 4, 4), np.float32), w)
    with pytest.raises(ValueError, match="bias"):
        F.conv_transpose2d(np.ones((1, 2, 4, 4), np.float32), w, np.ones(2, np.float32))
    with pytest.raises(ValueError, match="padding"):
        F.conv_transpose2d(np.ones((1, 2, 1, 1), np.float32), w, padding=2)
    with pytest.raises(ValueError, match="height and width"):
        F.conv_transpose2d(np.ones((1, 2, 0, 4), np.float32), w)
    # the raw binding checks on its own as well
    with pytest.raises(ValueError, match="output_padding"):
        _C.conv_transpose2d_forward(np.ones((1, 2, 3, 3), np.float32), w, None, (1, 1), (0, 0), (1, 1), (1, 1), 1)
    with pytest.raises(TypeError, match="weight"):
        _C.conv_transpose2d_forward(np.ones((1, 2, 3, 3), np.float32), w.astype(np.float64), None, 1, 0, 0, 1, 1)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3), cin=st.integers(1, 4), cog=st.integers(1, 4), groups=st.integers(1, 2),
    h=st.integers(1, 6), w=st.integers(1, 6), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
    dh=st.integers(1, 2), dw=st.integers(1, 2), oph=st.integers(0, 2), opw=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_shapes(n, cin, cog, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oph, opw, seed):
    kwargs = dict(stride=(sh, sw), padding=(ph, pw), output_padding=(oph, opw), groups=groups,
                  dilation=(dh, dw))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin * groups, h, w)).astype(np.float32)
    wt = rng.standard_normal((cin * groups, cog, kh, kw)).astype(np.float32)
    b = rng.standard_normal(cog * groups).astype(np.float32)
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    if oph >= max(sh, dh) or opw >= max(sw, dw) or oh < 1 or ow < 1:
        with pytest.raises(ValueError):
            F.conv_transpose2d(x, wt, b, **kwargs)
        return
    y, gy, (dx, dwt, db) = _run(x, wt, b, kwargs, seed=seed + 1)
    assert y.shape == (n, cog * groups, oh, ow)
    _close(y, oracle_forward(x, wt, b, *_args(kwargs)), "forward")
    rdx, rdw, rdb = oracle_backward(x, wt, gy, *_args(kwargs))
    _close(dx, rdx, "dx")
    _close(dwt, rdw, "dweight")
    _close(db, rdb, "dbias")
