"""linear forward (functional) and backward (_C) against float64 references."""

from __future__ import annotations

import numpy as np
import pytest

import pyconvnet.functional as F
from pyconvnet import _C
from conftest import same_for_thread_counts
from reference import conv as ref


def _data(n, i, o, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, i)).astype(np.float32), rng.standard_normal((o, i)).astype(np.float32),
            rng.standard_normal(o).astype(np.float32))


@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (5, 7, 3), (64, 300, 17), (3, 3136, 40), (130, 20, 2100)])
def test_forward(isa, n, i, o):
    x, w, b = _data(n, i, o)
    y = same_for_thread_counts(lambda: F.linear(x, w, b))
    np.testing.assert_allclose(y, ref.linear(x, w, b), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(F.linear(x, w), ref.linear(x, w), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(F.linear(x, w, b, relu=True), np.maximum(y, 0))


@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (5, 7, 3), (64, 300, 17), (70, 20, 130)])
def test_backward(isa, n, i, o):
    x, w, b = _data(n, i, o, seed=1)
    gy = np.random.default_rng(2).standard_normal((n, o)).astype(np.float32)
    dx, dw, db = same_for_thread_counts(lambda: _C.linear_backward(x, w, gy, True, True, True))
    g64 = gy.astype(np.float64)
    np.testing.assert_allclose(dx, g64 @ w.astype(np.float64), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(dw, g64.T @ x.astype(np.float64), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db, g64.sum(0), rtol=1e-5, atol=1e-4)


def test_unbatched():
    x, w, b = _data(1, 6, 4)
    np.testing.assert_array_equal(F.linear(x[0], w, b), F.linear(x, w, b)[0])


def test_bad_input():
    x, w, b = _data(4, 6, 3)
    with pytest.raises(ValueError, match=r"x must have 6 features \(in_features\), got shape \(4, 5\)"):
        F.linear(x[:, :5], w, b)
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        F.linear(x, w, b[:2])
    with pytest.raises(ValueError, match="weight must be 2-D"):
        F.linear(x, w[0], b)
    with pytest.raises(TypeError, match="astype"):
        F.linear(x.astype(np.int32), w, b)
    with pytest.raises(ValueError, match=r"grad_y must have shape \(4, 3\)"):
        _C.linear_backward(x, w, np.zeros((4, 2), np.float32), True, True, True)
