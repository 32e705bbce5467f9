"""softmax, log_softmax and cross_entropy against float64 oracles (torch as an extra oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pyconvnet.functional as F
from pyconvnet import _C
from reference import elementwise as R
from reference.elementwise import using


def rand(shape, seed=0, scale=3.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, dtype=np.float32)


# shape, axis: rows (inner == 1), strided channels (inner > 1, around the 256 block), negative axes
CASES = [
    ((1,), 0), ((7,), -1), ((4, 10), 1), ((4, 10), 0), ((3, 1), 1), ((2, 1000), 1), ((33, 9), -1),
    ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 0), ((2, 3, 4, 5), -3), ((2, 5, 255), 1),
    ((2, 5, 256), 1), ((1, 5, 257), 1), ((3, 4, 600), 1), ((600, 3), 0), ((64, 10, 8, 8), 1),
    ((5, 0, 3), 1), ((0, 4), 1), ((2, 3, 0), 1),
]


@pytest.mark.parametrize("shape,axis", CASES)
def test_softmax_matches_oracle(isa, shape, axis):
    x = rand(shape, seed=len(shape) + shape[0])
    y = F.softmax(x, axis=axis)
    assert y.shape == x.shape and y.dtype == np.float32
    if x.size == 0:
        return
    np.testing.assert_allclose(y, R.softmax(x, axis), rtol=2e-6, atol=1e-9)
    if x.size:
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=axis), 1.0, rtol=0, atol=1e-6)


@pytest.mark.parametrize("shape,axis", CASES)
def test_log_softmax_matches_oracle(isa, shape, axis):
    x = rand(shape, seed=len(shape) + shape[0] + 1)
    y = F.log_softmax(x, axis=axis)
    assert y.shape == x.shape and y.dtype == np.float32
    if x.size == 0:
        return
    np.testing.assert_allclose(y, R.log_softmax(x, axis), rtol=1e-6, atol=1e-6)


def test_default_axis_is_1():
    x = rand((3, 4, 5), seed=1)
    np.testing.assert_array_equal(F.softmax(x), F.softmax(x, axis=1))
    np.testing.assert_array_equal(F.log_softmax(x), F.log_softmax(x, 1))


def test_large_logits_stay_finite(isa):
    x = np.array(
        [[1e30, -1e30, 0.0], [3e38, -3e38, 3e38], [-1e30, -1e30, -1e30], [88.0, 89.0, 90.0],
         [1e4, 1e4 + 1, 1e4 - 1], [-1e4, -1e4 - 1, -1e4 + 1], [-3e38, -3e38, -3e38]],
        dtype=np.float32,
    )
    y = F.softmax(x, axis=1)
    ly = F.log_softmax(x, axis=1)
    assert np.isfinite(y).all()
    # -3e38 - 3e38 is below -FLT_MAX: the one log-probability that rounds to -inf (as torch)
    assert ly[1, 1] == -np.inf
    ly_fin = np.delete(ly.reshape(-1), 4)
    assert np.isfinite(ly_fin).all()
    np.testing.assert_array_equal(y[0], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(y[1], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(y[2], 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(y, R.softmax(x, 1), rtol=2e-6, atol=1e-9)
    np.testing.assert_array_equal(ly[0], np.float32([0.0, -2e30, -1e30]))
    with np.errstate(over="ignore"):
        want = R.log_softmax(x, 1).astype(np.float32)  # -6e38 rounds to -inf in float32
    np.testing.assert_allclose(ly, want, rtol=1e-6, atol=1e-6)
    # the same along an axis with inner > 1
    np.testing.assert_allclose(F.softmax(x.T.copy(), axis=0), y.T, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(F.log_softmax(x.T.copy(), axis=0), ly.T, rtol=1e-6, atol=1e-6)


def test_nan_and_inf_rows_follow_pytorch(isa):
    x = np.array([[np.nan, 1.0, 2.0], [np.inf, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [-np.inf, 0.0, 1.0], [1, 2, 3]],
                 dtype=np.float32)
    y = F.softmax(x, axis=1)
    assert np.isnan(y[:3]).all()
    np.testing.assert_allclose(y[3], R.softmax(x[3:4], 1)[0], rtol=2e-6)
    assert y[3, 0] == 0.0
    np.testing.assert_allclose(y[4], R.softmax(x[4:5], 1)[0], rtol=2e-6)
    ly = F.log_softmax(x, axis=1)
    assert np.isnan(ly[:3]).all() and ly[3, 0] == -np.inf and np.isfinite(ly[4]).all()


def test_threads_bit_identical(isa):
    cases = [((300, 77), 1), ((4, 37, 700), 1), ((1, 13, 5000), 1), ((3000, 5), 0)]
    for shape, axis in cases:
        x = rand(shape, seed=5)
        outs = []
        for t in (1, 2, 3):
            with using(threads=t):
                outs.append((F.softmax(x, axis), F.log_softmax(x, axis)))
        for a, b in outs[1:]:
            np.testing.assert_array_equal(a, outs[0][0])
            np.testing.assert_array_equal(b, outs[0][1])


@pytest.mark.parametrize("tier", ["avx2", "avx512"])
def test_isa_paths_agree(tier):
    missing = _C.isa_missing(tier)
    if missing:
        pytest.skip(f"CPU cannot run the {tier} tier (missing: {missing})")
    x = rand((50, 333), seed=6, scale=10)
    with using(isa="ref"):
        a = F.softmax(x, 1), F.log_softmax(x, 1)
    with using(isa=tier):
        b = F.softmax(x, 1), F.log_softmax(x, 1)
    np.testing.assert_allclose(b[0], a[0], rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-6, atol=1e-6)


def test_conversion_and_views():
    x = rand((5, 6), seed=7).astype(np.float64)
    np.testing.assert_array_equal(F.softmax(x, 1), F.softmax(x.astype(np.float32), 1))
    v = rand((6, 5), seed=8).T
    np.testing.assert_array_equal(F.softmax(v, 0), F.softmax(np.ascontiguousarray(v), 0))
    np.testing.assert_allclose(F.softmax([1.0, 2.0, 3.0], 0), R.softmax([1, 2, 3], 0), rtol=1e-6)


def test_softmax_bad_arguments():
    x = np.ones((2, 3), np.float32)
    for bad in (2, -3, 10):
        with pytest.raises(ValueError, match=r"axis .* out of range for x of shape \(2, 3\)"):
            F.softmax(x, axis=bad)
        with pytest.raises(ValueError, match=r"axis"):
            F.log_softmax(x, axis=bad)
        with pytest.raises(ValueError, match=r"axis"):
            _C.softmax_forward(x, bad)
    with pytest.raises(ValueError, match=r"axis"):
        F.softmax(np.ones(3, np.float32))  # default axis=1 on 1-D input
    with pytest.raises(TypeError, match=r"axis"):
        F.softmax(x, axis=1.0)
    with pytest.raises(ValueError, match=r"at least 1 dimension"):
        F.softmax(np.float32(1.0), axis=0)
    with pytest.raises(TypeError, match=r"astype"):
        F.softmax(np.ones((2, 3), np.int32))
    with pytest.raises(TypeError, match=r"float32"):
        _C.log_softmax_forward(x.astype(np.float64), 1)


@pytest.mark.parametrize("shape,axis", [((4, 10), 1), ((2, 3, 4, 5), 1), ((2, 3, 4, 5), -1), ((3, 600), 0)])
def test_matches_torch(shape, axis):
    torch = pytest.importorskip("torch")
    x = rand(shape, seed=9, scale=5)
    t = torch.from_numpy(x.copy())
    np.testing.assert_allclose(F.softmax(x, axis), torch.softmax(t, axis).numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(F.log_softmax(x, axis), torch.log_softmax(t, axis).numpy(), rtol=1e-5, atol=1e-5)


# --- cross_entropy ---------------------------------------------------------------------------


@pytest.mark.parametrize("n,c", [(1, 1), (1, 2), (7, 3), (8, 10), (9, 17), (64, 10), (33, 1000), (3000, 4)])
def test_cross_entropy_matches_oracle(isa, n, c):
    logits = rand((n, c), seed=n * c, scale=4)
    target = np.random.default_rng(n).integers(0, c, n)
    want = R.cross_entropy(logits, target)
    losses = F.cross_entropy(logits, target, reduction="none")
    assert losses.shape == (n,) and losses.dtype == np.float32
    np.testing.assert_allclose(losses, want, rtol=2e-6, atol=2e-7)
    s = F.cross_entropy(logits, target, reduction="sum")
    m = F.cross_entropy(logits, target)
    assert type(s) is float and type(m) is float
    assert s == float(np.sum(losses, dtype=np.float64))
    np.testing.assert_allclose(s, want.sum(), rtol=2e-6)
    np.testing.assert_allclose(m, want.mean(), rtol=2e-6)
    assert m == F.cross_entropy(logits, target, reduction="mean")


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint32, np.uint64])
def test_cross_entropy_target_dtypes(dtype):
    logits = rand((6, 5), seed=1)
    target = np.array([0, 4, 2, 1, 3, 4])
    want = F.cross_entropy(logits, target.astype(np.int64), reduction="none")
    np.testing.assert_array_equal(F.cross_entropy(logits, target.astype(dtype), reduction="none"), want)
    np.testing.assert_array_equal(F.cross_entropy(logits, target.tolist(), reduction="none"), want)
    np.testing.assert_array_equal(F.cross_entropy(logits, target[::-1][::-1].astype(dtype), reduction="none"), want)
    strided = np.repeat(target, 2)[::2]
    np.testing.assert_array_equal(F.cross_entropy(logits, strided, reduction="none"), want)


def test_cross_entropy_large_logits(isa):
    logits = np.array([[1e30, -1e30, 0.0], [1e30, -1e30, 0.0], [3e38, 3e38, -3e38], [-1e30, 0.0, 1e30]], dtype=np.float32)
    target = np.array([0, 1, 0, 0])
    losses = F.cross_entropy(logits, target, reduction="none")
    np.testing.assert_allclose(losses, [0.0, 2e30, np.log(2), 2e30], rtol=1e-6)
    assert np.isfinite(losses).all()


def test_cross_entropy_empty_batch():
    logits = np.zeros((0, 3), np.float32)
    target = np.zeros(0, np.int64)
    assert F.cross_entropy(logits, target, reduction="sum") == 0.0
    assert np.isnan(F.cross_entropy(logits, target))  # PyTorch: mean of nothing is nan
    assert F.cross_entropy(logits, target, reduction="none").shape == (0,)


def test_cross_entropy_threads_bit_identical(isa):
    logits = rand((5000, 37), seed=2)
    target = np.random.default_rng(2).integers(0, 37, 5000)
    outs = []
    for t in (1, 2, 3):
        with using(threads=t):
            outs.append((F.cross_entropy(logits, target, reduction="none"),
                         _C.cross_entropy_backward(logits, target, 1 / 5000)))
    for a, g in outs[1:]:
        np.testing.assert_array_equal(a, outs[0][0])
        np.testing.assert_array_equal(g, outs[0][1])


@pytest.mark.parametrize("n,c", [(1, 1), (5, 3), (9, 17), (64, 10), (4, 1000)])
@pytest.mark.parametrize("scale", [1.0, 0.25, -3.0])
def test_cross_entropy_backward_matches_oracle(isa, n, c, scale):
    logits = rand((n, c), seed=c, scale=4)
    target = np.random.default_rng(c).integers(0, c, n).astype(np.int64)
    g = _C.cross_entropy_backward(logits, target, scale)
    assert g.shape == (n, c) and g.dtype == np.float32
    np.testing.assert_allclose(g, R.cross_entropy_grad(logits, target, scale), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g.astype(np.float64).sum(axis=1), 0.0, atol=1e-6 * abs(scale) * c)


def test_cross_entropy_backward_finite_differences(isa):
    """d(sum of losses)/d logits against central differences of the forward."""
    logits = rand((6, 5), seed=3, scale=2)
    target = np.array([0, 1, 2, 3, 4, 2], dtype=np.int64)
    g = _C.cross_entropy_backward(logits, target, 1.0)
    num = np.zeros((6, 5))
    h = 1e-2
    for i in range(6):
        for j in range(5):
            xp, xm = logits.copy(), logits.copy()
            xp[i, j] += h
            xm[i, j] -= h
            step = float(xp[i, j]) - float(xm[i, j])
            num[i, j] = (F.cross_entropy(xp, target, "sum") - F.cross_entropy(xm, target, "sum")) / step
    np.testing.assert_allclose(g, num, rtol=1e-3, atol=1e-4)
    # mean reduction uses scale = 1/N
    np.testing.assert_allclose(_C.cross_entropy_backward(logits, target, 1 / 6), g / 6, rtol=1e-6, atol=1e-8)


def test_cross_entropy_bad_arguments():
    logits = rand((4, 3), seed=4)
    t = np.array([0, 1, 2, 1])
    with pytest.raises(ValueError, match=r"target holds class index 3, outside the valid range \[0, 3\) for logits with C=3"):
        F.cross_entropy(logits, np.array([0, 1, 3, 1]))
    with pytest.raises(ValueError, match=r"target .*-1.*\[0, 3\)"):
        F.cross_entropy(logits, [0, -1, 2, 1])
    with pytest.raises(ValueError, match=r"target .*\[0, 3\)"):
        F.cross_entropy(logits, np.array([0, 2**63, 1, 1], dtype=np.uint64))
    with pytest.raises(ValueError, match=r"target must have shape \(4,\) to match logits of shape \(4, 3\), got shape \(3,\)"):
        F.cross_entropy(logits, t[:3])
    with pytest.raises(ValueError, match=r"target must have shape \(4,\) .*got shape \(2, 2\)"):
        F.cross_entropy(logits, t.reshape(2, 2))
    with pytest.raises(TypeError, match=r"target must hold integer class indices.*astype"):
        F.cross_entropy(logits, t.astype(np.float32))
    with pytest.raises(TypeError, match=r"target"):
        F.cross_entropy(logits, [0.0, 1.0, 2.0, 1.0])
    with pytest.raises(TypeError, match=r"target"):
        F.cross_entropy(logits, np.array([True, False, True, False]))
    for bad in ("avg", "MEAN", None, 1):
        with pytest.raises(ValueError, match=r"reduction must be 'mean', 'sum' or 'none'"):
            F.cross_entropy(logits, t, reduction=bad)
    with pytest.raises(ValueError, match=r"logits must be 2-D"):
        F.cross_entropy(logits[0], t[:1])
    with pytest.raises(TypeError, match=r"logits.*astype"):
        F.cross_entropy(np.ones((4, 3), np.int64), t)
    # the kernels check on their own
    with pytest.raises(ValueError, match=r"target\[2\] = 7 is out of range: class indices must be in \[0, 3\)"):
        _C.cross_entropy_forward(logits, np.array([0, 1, 7, 1], dtype=np.int64))
    with pytest.raises(ValueError, match=r"target\[0\] = -1"):
        _C.cross_entropy_backward(logits, np.array([-1, 1, 2, 1], dtype=np.int64), 1.0)
    with pytest.raises(ValueError, match=r"target must have shape \(4,\)"):
        _C.cross_entropy_forward(logits, np.array([0, 1], dtype=np.int64))
    with pytest.raises(TypeError, match=r"target must have dtype int64"):
        _C.cross_entropy_forward(logits, t.astype(np.int32))
    with pytest.raises(ValueError, match=r"logits must be 2-D"):
        _C.cross_entropy_forward(logits.reshape(-1), t)


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    logits = rand((64, 10), seed=5, scale=5)
    target = np.random.default_rng(5).integers(0, 10, 64)
    tl = torch.from_numpy(logits.copy()).requires_grad_(True)
    tt = torch.from_numpy(target.astype(np.int64))
    for red in ("mean", "sum", "none"):
        want = torch.nn.functional.cross_entropy(tl, tt, reduction=red)
        got = F.cross_entropy(logits, target, reduction=red)
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)
    torch.nn.functional.cross_entropy(tl, tt).backward()
    np.testing.assert_allclose(_C.cross_entropy_backward(logits, target.astype(np.int64), 1 / 64),
                               tl.grad.numpy(), rtol=1e-5, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.1, 3.0, 50.0]),
)
def test_hypothesis_softmax(shape, data, seed, scale):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = rand(shape, seed=seed, scale=scale)
    np.testing.assert_allclose(F.softmax(x, axis), R.softmax(x, axis), rtol=2e-6, atol=1e-9)
    np.testing.assert_allclose(F.log_softmax(x, axis), R.log_softmax(x, axis), rtol=1e-6, atol=1e-5)
