import tracemalloc

import numpy as np
import pytest

from pyconvnet.layers import Parameter
from pyconvnet.optim import SGD, Adam, AdamW


def _param(values, grad):
    p = Parameter(np.array(values, np.float32))
    p.grad[...] = grad
    return p


def test_sgd_plain_step_hand_computed():
    p = _param([1.0, 2.0], [0.5, -1.0])
    SGD([p], lr=0.1).step()
    np.testing.assert_allclose(p.data, [0.95, 2.1], rtol=1e-6)


def test_sgd_momentum_weight_decay_hand_computed():
    p = _param([1.0], [0.5])
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    opt.step()  # d = 0.5 + 0.1 = 0.6; buf = 0.6; p = 1 - 0.06 = 0.94
    np.testing.assert_allclose(p.data, [0.94], rtol=1e-6)
    opt.step()  # d = 0.5 + 0.094 = 0.594; buf = 0.54 + 0.594 = 1.134; p = 0.94 - 0.1134
    np.testing.assert_allclose(p.data, [0.94 - 0.1134], rtol=1e-6)


def test_sgd_nesterov_hand_computed():
    p = _param([1.0], [1.0])
    opt = SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    opt.step()  # buf = 1; d = 1 + 0.5 = 1.5; p = 0.85
    np.testing.assert_allclose(p.data, [0.85], rtol=1e-6)
    opt.step()  # buf = 0.5 + 1 = 1.5; d = 1 + 0.75 = 1.75; p = 0.675
    np.testing.assert_allclose(p.data, [0.675], rtol=1e-6)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([p], lr=0.1, nesterov=True)


def test_adam_first_steps_hand_computed():
    p = _param([1.0, -1.0], [0.2, -3.0])
    opt = Adam([p], lr=0.01)
    opt.step()  # bias-corrected m/sqrt(v) = g/|g| on the first step
    np.testing.assert_allclose(p.data, [0.99, -0.99], rtol=1e-6)
    p.grad[...] = [0.2, 1.0]
    opt.step()
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    g1, g2 = np.array([0.2, -3.0]), np.array([0.2, 1.0])
    m = (1 - b1) * (b1 * g1 + g2)
    v = (1 - b2) * (b2 * g1**2 + g2**2)
    expect = np.array([0.99, -0.99]) - lr / (1 - b1**2) * m / (np.sqrt(v) / np.sqrt(1 - b2**2) + eps)
    np.testing.assert_allclose(p.data, expect, rtol=1e-5)


def test_adam_weight_decay_is_added_to_gradient_and_adamw_decouples():
    p1 = _param([2.0], [0.0])
    Adam([p1], lr=0.1, weight_decay=0.5).step()  # g = 0 + 0.5 * 2 = 1 -> step of lr
    np.testing.assert_allclose(p1.data, [1.9], rtol=1e-6)
    p2 = _param([2.0], [0.0])
    AdamW([p2], lr=0.1, weight_decay=0.5).step()  # p *= 1 - 0.05; zero gradient -> no Adam move
    np.testing.assert_allclose(p2.data, [1.9], rtol=1e-6)
    p3 = _param([2.0], [1.0])
    AdamW([p3], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_allclose(p3.data, [2.0 * 0.95 - 0.1], rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.1),
    lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    lambda ps: Adam(ps, lr=0.1),
    lambda ps: AdamW(ps, lr=0.1),
])
def test_frozen_parameters_never_change(make):
    a = _param([1.0, 2.0], [1.0, 1.0])
    b = _param([3.0], [1.0])
    b.trainable = False
    opt = make([a, b])
    for _ in range(3):
        opt.step()
    assert b.data[0] == 3.0
    assert not np.array_equal(a.data, [1.0, 2.0])


def test_zero_grad_and_duplicate_params():
    a = _param([1.0], [5.0])
    opt = SGD([a, a], lr=1.0)
    assert len(opt.params) == 1
    opt.step()
    assert a.data[0] == -4.0  # applied once, not twice
    opt.zero_grad()
    assert a.grad[0] == 0.0


def test_bad_hyperparameters():
    a = _param([1.0], [0.0])
    with pytest.raises(ValueError, match="lr"):
        SGD([a], lr=-1.0)
    with pytest.raises(ValueError, match="beta2"):
        Adam([a], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty"):
        Adam([])
    with pytest.raises(TypeError, match="Parameters"):
        Adam([np.zeros(3)])


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.01, momentum=0.9, weight_decay=1e-3, nesterov=True),
    lambda ps: Adam(ps, lr=1e-3, weight_decay=1e-3),
    lambda ps: AdamW(ps, lr=1e-3),
])
def test_step_allocates_nothing_per_parameter(make):
    p = Parameter(np.ones(200_000, np.float32))
    p.grad[...] = 0.5
    opt = make([p])
    opt.step()  # state allocated on the first step
    tracemalloc.start()
    try:
        for _ in range(3):
            opt.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < p.data.nbytes // 4, f"step allocated {peak} bytes for a {p.data.nbytes}-byte parameter"


def _torch_compare(torch, ours_cls, theirs_cls, kwargs, steps=5, shape=(4, 3)):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=shape).astype(np.float32)
    grads = rng.normal(size=(steps,) + shape).astype(np.float32)
    p = Parameter(w0)
    opt = ours_cls([p], **kwargs)
    tp = torch.nn.Parameter(torch.tensor(w0))
    topt = theirs_cls([tp], **kwargs)
    for s in range(steps):
        p.grad[...] = grads[s]
        opt.step()
        tp.grad = torch.tensor(grads[s])
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
])
def test_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    import pyconvnet.optim as ours

    _torch_compare(torch, getattr(ours, name), getattr(torch.optim, name), kwargs)


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.1, nesterov=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3)),
])
def test_large_parameters_updated_in_chunks_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    import pyconvnet.optim as ours
    from pyconvnet.optim.base import CHUNK

    shape = (3, CHUNK // 2 + 7)  # several chunks, boundaries inside rows
    _torch_compare(torch, getattr(ours, name), getattr(torch.optim, name), kwargs, steps=3, shape=shape)
