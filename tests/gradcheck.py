"""Finite-difference gradient checks for layers and losses.

The layers compute in float32 (the `_C` kernels); the checker works in float64 around them:
the objective is L = sum(y * r) with a fixed float64 random `r`, evaluated with float64
accumulation, and central differences (L(x + h) - L(x - h)) / 2h are taken per element.
Inputs are built so that no element lies within `h` of a kink (ReLU at 0, max-pool ties): the
callers pass data spaced away from those points, and `skip` masks out any that remain.
"""

from __future__ import annotations

import numpy as np


def _objective(y, r) -> float:
    return float(np.sum(np.asarray(y, dtype=np.float64) * r))


def numeric_grad(f, x: np.ndarray, r: np.ndarray, h: float) -> np.ndarray:
    """d/dx of sum(f(x) * r) by central differences; `x` is perturbed in place and restored."""
    g = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    gflat = g.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + h
        fp = _objective(f(), r)
        flat[i] = orig - h
        fm = _objective(f(), r)
        flat[i] = orig
        # the step actually taken, in the array's precision
        step = float(np.float32(orig + h)) - float(np.float32(orig - h)) if x.dtype == np.float32 else 2 * h
        gflat[i] = (fp - fm) / step
    return g


def assert_close(analytic, numeric, rtol, atol, what, skip=None):
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    assert a.shape == n.shape, f"{what}: analytic shape {a.shape} != numeric {n.shape}"
    bad = ~np.isclose(a, n, rtol=rtol, atol=atol)
    if skip is not None:
        bad &= ~skip
    if bad.any():
        idx = np.argwhere(bad)[:5]
        detail = ", ".join(f"{tuple(i)}: analytic {a[tuple(i)]:.6g} numeric {n[tuple(i)]:.6g}" for i in idx)
        raise AssertionError(f"{what}: {int(bad.sum())} of {a.size} gradient entries differ ({detail})")


def check_layer(layer, x, h=1e-2, rtol=2e-3, atol=3e-4, seed=0, skip_x=None):
    """Check d(sum(layer(x) * r))/dx and /dparam against finite differences.

    Also checks that parameter gradients accumulate (a second backward doubles them).
    """
    rng = np.random.default_rng(seed)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = layer.forward(x)
    r = rng.uniform(-1.0, 1.0, size=y.shape)
    layer.zero_grad()
    dx = layer.backward(r.astype(np.float32))
    analytic_params = [p.grad.astype(np.float64).copy() for p in layer.params()]

    num_dx = numeric_grad(lambda: layer.forward(x), x, r, h)
    assert_close(dx, num_dx, rtol, atol, f"{type(layer).__name__} d/dx", skip_x)
    for k, p in enumerate(layer.params()):
        num = numeric_grad(lambda: layer.forward(x), p.data, r, h)
        assert_close(analytic_params[k], num, rtol, atol, f"{type(layer).__name__} d/dparam[{k}]")

    # accumulation: a second backward adds the same gradient again
    layer.forward(x)
    layer.backward(r.astype(np.float32))
    for k, p in enumerate(layer.params()):
        np.testing.assert_allclose(p.grad, 2 * analytic_params[k], rtol=1e-5, atol=1e-6)
    return dx


def check_loss(loss, pred, target, h=1e-2, rtol=2e-3, atol=2e-5, skip=None):
    """Check loss.backward() against finite differences of loss.forward(pred, target)."""
    pred = np.ascontiguousarray(pred, dtype=np.float32)
    value = loss.forward(pred, target)
    grad = loss.backward()
    assert np.isfinite(value)
    num = numeric_grad(lambda: np.float64(loss.forward(pred, target)), pred, np.float64(1.0), h)
    assert_close(grad, num, rtol, atol, f"{type(loss).__name__} d/dpred", skip)
    return grad
