"""pyconvnet.optim.lr_scheduler: every schedule's rates against worked tables and against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyconvnet.layers.base import Parameter
from pyconvnet.optim import SGD, Adam
from pyconvnet.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR, MultiStepLR, OneCycleLR,
                                          ReduceLROnPlateau, StepLR)


def _sgd(lr=1.0, momentum=0.0):
    return SGD([Parameter(np.zeros(3))], lr=lr, momentum=momentum)


def _rates(sched, steps):
    """The rate after construction, then after each of `steps` steps."""
    out = [sched.optimizer.lr]
    for _ in range(steps):
        sched.step()
        out.append(sched.optimizer.lr)
    return out


# ------------------------------------------------------------------ worked tables (no torch needed)

C4 = (1 + math.cos(math.pi / 4)) / 2  # 0.8535533905932737

TABLES = [
    ("StepLR(step_size=2, gamma=0.5)", lambda o: StepLR(o, 2, gamma=0.5), 1.0,
     [1, 1, 0.5, 0.5, 0.25, 0.25]),
    ("MultiStepLR([2, 4, 4])", lambda o: MultiStepLR(o, [4, 2, 4], gamma=0.1), 1.0,
     [1, 1, 0.1, 0.1, 0.001, 0.001]),
    ("ExponentialLR(0.5)", lambda o: ExponentialLR(o, 0.5), 2.0, [2, 1, 0.5, 0.25]),
    ("CosineAnnealingLR(T_max=4)", lambda o: CosineAnnealingLR(o, 4), 1.0,
     [1, C4, 0.5, 1 - C4, 0, 1 - C4, 0.5, C4, 1]),
    ("CosineAnnealingLR(T_max=2, eta_min=0.5)", lambda o: CosineAnnealingLR(o, 2, eta_min=0.5), 1.5,
     [1.5, 1.0, 0.5, 1.0, 1.5]),
    ("LinearLR(0.25, 1, 3)", lambda o: LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=3), 1.0,
     [0.25, 0.5, 0.75, 1.0, 1.0]),
    ("LinearLR decay", lambda o: LinearLR(o, start_factor=1.0, end_factor=0.5, total_iters=2), 2.0,
     [2.0, 1.5, 1.0, 1.0]),
    # initial 1/10, min initial/100; phase 1 ends at step 0.3*10-1 = 2, phase 2 at 9
    ("OneCycleLR linear", lambda o: OneCycleLR(o, 1.0, total_steps=10, anneal_strategy="linear", div_factor=10.0,
                                               final_div_factor=100.0, cycle_momentum=False), 0.7,
     [0.1, 0.55, 1.0] + [1.0 + (0.001 - 1.0) * k / 7 for k in range(1, 8)]),
    ("OneCycleLR cos three_phase", lambda o: OneCycleLR(o, 1.0, total_steps=8, pct_start=0.25, div_factor=4.0,
                                                        final_div_factor=5.0, three_phase=True,
                                                        cycle_momentum=False), 0.7,
     # phases end at steps 1, 2, 7: 0.25 -> 1 -> 0.25 -> 0.05 (cosine over 5 steps)
     [0.25, 1.0, 0.25] + [0.05 + 0.2 / 2 * (math.cos(math.pi * k / 5) + 1) for k in range(1, 6)]),
]


@pytest.mark.parametrize("name, build, lr, expected", TABLES, ids=[t[0] for t in TABLES])
def test_worked_tables(name, build, lr, expected):
    opt = _sgd(lr)
    sched = build(opt)
    got = _rates(sched, len(expected) - 1)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert sched.get_last_lr() == [got[-1]]


def test_one_cycle_moves_momentum_the_other_way():
    opt = _sgd(0.1, momentum=0.5)
    sched = OneCycleLR(opt, 1.0, total_steps=10, anneal_strategy="linear")
    assert opt.momentum == 0.95  # set to max_momentum at construction (step 0 of phase 1)
    moms = [opt.momentum]
    for _ in range(9):
        sched.step()
        moms.append(opt.momentum)
    np.testing.assert_allclose(moms, [0.95, 0.90, 0.85] + [0.85 + 0.1 * k / 7 for k in range(1, 8)], rtol=1e-12)
    adam = Adam([Parameter(np.zeros(2))], lr=0.1, betas=(0.8, 0.99))
    OneCycleLR(adam, 1.0, epochs=2, steps_per_epoch=5, max_momentum=0.9).step()
    assert adam.betas[1] == 0.99 and adam.betas[0] < 0.9
    with pytest.raises(ValueError, match="total_steps is 10"):
        for _ in range(11):
            sched.step()


def test_reduce_on_plateau_worked_table():
    opt = _sgd(1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1, threshold=0.1, cooldown=1, min_lr=0.2)
    assert opt.lr == 1.0  # construction changes nothing
    lrs = []
    for m in [10, 9.5, 9.5, 8, 8, 8, 8, 8, 8, 8, 8, 8]:
        sched.step(m)
        lrs.append(opt.lr)
    # 9.5 is not below 10 * (1 - 0.1); a reduction is followed by one cooldown step; min_lr stops at 0.2
    assert lrs == [1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]
    assert sched.best == 8 and sched.get_last_lr() == [0.2]

    opt = _sgd(1.0)
    sched = ReduceLROnPlateau(opt, mode="max", threshold=0.5, threshold_mode="abs", patience=0)
    for m in [1.0, 1.4, 1.6]:  # 1.4 is not above 1.0 + 0.5: reduce; 1.6 is
        sched.step(m)
    assert opt.lr == pytest.approx(0.1) and sched.best == 1.6


def test_two_schedulers_chain_on_one_optimizer():
    opt = _sgd(1.0)
    warm = LinearLR(opt, start_factor=0.5, total_iters=2)
    decay = ExponentialLR(opt, 0.5)
    assert opt.initial_lr == 1.0 and decay.base_lrs == [1.0]
    lrs = [opt.lr]
    for _ in range(3):
        warm.step()
        decay.step()
        lrs.append(opt.lr)
    # linear factor 0.5, 0.75, 1, 1 times 0.5 ** epoch
    np.testing.assert_allclose(lrs, [0.5, 0.75 * 0.5, 1.0 * 0.25, 1.0 * 0.125], rtol=1e-12)


def test_state_dict_resumes_the_same_sequence():
    opt = _sgd(1.0)
    sched = CosineAnnealingLR(opt, 5, eta_min=0.1)
    full = _rates(sched, 8)
    opt2 = _sgd(1.0)
    first = CosineAnnealingLR(opt2, 5, eta_min=0.1)
    _rates(first, 3)
    saved = first.state_dict()
    assert "optimizer" not in saved and saved["last_epoch"] == 3
    opt3 = _sgd(0.123)  # a fresh optimizer: load_state_dict restores its rate
    resumed = CosineAnnealingLR(opt3, 5, eta_min=0.1)
    resumed.load_state_dict(saved)
    assert opt3.lr == full[3]
    assert _rates(resumed, 5)[1:] == full[4:]
    with pytest.raises(ValueError, match="unexpected_key"):
        resumed.load_state_dict({"unexpected_key": 1})


def test_resume_with_last_epoch_uses_initial_lr():
    opt = _sgd(1.0)
    StepLR(opt, 1, gamma=0.5)
    opt.lr = 0.25  # where a checkpoint at epoch 2 left it
    sched = StepLR(opt, 1, gamma=0.5, last_epoch=2)
    assert sched.last_epoch == 3 and sched.base_lrs == [1.0] and opt.lr == 0.125
    with pytest.raises(ValueError, match="initial_lr"):
        StepLR(_sgd(), 1, last_epoch=4)


@pytest.mark.parametrize("build, exc, word", [
    (lambda o: StepLR(o, 0), ValueError, "step_size"),
    (lambda o: StepLR(o, 1.5), TypeError, "step_size"),
    (lambda o: StepLR(o, 2, gamma=-1), ValueError, "gamma"),
    (lambda o: MultiStepLR(o, 3), TypeError, "milestones"),
    (lambda o: MultiStepLR(o, [1, "a"]), TypeError, "milestones"),
    (lambda o: CosineAnnealingLR(o, 0), ValueError, "T_max"),
    (lambda o: LinearLR(o, start_factor=0.0), ValueError, "start_factor"),
    (lambda o: LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
    (lambda o: OneCycleLR(o, 1.0), ValueError, "total_steps"),
    (lambda o: OneCycleLR(o, 1.0, 10, pct_start=1.5), ValueError, "pct_start"),
    (lambda o: OneCycleLR(o, 1.0, 10, anneal_strategy="exp"), ValueError, "anneal_strategy"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: ReduceLROnPlateau(o, mode="up"), ValueError, "mode"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.1, 0.2]), ValueError, "min_lr"),
    (lambda o: ExponentialLR("sgd", 0.5), TypeError, "optimizer"),
])
def test_bad_arguments_name_themselves(build, exc, word):
    with pytest.raises(exc, match=word):
        build(_sgd())


def test_reduce_on_plateau_needs_a_number():
    with pytest.raises(TypeError, match="metrics"):
        ReduceLROnPlateau(_sgd()).step("low")


# ------------------------------------------------------------------ against torch

CASES = [
    ("StepLR", dict(step_size=3, gamma=0.3), 25),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.5), 15),
    ("ExponentialLR", dict(gamma=0.9), 20),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), 30),
    ("CosineAnnealingLR", dict(T_max=1), 6),
    ("LinearLR", dict(), 9),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.6, total_iters=7), 10),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=40), 40),
    ("OneCycleLR", dict(max_lr=0.5, epochs=3, steps_per_epoch=7, pct_start=0.25, anneal_strategy="linear",
                        div_factor=5.0, final_div_factor=50.0, three_phase=True, base_momentum=0.7,
                        max_momentum=0.9), 21),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=13, cycle_momentum=False, pct_start=0.5), 13),
]


@pytest.mark.parametrize("name, kwargs, steps", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
def test_rates_and_momenta_match_torch(name, kwargs, steps, opt_kind):
    torch = pytest.importorskip("torch")
    import pyconvnet.optim.lr_scheduler as ours_mod

    w = torch.nn.Parameter(torch.zeros(3))
    if opt_kind == "sgd":
        t_opt = torch.optim.SGD([w], lr=0.2, momentum=0.9)
        opt = SGD([Parameter(np.zeros(3))], lr=0.2, momentum=0.9)
    else:
        t_opt = torch.optim.Adam([w], lr=0.2, betas=(0.9, 0.99))
        opt = Adam([Parameter(np.zeros(3))], lr=0.2, betas=(0.9, 0.99))
    t_sched = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    sched = getattr(ours_mod, name)(opt, **kwargs)

    def mom():
        g = t_opt.param_groups[0]
        return (g["betas"][0], opt.betas[0]) if opt_kind == "adam" else (g["momentum"], opt.momentum)

    for step in range(steps):
        assert opt.lr == pytest.approx(t_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15), step
        tm, m = mom()
        assert m == pytest.approx(tm, rel=1e-12), step
        assert sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-12, abs=1e-15)
        t_opt.step()  # torch warns when a scheduler steps before its optimizer
        t_sched.step()
        sched.step()
    assert opt.lr == pytest.approx(t_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
    assert sched.last_epoch == t_sched.last_epoch


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.05, cooldown=2, min_lr=0.01),
    dict(factor=0.3, patience=0, threshold=0.5, threshold_mode="abs", cooldown=1, eps=0.05),
])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(3))
    t_opt = torch.optim.SGD([w], lr=0.2)
    t_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    opt = _sgd(0.2)
    sched = ReduceLROnPlateau(opt, **kwargs)
    metrics = np.random.default_rng(0).permutation(np.r_[np.linspace(3, 1, 20), np.full(20, 1.0),
                                                          np.linspace(1, 2, 20)])[:45]
    metrics = np.concatenate([metrics, np.full(25, 0.5)])
    for m in metrics:
        t_opt.step()
        t_sched.step(float(m))
        sched.step(float(m))
        assert opt.lr == t_opt.param_groups[0]["lr"]
        assert sched.num_bad_epochs == t_sched.num_bad_epochs and sched.best == t_sched.best
    assert opt.lr < 0.2  # the sequence did reduce


def test_chained_schedulers_match_torch():
    torch = pytest.importorskip("torch")
    w = torch.nn.Parameter(torch.zeros(3))
    t_opt = torch.optim.SGD([w], lr=0.2)
    t_a = torch.optim.lr_scheduler.LinearLR(t_opt, start_factor=0.2, total_iters=4)
    t_b = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=10)
    opt = _sgd(0.2)
    a = LinearLR(opt, start_factor=0.2, total_iters=4)
    b = CosineAnnealingLR(opt, T_max=10)
    for _ in range(25):
        assert opt.lr == pytest.approx(t_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        t_opt.step()
        for s in (t_a, t_b, a, b):
            s.step()
