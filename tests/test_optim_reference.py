"""SGD, Adam and AdamW against float64 update rules written out from the papers / PyTorch docs,
and the public constructors' defaults against torch's documented ones.

The reference here imports no pyconvnet optimiser code: a wrong default (say Adam's eps) or a
wrong rule fails even though the fused kernels still match the former NumPy updates bit for bit.
Tolerances are float32 accuracy over a few steps.
"""

import inspect

import numpy as np
import pytest

from pyconvnet.layers import Parameter
from pyconvnet.optim import SGD, Adam, AdamW

# torch.optim's documented defaults (SGD's lr has none in pyconvnet: it must be given).
DOCUMENTED = {
    SGD: {"momentum": 0.0, "weight_decay": 0.0, "nesterov": False, "dampening": 0.0},
    Adam: {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0},
    AdamW: {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2},
}


class RefSGD:
    """torch.optim.SGD: d = g + wd p; buf = d (first step) else mu buf + (1 - dampening) d;
    d = d + mu buf (nesterov) or buf; p -= lr d."""

    def __init__(self, p, lr, momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0):
        self.p, self.lr, self.mu, self.wd = np.array(p, np.float64), lr, momentum, weight_decay
        self.nesterov, self.damp, self.buf = nesterov, dampening, None

    def step(self, g):
        d = np.asarray(g, np.float64) + self.wd * self.p
        if self.mu:
            self.buf = d.copy() if self.buf is None else self.mu * self.buf + (1 - self.damp) * d
            d = d + self.mu * self.buf if self.nesterov else self.buf
        self.p = self.p - self.lr * d


class RefAdam:
    """Kingma & Ba's Adam as torch.optim.Adam / AdamW compute it:

    AdamW first decays p *= 1 - lr wd; Adam adds wd p to g (L2). Then
    m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t),
    p -= lr m_hat / (sqrt(v_hat) + eps).
    """

    def __init__(self, p, lr, betas, eps, weight_decay, decoupled):
        self.p, self.lr, (self.b1, self.b2), self.eps = np.array(p, np.float64), lr, betas, eps
        self.wd, self.decoupled, self.t = weight_decay, decoupled, 0
        self.m = np.zeros_like(self.p)
        self.v = np.zeros_like(self.p)

    def step(self, g):
        g = np.asarray(g, np.float64)
        self.t += 1
        if self.decoupled:
            self.p = self.p * (1 - self.lr * self.wd)
        else:
            g = g + self.wd * self.p
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        self.p = self.p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _grads(shape, steps, seed):
    """Gradients from 1e-7 to 1: at the small end eps is a large part of sqrt(v_hat) + eps."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        mag = 10.0 ** rng.uniform(-7, 0, size=shape)
        yield (rng.choice([-1.0, 1.0], size=shape) * mag).astype(np.float32)


def _compare(opt_factory, ref_factory, steps=5, shape=(64,), seed=0, atol=3e-6):
    rng = np.random.default_rng(seed + 100)
    p0 = rng.uniform(-1.5, 1.5, size=shape).astype(np.float32)
    p = Parameter(p0.copy())
    opt = opt_factory([p])
    ref = ref_factory(p0)
    for t, g in enumerate(_grads(shape, steps, seed)):
        p.grad[...] = g
        opt.step()
        ref.step(g)
        # float32 accuracy: p is ~1, each step moves it by ~lr and rounds at ~6e-8
        np.testing.assert_allclose(p.data, ref.p, rtol=0, atol=atol, err_msg=f"after step {t + 1}")
    return ref.p - p0


@pytest.mark.parametrize("cls", [SGD, Adam, AdamW])
def test_constructor_defaults_are_torchs(cls):
    sig = inspect.signature(cls.__init__)
    for name, value in DOCUMENTED[cls].items():
        assert sig.parameters[name].default == value, f"{cls.__name__}({name}=...) default"
    opt = cls([Parameter(np.zeros(2, np.float32))], lr=0.5) if cls is SGD else cls([Parameter(np.zeros(2, np.float32))])
    for name, value in DOCUMENTED[cls].items():
        got = getattr(opt, "betas" if name == "betas" else name)
        assert (tuple(got) if name == "betas" else got) == value, f"{cls.__name__}().{name}"


def test_adam_defaults_run_like_the_reference():
    d = DOCUMENTED[Adam]
    moved = _compare(lambda ps: Adam(ps),
                     lambda p: RefAdam(p, d["lr"], d["betas"], d["eps"], d["weight_decay"], False), steps=6)
    assert np.abs(moved).max() > 1e-3  # the steps did move p


def test_adamw_defaults_run_like_the_reference():
    d = DOCUMENTED[AdamW]
    _compare(lambda ps: AdamW(ps), lambda p: RefAdam(p, d["lr"], d["betas"], d["eps"], d["weight_decay"], True),
             steps=6)


def test_adam_eps_is_visible_in_these_tests():
    """Guards the gradient scale above: eps = 1e-6 instead of 1e-8 must move p by far more than
    the tolerance, so a wrong default eps cannot pass."""
    d = DOCUMENTED[Adam]
    a, b = (RefAdam(np.ones(64), d["lr"], d["betas"], eps, 0.0, False) for eps in (1e-8, 1e-6))
    for g in _grads((64,), 6, 0):
        a.step(g)
        b.step(g)
    assert np.abs(a.p - b.p).max() > 100 * 3e-6


def test_sgd_defaults_run_like_the_reference():
    # a default momentum/dampening/weight decay other than 0 would change steps 1-4
    _compare(lambda ps: SGD(ps, lr=0.05), lambda p: RefSGD(p, 0.05), steps=4, atol=1e-6)


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.7, nesterov=True, weight_decay=0.1),
    dict(lr=0.1, weight_decay=0.05),
])
def test_sgd_rules_match_the_reference(kwargs):
    _compare(lambda ps: SGD(ps, **kwargs), lambda p: RefSGD(p, **kwargs), steps=5, atol=2e-6)


@pytest.mark.parametrize("cls,kwargs", [
    (Adam, dict(lr=0.01, weight_decay=0.1)),
    (Adam, dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3)),
    (Adam, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4)),
    (AdamW, dict(lr=0.01, weight_decay=0.3)),
    (AdamW, dict(lr=0.02, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.05)),
])
def test_adam_rules_match_the_reference(cls, kwargs):
    full = {**DOCUMENTED[cls], **kwargs}
    _compare(lambda ps: cls(ps, **kwargs),
             lambda p: RefAdam(p, full["lr"], full["betas"], full["eps"], full["weight_decay"], cls is AdamW),
             steps=5, atol=3e-6 * max(1.0, full["lr"] / 1e-3))
