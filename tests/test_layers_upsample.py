"""Upsample and functional.interpolate against float64 oracles built from the index and weight
formulas, finite differences and PyTorch, on every ISA tier and thread count."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pyconvnet
import pyconvnet.functional as F
from pyconvnet import _C
from pyconvnet.layers import LAYER_REGISTRY, Upsample

from conftest import same_for_thread_counts
from gradcheck import check_layer

f32 = np.float32


# --------------------------------------------------------------------------- float64 oracle
def _scale(n_in, n_out, factor, align_corners):
    """Source pixels per output pixel, in float32 as PyTorch computes it."""
    if align_corners:
        return f32(n_in - 1) / f32(n_out - 1) if n_out > 1 else f32(0)
    if factor is not None:
        return f32(1.0 / factor)
    return f32(n_in) / f32(n_out)


def nearest_index(n_in, n_out, factor):
    if n_out == n_in:
        return np.arange(n_out)
    if n_out == 2 * n_in:
        return np.arange(n_out) // 2
    pos = np.arange(n_out).astype(f32) * _scale(n_in, n_out, factor, False)
    return np.minimum(np.floor(pos).astype(np.int64), n_in - 1)


def linear_taps(n_in, n_out, factor, align_corners):
    """(i0, i1, w0, w1): output o = w0 * in[i0] + w1 * in[i1]."""
    scale = f32(1) if n_out == n_in else _scale(n_in, n_out, factor, align_corners)
    o = np.arange(n_out).astype(f32)
    pos = scale * o if align_corners else np.maximum(scale * (o + f32(0.5)) - f32(0.5), f32(0))
    i0 = np.minimum(np.floor(pos).astype(np.int64), n_in - 1)
    frac = np.clip(pos.astype(np.float64) - i0, 0.0, 1.0)
    return i0, np.minimum(i0 + 1, n_in - 1), 1.0 - frac, frac


def _axis_matrix(n_in, n_out, factor, mode, align_corners):
    """The (n_out, n_in) float64 matrix of one axis' interpolation."""
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    if mode == "nearest":
        m[rows, nearest_index(n_in, n_out, factor)] = 1.0
        return m
    i0, i1, w0, w1 = linear_taps(n_in, n_out, factor, align_corners)
    np.add.at(m, (rows, i0), w0)
    np.add.at(m, (rows, i1), w1)
    return m


def oracle(x, out, factors, mode, align_corners):
    """y = A_h x A_w^T per plane, and the adjoint dx = A_h^T dy A_w."""
    h, w = x.shape[2:]
    fh, fw = factors if factors is not None else (None, None)
    ah = _axis_matrix(h, out[0], fh, mode, align_corners)
    aw = _axis_matrix(w, out[1], fw, mode, align_corners)
    y = np.einsum("oh,nchw,pw->ncop", ah, x.astype(np.float64), aw)
    return y, (lambda gy: np.einsum("oh,ncop,pw->nchw", ah, gy.astype(np.float64), aw))


def _close(a, ref, what, tol=1e-5):
    scale = max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(a, ref, rtol=tol, atol=tol * scale, err_msg=what)


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# (input (h, w), interpolate kwargs)
CASES = [
    ((4, 5), dict(scale_factor=2)),
    ((4, 5), dict(scale_factor=2, mode="bilinear")),
    ((4, 5), dict(scale_factor=2, mode="bilinear", align_corners=True)),
    ((5, 7), dict(scale_factor=(1.7, 0.6))),
    ((5, 7), dict(scale_factor=(1.7, 0.6), mode="bilinear")),
    ((5, 7), dict(scale_factor=(2.1, 1.1), mode="bilinear")),   # an axis of unchanged size
    ((5, 7), dict(scale_factor=(2.1, 1.1))),                    # 2x and unchanged, nearest
    ((6, 3), dict(size=(4, 8), mode="bilinear")),
    ((6, 3), dict(size=(4, 8), mode="bilinear", align_corners=True)),
    ((6, 3), dict(size=(13, 1))),
    ((1, 1), dict(size=(3, 2), mode="bilinear", align_corners=True)),
    ((3, 4), dict(size=1, mode="bilinear", align_corners=True)),
    ((7, 9), dict(scale_factor=0.5, mode="bilinear")),
    ((2, 2), dict(scale_factor=3.3)),
]


def _expect(x, kw):
    size, factor, mode, ac = F.upsample.interpolate_args(kw.get("size"), kw.get("scale_factor"),
                                                         kw.get("mode", "nearest"), kw.get("align_corners"))
    out = size if size is not None else tuple(math.floor(n * f) for n, f in zip(x.shape[2:], factor))
    return oracle(x, out, factor, mode, ac)


@pytest.mark.parametrize("hw,kw", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_forward_and_backward_match_float64_oracle_on_every_tier(isa, hw, kw):
    x = _x((2, 3) + hw)
    layer = Upsample(**kw, **({} if "align_corners" in kw else {"align_corners": False}))
    y = layer.forward(x)
    want, adjoint = _expect(x, kw)
    assert y.shape == want.shape
    _close(y, want, "forward")
    assert np.array_equal(F.interpolate(x, **kw), y)
    gy = _x(y.shape, seed=1)
    _close(layer.backward(gy), adjoint(gy), "backward")


@pytest.mark.parametrize("hw,kw", [CASES[1], CASES[3], CASES[4], CASES[8], CASES[12]])
def test_bit_identical_for_every_thread_count(isa, hw, kw):
    # Many planes and rows, so the rows are split between threads in several ways.
    x = _x((3, 5) + tuple(4 * n for n in hw), seed=2)
    layer = Upsample(**kw)
    y = same_for_thread_counts(lambda: layer.forward(x), counts=(1, 2, 3, 4))
    gy = _x(y.shape, seed=3)

    def grad():
        layer.forward(x)
        return layer.backward(gy)

    same_for_thread_counts(grad, counts=(1, 2, 3, 4))


@pytest.mark.parametrize("kw,shape", [
    (dict(scale_factor=2, mode="bilinear"), (1, 2, 3, 3)),
    (dict(size=(5, 2), mode="bilinear", align_corners=True), (2, 1, 3, 4)),
    (dict(scale_factor=(1.5, 2.5)), (1, 2, 3, 2)),
])
def test_gradients_finite_differences(kw, shape):
    check_layer(Upsample(**kw), _x(shape))


def test_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    checked = 0
    for h, w in [(1, 1), (2, 3), (5, 4), (7, 7), (3, 11)]:
        for factor in [0.5, 0.6, 1.0, 1.1, 1.5, 1.7, 2.0, 2.1, 3.0, 3.3]:
            out = (math.floor(h * factor), math.floor(w * factor))
            if min(out) < 1:
                continue
            for mode, ac in [("nearest", None), ("bilinear", False), ("bilinear", True)]:
                for by_size in (False, True):
                    kw = dict(size=out) if by_size else dict(scale_factor=factor)
                    x = rng.standard_normal((2, 3, h, w)).astype(np.float32)
                    xt = torch.tensor(x, requires_grad=True)
                    yt = tf.interpolate(xt, mode=mode, align_corners=ac, **kw)
                    layer = Upsample(mode=mode, align_corners=bool(ac), **kw)
                    y = layer.forward(x)
                    gy = rng.standard_normal(y.shape).astype(np.float32)
                    yt.backward(torch.tensor(gy))
                    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-5)
                    np.testing.assert_allclose(layer.backward(gy), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
                    checked += 1
    assert checked > 250


def test_nearest_picks_pytorch_pixels_where_float32_rounding_decides():
    # Widths where o * in / out is an integer in exact arithmetic and the float32 product falls
    # just below it: exact arithmetic picks another pixel; PyTorch's float32 choice is the contract.
    torch = pytest.importorskip("torch")
    x = np.arange(1, 1 + 2 * 100, dtype=np.float32).reshape(1, 1, 2, 100)
    differs = 0
    for out in (115, 135, 185, 194, 198, 230, 270, 37, 150):
        want = torch.nn.functional.interpolate(torch.tensor(x), size=(2, out), mode="nearest").numpy()
        assert np.array_equal(F.interpolate(x, size=(2, out)), want), out
        differs += not np.array_equal(want[0, 0, 0] - 1, np.arange(out) * 100 // out)
    assert differs >= 5


def test_output_shape_flops_config_and_summary():
    layer = Upsample(scale_factor=(2, 1.5), mode="bilinear")
    x = _x((2, 3, 5, 4))
    y = layer.forward(x)
    assert y.shape == (2, 3, 10, 6) == layer.output_shape(x.shape)
    assert layer.output_shape((None, 3, 5, 4)) == (None, 3, 10, 6)
    assert layer.flops((None, 3, 5, 4)) == 8 * 3 * 10 * 6
    assert Upsample(size=7).flops((None, 3, 5, 4)) == 0
    assert Upsample(size=(7, 2)).output_shape((4, 3, 5, 4)) == (4, 3, 7, 2)
    cfg = json.loads(json.dumps(layer.get_config()))
    assert cfg == {"size": None, "scale_factor": [2.0, 1.5], "mode": "bilinear", "align_corners": False}
    assert np.array_equal(LAYER_REGISTRY["Upsample"](**cfg).infer(x), y)
    assert layer.params() == [] and layer.num_params() == 0
    with pytest.raises(ValueError, match="scale_factor"):
        Upsample(scale_factor=0.1).output_shape((None, 3, 5, 4))
    model = pyconvnet.Sequential([Upsample(scale_factor=2)])
    assert "(None, 3, 10, 8)" in model.summary((3, 5, 4))


def test_save_load_round_trip(tmp_path):
    model = pyconvnet.Sequential([Upsample(size=(6, 5), mode="bilinear", align_corners=True),
                                  Upsample(scale_factor=(1.5, 2))])
    x = _x((2, 2, 3, 3))
    path = tmp_path / "upsample.safetensors"
    model.save(path)
    again = pyconvnet.load(path)
    assert [layer.get_config() for layer in again.layers] == [layer.get_config() for layer in model.layers]
    assert np.array_equal(again.predict(x), model.predict(x))


@pytest.mark.parametrize("kw,exc,name", [
    (dict(), ValueError, "size"),
    (dict(size=2, scale_factor=2), ValueError, "scale_factor"),
    (dict(size=0), ValueError, "size"),
    (dict(size=(2, 3, 4)), ValueError, "size"),
    (dict(size=2.0), TypeError, "size"),
    (dict(size=True), TypeError, "size"),
    (dict(scale_factor=0), ValueError, "scale_factor"),
    (dict(scale_factor=-1.5), ValueError, "scale_factor"),
    (dict(scale_factor=float("inf")), ValueError, "scale_factor"),
    (dict(scale_factor="2"), TypeError, "scale_factor"),
    (dict(scale_factor=True), TypeError, "scale_factor"),
    (dict(scale_factor=(2, 2, 2)), ValueError, "scale_factor"),
    (dict(scale_factor=2, mode="bicubic"), NotImplementedError, "mode"),
    (dict(scale_factor=2, mode="cubic"), ValueError, "mode"),
    (dict(scale_factor=2, mode=1), TypeError, "mode"),
    (dict(scale_factor=2, align_corners=True), ValueError, "align_corners"),
    (dict(scale_factor=2, mode="bilinear", align_corners=1), TypeError, "align_corners"),
])
def test_bad_arguments_name_the_argument(kw, exc, name):
    with pytest.raises(exc, match=name):
        Upsample(**kw)
    with pytest.raises(exc, match=name):
        F.interpolate(_x((1, 1, 2, 2)), **kw)


def test_bad_inputs_name_the_argument():
    layer = Upsample(scale_factor=2)
    with pytest.raises(ValueError, match="x must be 4-D"):
        layer.forward(_x((2, 3, 3)))
    with pytest.raises(TypeError, match="x"):
        layer.forward(np.ones((1, 1, 2, 2), np.int32))
    with pytest.raises(ValueError, match="height and width"):
        F.interpolate(np.ones((1, 1, 0, 2), np.float32), size=2)
    with pytest.raises(ValueError, match="scale_factor"):
        F.interpolate(_x((1, 1, 3, 3)), scale_factor=0.2)
    with pytest.raises(RuntimeError, match="forward"):
        Upsample(size=2).backward(_x((1, 1, 2, 2)))
    layer.forward(_x((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="grad_y"):
        layer.backward(_x((1, 1, 3, 3)))
    # the raw binding checks on its own as well
    with pytest.raises(ValueError, match="mode"):
        _C.upsample2d_forward(_x((1, 1, 2, 2)), (3, 3), None, "area", False)
    with pytest.raises(ValueError, match="size"):
        _C.upsample2d_forward(_x((1, 1, 2, 2)), (0, 3), None, "nearest", False)
    with pytest.raises(ValueError, match="grad_y"):
        _C.upsample2d_backward(_x((1, 1, 2, 2)), (1, 1), (3, 3), None, "nearest", False)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
    by_size=st.booleans(), oh=st.integers(1, 12), ow=st.integers(1, 12),
    fh=st.floats(0.25, 4.0), fw=st.floats(0.25, 4.0),
    mode=st.sampled_from(["nearest", "bilinear", "bilinear-aligned"]), seed=st.integers(0, 2**16),
)
def test_hypothesis_shapes(n, c, h, w, by_size, oh, ow, fh, fw, mode, seed):
    ac = mode == "bilinear-aligned"
    mode = "bilinear" if ac else mode
    kw = dict(size=(oh, ow)) if by_size else dict(scale_factor=(fh, fw))
    if not by_size and (math.floor(h * fh) < 1 or math.floor(w * fw) < 1):
        with pytest.raises(ValueError, match="scale_factor"):
            F.interpolate(_x((n, c, h, w)), mode=mode, **kw)
        return
    x = _x((n, c, h, w), seed)
    layer = Upsample(mode=mode, align_corners=ac, **kw)
    y = layer.forward(x)
    want, adjoint = _expect(x, dict(kw, mode=mode, align_corners=ac))
    _close(y, want, "forward")
    gy = _x(y.shape, seed + 1)
    _close(layer.backward(gy), adjoint(gy), "backward")
