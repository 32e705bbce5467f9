"""relu, leaky_relu, sigmoid, tanh, elu: forward (pyconvnet.functional) and backward (_C).

Oracle: float64 NumPy (tests/reference/elementwise.py); torch is an extra oracle when installed.
Every kernel test runs on every ISA tier the CPU supports; thread counts 1/2/3 must give identical
bits.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyconvnet.functional as F
from pyconvnet import _C
from reference import elementwise as R
from reference.elementwise import using

# Around the 8-lane (AVX2) and 16-lane (AVX-512) blocks and their 2-block unrolls.
SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 16383, 16384, 16385, 32775, 1000003]
SLOPE = 0.01
ALPHA = 1.0



def fwd(name, x, param=None):
    """The public forward (pyconvnet.functional)."""
    if name == "relu":
        return F.relu(x)
    if name == "leaky_relu":
        return F.leaky_relu(x, SLOPE if param is None else param)
    if name == "sigmoid":
        return F.sigmoid(x)
    if name == "tanh":
        return F.tanh(x)
    if name == "elu":
        return F.elu(x, ALPHA if param is None else param)
    raise AssertionError(name)


def ref_fwd(name, x, param=None):
    if name == "relu":
        return R.relu(x)
    if name == "leaky_relu":
        return R.leaky_relu(x, np.float32(SLOPE if param is None else param))
    if name == "sigmoid":
        return R.sigmoid(x)
    if name == "tanh":
        return R.tanh(x)
    if name == "elu":
        return R.elu(x, np.float32(ALPHA if param is None else param))
    raise AssertionError(name)


def bwd(name, gy, x, y, param=None):
    """The _C backward with the argument the contract names (y for relu/sigmoid/tanh, else x)."""
    if name == "relu":
        return _C.relu_backward(gy, y)
    if name == "leaky_relu":
        return _C.leaky_relu_backward(gy, x, SLOPE if param is None else param)
    if name == "sigmoid":
        return _C.sigmoid_backward(gy, y)
    if name == "tanh":
        return _C.tanh_backward(gy, y)
    if name == "elu":
        return _C.elu_backward(gy, x, ALPHA if param is None else param)
    raise AssertionError(name)


def ref_bwd_x(name, gy, x, param=None):
    """The analytic derivative as a function of x (float64)."""
    if name == "relu":
        return np.where(R._f64(x) > 0, R._f64(gy), 0.0)
    if name == "leaky_relu":
        return R.leaky_relu_grad(gy, x, np.float32(SLOPE if param is None else param))
    if name == "sigmoid":
        return R.sigmoid_grad_x(gy, x)
    if name == "tanh":
        return R.tanh_grad_x(gy, x)
    if name == "elu":
        return R.elu_grad(gy, x, np.float32(ALPHA if param is None else param))
    raise AssertionError(name)


NAMES = ["relu", "leaky_relu", "sigmoid", "tanh", "elu"]
# Accuracy of the forward against float64, in float32 ulps (0.5 = correctly rounded).
MAX_ULP = {"relu": 0, "leaky_relu": 0.5, "sigmoid": 4, "tanh": 4, "elu": 4}


def rand(n, seed=0, scale=4.0):
    return (np.random.default_rng(seed).standard_normal(n) * scale).astype(np.float32)


SPECIAL = np.array(
    [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 3e38, -3e38, 1e30, -1e30, 1e10, -1e10,
     1e-45, -1e-45, 1e-40, -1e-40, 1.1754944e-38, -1.1754944e-38, 1e-20, -1e-20, 1e-7, -1e-7,
     0.5, -0.5, 20.0, -20.0, 88.0, -88.0, 88.8, -88.8, 89.0, -89.0, 100.0, -100.0, 104.0, -104.0,
     200.0, -200.0, 0.34657359, -0.34657359, 9.0, -9.0, 8.5, -8.5],
    dtype=np.float32,
)


def assert_ulp(name, y, r, what):
    assert y.dtype == np.float32 and y.shape == r.shape, what
    np.testing.assert_array_equal(np.isnan(y), np.isnan(r), err_msg=f"{what}: NaN positions")
    fin = np.isfinite(r)
    np.testing.assert_array_equal(y[~fin & ~np.isnan(r)], r[~fin & ~np.isnan(r)], err_msg=what)
    err = R.ulp_error(y[fin], r[fin])
    worst = np.nanmax(err) if err.size else 0.0
    assert worst <= MAX_ULP[name], f"{what}: {worst:.2f} ulp (> {MAX_ULP[name]}) at x index {np.nanargmax(err)}"


# --- forward ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", SIZES)
def test_forward_matches_oracle(isa, name, n):
    x = rand(n, seed=n)
    y = fwd(name, x)
    assert_ulp(name, y, ref_fwd(name, x), f"{name}[{isa}] n={n}")


@pytest.mark.parametrize("name", NAMES)
def test_forward_special_values(isa, name):
    y = fwd(name, SPECIAL)
    r = ref_fwd(name, SPECIAL)
    assert_ulp(name, y, r, f"{name}[{isa}] special")
    if name != "sigmoid":  # signed zeros as PyTorch: f(-0) == -0, f(+0) == +0
        np.testing.assert_array_equal(np.signbit(y[:2]), [False, True])


@pytest.mark.parametrize("name", NAMES)
def test_forward_dense_sweep_accuracy(isa, name):
    """Every float32 magnitude from 1e-30 to 1e3 (both signs) plus a fine grid on [-20, 20]."""
    mags = np.logspace(-30, 3, 200001).astype(np.float32)
    x = np.concatenate([mags, -mags, np.linspace(-20, 20, 100001, dtype=np.float32)])
    assert_ulp(name, fwd(name, x), ref_fwd(name, x), f"{name}[{isa}] sweep")


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu"])
def test_saturation_and_tiny(isa, name):
    big = np.array([-np.inf, -1e30, -200.0, -100.0, 100.0, 1e30, np.inf], dtype=np.float32)
    y = fwd(name, big)
    assert not np.isnan(y).any()
    if name == "sigmoid":
        np.testing.assert_array_equal(y[[0, 1, 2]], 0.0)
        assert 0.0 < y[3] < 1e-40  # sigmoid(-100) = 3.7e-44: subnormal, not flushed
        np.testing.assert_array_equal(y[4:], 1.0)
    elif name == "tanh":
        np.testing.assert_array_equal(y, [-1, -1, -1, -1, 1, 1, 1])
    else:
        np.testing.assert_array_equal(y[:4], -1.0)
        np.testing.assert_array_equal(y[4:], big[4:])
    # relative accuracy near 0 (no cancellation), subnormals included
    t = np.float32(1e-38) * np.arange(1, 50, dtype=np.float32)
    tiny = np.concatenate([np.logspace(-44, -1, 2000).astype(np.float32), t])
    for s in (1.0, -1.0):
        x = (s * tiny).astype(np.float32)
        np.testing.assert_allclose(fwd(name, x), ref_fwd(name, x), rtol=3e-7, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_position_independent(isa, name):
    """The SIMD body and the tail give the same bits: results do not depend on the offset."""
    x = np.concatenate([rand(61, seed=3), SPECIAL])
    full = fwd(name, x)
    for k in range(1, 34):  # every position within a 2 x 16-lane block
        np.testing.assert_array_equal(fwd(name, x[k:]), full[k:], err_msg=f"offset {k}")
    for m in range(0, 34):
        np.testing.assert_array_equal(fwd(name, x[: len(x) - m]), full[: len(x) - m])


@pytest.mark.parametrize("name", ["leaky_relu", "elu"])
@pytest.mark.parametrize("param", [0.0, 0.2, 1.0, 2.5, -0.3])
def test_forward_parameter(isa, name, param):
    x = np.concatenate([rand(1001, seed=5), SPECIAL])
    assert_ulp(name, fwd(name, x, param), ref_fwd(name, x, param), f"{name}({param})")


@pytest.mark.parametrize("shape", [(), (1,), (3, 5), (2, 3, 4, 5), (64, 3, 7, 9), (0, 4), (2, 0, 3)])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_conversion(name, shape):
    rng = np.random.default_rng(1)
    x64 = np.asarray(rng.standard_normal(shape) * 3)
    y = fwd(name, x64)
    assert y.shape == x64.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, fwd(name, x64.astype(np.float32)))
    np.testing.assert_array_equal(fwd(name, x64.astype(np.float16)), fwd(name, x64.astype(np.float16).astype(np.float32)))
    if x64.ndim >= 2:  # strided view converts once, same result
        v = x64.astype(np.float32).swapaxes(0, -1)
        np.testing.assert_array_equal(fwd(name, v), fwd(name, np.ascontiguousarray(v)))


def test_inputs_not_modified_and_lists():
    x = rand(100, seed=9)
    keep = x.copy()
    for name in NAMES:
        fwd(name, x)
    np.testing.assert_array_equal(x, keep)
    np.testing.assert_array_equal(F.relu([[1, -2], [3, -4]]), [[1, 0], [3, 0]])
    np.testing.assert_allclose(F.sigmoid(0.0), 0.5)


# --- backward --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [1, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 16385, 100003])
def test_backward_matches_analytic(isa, name, n):
    x = rand(n, seed=100 + n)
    gy = rand(n, seed=200 + n, scale=1.0)
    y = fwd(name, x)
    gx = bwd(name, gy, x, y)
    assert gx.dtype == np.float32 and gx.shape == x.shape
    np.testing.assert_allclose(gx, ref_bwd_x(name, gy, x), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_backward_at_zero_and_specials(isa, name):
    """Derivatives at exactly 0 follow PyTorch: relu 0, leaky negative_slope, elu alpha."""
    x = np.array([0.0, -0.0], dtype=np.float32)
    gy = np.array([3.0, 3.0], dtype=np.float32)
    gx = bwd(name, gy, x, fwd(name, x), param={"leaky_relu": 0.25, "elu": 0.5}.get(name))
    want = {"relu": 0.0, "leaky_relu": 0.75, "sigmoid": 0.75, "tanh": 3.0, "elu": 1.5}[name]
    np.testing.assert_array_equal(gx, [want, want])
    # saturated regions: no NaN from inf inputs, zero slope at +-inf for the smooth ones
    xs = np.array([np.inf, -np.inf, 1e30, -1e30], dtype=np.float32)
    g = bwd(name, np.ones(4, np.float32), xs, fwd(name, xs))
    assert not np.isnan(g).any()
    if name in ("sigmoid", "tanh"):
        np.testing.assert_array_equal(g, 0.0)


def test_relu_backward_nan_follows_pytorch(isa):
    # threshold_backward: grad where not (y <= 0); so y = NaN passes the gradient through
    y = np.array([np.nan, 0.0, -0.0, 1.0, -1.0], dtype=np.float32)
    g = np.array([2.0, 2.0, 2.0, 2.0, np.nan], dtype=np.float32)
    np.testing.assert_array_equal(_C.relu_backward(g, y), [2.0, 0.0, 0.0, 2.0, 0.0])


@pytest.mark.parametrize("name", NAMES)
def test_backward_finite_differences(isa, name):
    """The kernel's backward against central differences of the kernel's own forward."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-4, 4, 400).astype(np.float32)
    if name in ("relu", "leaky_relu", "elu"):
        x = x[np.abs(x) > 0.05]  # stay off the kink
    h = np.float32(1e-2)
    xp, xm = (x + h).astype(np.float32), (x - h).astype(np.float32)
    step = xp.astype(np.float64) - xm.astype(np.float64)
    num = (fwd(name, xp).astype(np.float64) - fwd(name, xm).astype(np.float64)) / step
    gx = bwd(name, np.ones_like(x), x, fwd(name, x))
    np.testing.assert_allclose(gx, num, rtol=2e-3, atol=2e-4)


# --- ISA paths and threads -------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_threads_bit_identical(isa, name):
    n = 5 * 16384 + 13
    x = np.concatenate([rand(n, seed=11), SPECIAL])
    gy = rand(x.size, seed=12, scale=1.0)
    outs = []
    for t in (1, 2, 3):
        with using(threads=t):
            y = fwd(name, x)
            outs.append((y, bwd(name, gy, x, y)))
    for y, g in outs[1:]:
        np.testing.assert_array_equal(y, outs[0][0])
        np.testing.assert_array_equal(g, outs[0][1])


def test_isa_paths_agree():
    isas = R.isa_names()
    if len(isas) == 1:
        pytest.skip("CPU runs only the ref tier")
    x = np.concatenate([rand(40003, seed=21), SPECIAL])
    gy = rand(x.size, seed=22, scale=1.0)
    ys = {n: fwd(n, x) for n in NAMES}  # one y for every path: backward results are comparable
    res = {}
    for name in isas:
        with using(isa=name):
            res[name] = {n: fwd(n, x) for n in NAMES}
            res[name]["grads"] = {n: bwd(n, gy, x, ys[n]) for n in NAMES}
    for isa in isas[1:]:
        # relu and leaky_relu (forward and backward) and sigmoid's backward are exact everywhere
        for n in ("relu", "leaky_relu"):
            np.testing.assert_array_equal(res[isa][n], res["ref"][n], err_msg=f"{n} {isa}")
            np.testing.assert_array_equal(res[isa]["grads"][n], res["ref"]["grads"][n], err_msg=f"{n} {isa}")
        np.testing.assert_array_equal(res[isa]["grads"]["sigmoid"], res["ref"]["grads"]["sigmoid"])
        for n in NAMES:
            np.testing.assert_allclose(res[isa][n], res["ref"][n], rtol=5e-7, atol=0, err_msg=f"{n} {isa}")
            np.testing.assert_allclose(res[isa]["grads"][n], res["ref"]["grads"][n], rtol=1e-6, atol=1e-6,
                                       err_msg=f"{n} {isa}")


def test_avx512_same_bits_as_avx2():
    """The AVX-512 kernels evaluate the AVX2 formulas lane by lane (same polynomial, clamps and
    operation order; vscalefps rounds 2^n * p once as the AVX2 pair of multiplies does), so the two
    tiers agree bit for bit, forward and backward, over every float32 magnitude and the specials."""
    if _C.isa_missing("avx512"):
        pytest.skip("CPU lacks the avx512 tier")
    mags = np.logspace(-45, 3, 100001).astype(np.float32)
    x = np.concatenate([mags, -mags, np.linspace(-100, 100, 100001, dtype=np.float32), SPECIAL,
                        rand(20011, seed=23, scale=30.0)])
    gy = rand(x.size, seed=24, scale=1.0)
    ys = {n: fwd(n, x) for n in NAMES}
    res = {}
    for name in ("avx2", "avx512"):
        with using(isa=name):
            res[name] = [(fwd(n, x), bwd(n, gy, x, ys[n])) for n in NAMES]
            res[name].append((F.softmax(x[:30000].reshape(300, 100), 1),))
    for n, a, b in zip(NAMES + ["softmax"], res["avx2"], res["avx512"]):
        for u, v in zip(a, b):
            assert u.tobytes() == v.tobytes(), f"{n}: avx512 differs from avx2"



# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_bad_dtypes_raise_typeerror(name):
    with pytest.raises(TypeError, match=r"astype"):
        fwd(name, np.arange(6, dtype=np.int32))
    with pytest.raises(TypeError, match=r"astype"):
        fwd(name, np.ones(3, dtype=np.uint8))
    with pytest.raises(TypeError, match=r"bool"):
        fwd(name, np.ones(3, dtype=bool))
    with pytest.raises(TypeError, match=r"complex"):
        fwd(name, np.ones(3, dtype=np.complex64))
    with pytest.raises(TypeError, match=r"x"):
        fwd(name, np.array(["a"], dtype=object))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_bad_parameters(bad):
    x = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"negative_slope"):
        F.leaky_relu(x, negative_slope=bad)
    with pytest.raises(ValueError, match=r"alpha"):
        F.elu(x, alpha=bad)


def test_bad_parameter_types():
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"negative_slope"):
        F.leaky_relu(x, negative_slope="0.1")
    with pytest.raises(TypeError, match=r"alpha"):
        F.elu(x, alpha=None)
    with pytest.raises(TypeError, match=r"negative_slope"):
        F.leaky_relu(x, True)


def test_C_is_strict():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(TypeError, match=r"float32"):
        _C.relu_forward(x.astype(np.float64))
    with pytest.raises(TypeError, match=r"C-contiguous"):
        _C.sigmoid_forward(x.T)
    with pytest.raises(TypeError, match=r"x must be a numpy.ndarray"):
        _C.tanh_forward([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad_y shape \(3, 2\) does not match y shape \(2, 3\)"):
        _C.relu_backward(np.ones((3, 2), np.float32), x)
    with pytest.raises(ValueError, match=r"does not match x shape"):
        _C.elu_backward(np.ones(6, np.float32), x, 1.0)
    with pytest.raises(TypeError, match=r"grad_y must have dtype float32"):
        _C.tanh_backward(x.astype(np.float64), x)
    with pytest.raises(ValueError, match=r"alpha"):
        _C.elu_forward(x, float("nan"))


# --- torch as an extra oracle ----------------------------------------------------------------


def test_tanh_on_the_torch_cross_check_inputs():
    """tanh has no torch cross-check: torch's own tanh is wrong in some processes (about 1 run
    in 15 it differs from float64 tanh on these inputs while pyconvnet does not), so the inputs
    of test_matches_torch are checked against the float64 oracle instead."""
    x = np.concatenate([rand(3001, seed=31), SPECIAL])
    y = fwd("tanh", x)
    assert_ulp("tanh", y, ref_fwd("tanh", x), "tanh on the torch inputs")
    gy = rand(x.size, seed=32, scale=1.0)
    ok = ~np.isnan(x)
    np.testing.assert_allclose(bwd("tanh", gy, x, y)[ok], ref_bwd_x("tanh", gy, x)[ok], rtol=2e-5, atol=1e-6)


# tanh: see test_tanh_on_the_torch_cross_check_inputs (torch's tanh is not stable enough to be a reference)
@pytest.mark.parametrize("name", [n for n in NAMES if n != "tanh"])
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = np.concatenate([rand(3001, seed=31), SPECIAL])
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = {"relu": tf.relu, "leaky_relu": lambda v: tf.leaky_relu(v, SLOPE), "sigmoid": torch.sigmoid,
          "elu": lambda v: tf.elu(v, ALPHA)}[name](t)
    gy = rand(x.size, seed=32, scale=1.0)
    ty.backward(torch.from_numpy(gy))
    y = fwd(name, x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-6, atol=1e-30)
    np.testing.assert_array_equal(np.signbit(y[np.isfinite(y)]), np.signbit(ty.detach().numpy()[np.isfinite(y)]))
    # torch's backward takes its own y: 1 - y*y (tanh) amplifies a 1-ulp difference in y
    # (torch's elu backward at x = NaN differs between its scalar and vector loops: skip NaN x)
    g = bwd(name, gy, x, ty.detach().numpy().copy())
    ok = ~np.isnan(x)
    np.testing.assert_allclose(g[ok], t.grad.numpy()[ok], rtol=1e-5, atol=1e-7)


# --- hypothesis sweep ------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 9), min_size=0, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1e-3, 1.0, 10.0, 100.0]),
    name=st.sampled_from(NAMES),
    isa_name=st.sampled_from(["ref", "avx2", "avx512"]),
)
def test_hypothesis_shapes(shape, seed, scale, name, isa_name):
    isa_name = R.runnable_isa(isa_name)
    x = np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)
    with using(isa=isa_name):
        y = fwd(name, x)
        gy = np.ones_like(x)
        g = bwd(name, gy, x, y)
    assert y.shape == x.shape
    assert_ulp(name, y, ref_fwd(name, x), f"{name} {shape}")
    np.testing.assert_allclose(g, ref_bwd_x(name, gy, x), rtol=2e-5, atol=1e-6)


def test_fp_environment_untouched():
    """No kernel turns on flush-to-zero / denormals-are-zero for the process."""
    x = np.array([1e-40, -1e-40, 3e-39], dtype=np.float32)
    for name in NAMES:
        fwd(name, rand(100, seed=1))
    F.softmax(rand((3, 4), seed=2), 1)
    F.dropout(rand(100, seed=3), 0.5, seed=1)
    assert (x * np.float32(1.0))[0] == np.float32(1e-40)
    assert np.float32(1e-38) / np.float32(4) > 0
    np.testing.assert_array_equal(F.relu(x), np.float32([1e-40, 0, 3e-39]))


@pytest.mark.parametrize("name", NAMES)
def test_large_outputs_streamed_give_the_same_bits(isa, name):
    """Outputs of 1M+ floats per thread are written with non-temporal stores (aligned body,
    head and tail through the normal path): the same bits as small calls, forward and backward."""
    from conftest import threads

    n = (1 << 21) + 13
    x = rand(n, seed=5)
    gy = rand(n, seed=6)
    picks = [slice(0, 40), slice(12345, 12400), slice(n - 40, n)]
    for t in (1, 2):
        with threads(t):
            y = fwd(name, x)
            gx = bwd(name, gy, x, y)
        for sl in picks:
            xs = x[sl].copy()
            np.testing.assert_array_equal(y[sl], fwd(name, xs), err_msg=f"{name} forward, {t} threads")
            np.testing.assert_array_equal(gx[sl], bwd(name, gy[sl].copy(), xs, y[sl].copy()),
                                          err_msg=f"{name} backward, {t} threads")
