"""Convolutions whose padding dwarfs their input (csrc/conv/conv2d_trim.cpp): the kernels run
only the taps that reach the input, so a huge dilation costs memory in proportion to the input
and output, not to the padded input. Results against the float64 oracle, forward, backward and
serving; the memory bound in a subprocess with a capped address space."""

import textwrap

import numpy as np
import pytest

import conv_oracle64 as oracle
from conftest import run_python
import pyconvnet.functional as F
from pyconvnet import _C
from pyconvnet.inference import InferenceModel
from pyconvnet.layers import Conv2d
from pyconvnet.model import Sequential

# (x shape, weight shape, stride, pad4, dilation, groups): each pads to at least 64K floats per
# plane and four times what its live taps reach.
CASES = {
    # 'same' with one live tap per axis, no crop
    "same-center": ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), oracle.same_padding((3, 3), (200, 150)), (200, 150), 1),
    # the live tap reads only the middle of the input: rows and columns cropped
    "crop": ((1, 2, 40, 40), (5, 2, 3, 3), (1, 1), (140, 140, 140, 140), (150, 150), 1),
    "crop-stride": ((2, 2, 40, 41), (3, 2, 3, 3), (3, 2), (140, 140, 140, 140), (150, 150), 1),
    # trimmed along one axis only
    "one-axis": ((1, 2, 6, 120), (4, 2, 3, 3), (1, 1), oracle.same_padding((3, 3), (300, 1)), (300, 1), 1),
    # even kernel: 'same' puts the extra pixel bottom/right, two taps read the input
    "even-kernel": ((1, 2, 9, 7), (2, 2, 4, 4), (1, 1), oracle.same_padding((4, 4), (3, 90)), (3, 90), 1),
    "grouped": ((1, 4, 6, 6), (4, 2, 3, 3), (1, 1), oracle.same_padding((3, 3), (200, 200)), (200, 200), 2),
    "depthwise": ((1, 4, 6, 6), (8, 1, 3, 3), (1, 1), oracle.same_padding((3, 3), (200, 200)), (200, 200), 4),
    # no tap reaches the input: the output is the bias
    "no-taps": ((1, 2, 30, 30), (3, 2, 2, 2), (1, 1), (60, 200, 60, 200), (120, 400), 1),
}


def _data(xs, ws, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_backward_match_the_oracle(isa, name):
    xs, ws, stride, pad4, dilation, groups = CASES[name]
    x, w, b = _data(xs, ws)
    y = _C.conv2d_forward(x, w, b, stride, pad4, dilation, groups, False)
    want = oracle.conv2d(x, w, b, stride, pad4, dilation, groups)
    oracle.assert_close_to_scale(y, want, 1e-5, f"{name} forward")
    yr = _C.conv2d_forward(x, w, b, stride, pad4, dilation, groups, True)
    np.testing.assert_array_equal(yr, np.maximum(y, 0))
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    dx, dw, db = _C.conv2d_backward(x, w, dy, stride, pad4, dilation, groups, True, True, True)
    gx, gw, gb = oracle.conv2d_grads(x, w, dy, stride, pad4, dilation, groups)
    oracle.assert_close_to_scale(dx, gx, 1e-5, f"{name} dx")
    oracle.assert_close_to_scale(dw, gw, 1e-5, f"{name} dw")
    oracle.assert_close_to_scale(db, gb, 1e-5, f"{name} db")


def test_no_taps_output_is_the_bias_exactly():
    xs, ws, stride, pad4, dilation, groups = CASES["no-taps"]
    x, w, b = _data(xs, ws)
    y = _C.conv2d_forward(x, w, b, stride, pad4, dilation, groups, False)
    np.testing.assert_array_equal(y, np.broadcast_to(b[None, :, None, None], y.shape))
    dx, dw, _ = _C.conv2d_backward(x, w, np.ones_like(y), stride, pad4, dilation, groups, True, True, True)
    assert not dx.any() and not dw.any()


@pytest.mark.parametrize("name", ["same-center", "crop", "one-axis", "grouped", "no-taps"])
def test_serving_matches_the_layer(name):
    xs, ws, stride, pad4, dilation, groups = CASES[name]
    if pad4[0] != pad4[2] and pad4 != oracle.same_padding(ws[2:], dilation):
        pytest.skip("a layer takes symmetric or 'same' padding")
    padding = "same" if pad4 == oracle.same_padding(ws[2:], dilation) and stride == (1, 1) else pad4[:2]
    layer = Conv2d(xs[1], ws[0], ws[2:], stride=stride, padding=padding, dilation=dilation, groups=groups)
    x, w, b = _data(xs, ws)
    layer.weight.data[...] = w
    layer.bias.data[...] = b
    model = Sequential([layer], input_shape=xs[1:])
    model.eval()
    served = InferenceModel(model).predict(x)
    oracle.assert_close_to_scale(served, oracle.conv2d(x, w, b, stride, pad4, dilation, groups), 1e-5, name)
    assert "taps that reach the input" in InferenceModel(model).summary() or name == "no-taps"


def test_same_padding_with_a_huge_dilation_stays_small():
    """8x8 'same' with dilation 2**16 pads to 131080 x 131080 (69 GB of float32): with the
    address space capped at 1 GB it must run, forward and backward."""
    code = textwrap.dedent("""
        import resource
        import numpy as np
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pyconvnet.layers import Conv2d
        x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
        layer = Conv2d(3, 4, 3, padding="same", dilation=2**16)
        y = layer.forward(x)
        want = np.einsum("nchw,oc->nohw", x, layer.weight.data[:, :, 1, 1]) + layer.bias.data[:, None, None]
        assert np.allclose(y, want, rtol=1e-5, atol=1e-5)
        layer.backward(np.ones_like(y))
        assert not layer.weight.grad[:, :, 0].any()
        print("ok")
    """)
    out = run_python(["-c", code], timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_same_padding_whose_size_overflows_raises_value_error():
    x = np.zeros((1, 1, 8, 8), np.float32)
    for k, d in ((3, 2**62), (3, 2**63 - 1), (5, 2**62), (5, 2**63 - 1)):
        w = np.zeros((1, 1, k, k), np.float32)
        with pytest.raises(ValueError, match="too large"):
            F.conv2d(x, w, padding="same", dilation=d)
        with pytest.raises(ValueError, match="too large"):
            Conv2d(1, 1, k, padding="same", dilation=d).forward(x)
