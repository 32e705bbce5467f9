"""Learning-rate schedules with PyTorch's semantics and numbers (torch.optim.lr_scheduler).

A scheduler changes `optimizer.lr` when it is built (the rate of step 0) and on each `step()`.
As in PyTorch, the per-step rules are recurrences on the optimizer's current rate (the
"chainable" forms), so two schedulers may drive one optimizer, each multiplying in its own
factor; the closed forms in the docstrings give the same numbers for a scheduler used alone.
`last_epoch` counts the steps taken (-1 before the first); `step()` is called after
`optimizer.step()`, once per epoch or once per batch, as the schedule's units require.

pyconvnet's optimizers have one rate (no parameter groups): `base_lrs` and `get_last_lr()` are
one-element lists, as PyTorch's are for an optimizer with one group. The first scheduler built on
an optimizer records its rate as `optimizer.initial_lr` (PyTorch's `group["initial_lr"]`);
schedulers built later start from that value too.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections import Counter

from .._validate import as_int
from .base import Optimizer

__all__ = [
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR",
    "ReduceLROnPlateau",
]


def _real(v, name, low=None, high=None, low_open=False, high_open=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__} ({v!r})")
    v = float(v)
    bad = v != v
    if low is not None:
        bad = bad or (v <= low if low_open else v < low)
    if high is not None:
        bad = bad or (v >= high if high_open else v > high)
    if bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        want = f"in {lo}, {hi}" if low is not None and high is not None else (
            f"{'>' if low_open else '>='} {low}" if low is not None else f"{'<' if high_open else '<='} {high}")
        raise ValueError(f"{name} must be {want}, got {v}")
    return v


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a pyconvnet.optim optimizer, got {type(optimizer).__name__}")
    return optimizer


class LRScheduler:
    """Base class: subclasses give `_next_lr(lr)`, the rate for step `last_epoch` from the
    optimizer's current rate `lr` (with `self._initial` True for the step taken at construction)."""

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = _check_optimizer(optimizer)
        last_epoch = as_int(last_epoch, "last_epoch", -1)
        if last_epoch == -1:
            if getattr(optimizer, "initial_lr", None) is None:
                optimizer.initial_lr = optimizer.lr
        elif getattr(optimizer, "initial_lr", None) is None:
            raise ValueError(f"last_epoch={last_epoch} resumes a schedule, but optimizer.initial_lr is not set "
                             "(build the scheduler with last_epoch=-1, or restore it with load_state_dict)")
        self.base_lrs = [float(optimizer.initial_lr)]
        self.last_epoch = last_epoch
        self._initial = True
        try:
            self.step()
        finally:
            self._initial = False

    def _next_lr(self, lr: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step (an epoch or a batch) and set `optimizer.lr` to the new rate."""
        self.last_epoch += 1
        self.optimizer.lr = float(self._next_lr(self.optimizer.lr))
        self._last_lr = [self.optimizer.lr]

    def get_last_lr(self) -> list:
        """`[rate]` set by the last `step()` (or by construction)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (a deep copy), as PyTorch's."""
        return copy.deepcopy({k: v for k, v in self.__dict__.items() if k != "optimizer"})

    def load_state_dict(self, state_dict) -> None:
        """Restore a `state_dict()`; also sets `optimizer.lr` (and `optimizer.initial_lr`) to the
        saved values, since pyconvnet's optimizers keep no state dict of their own."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"state_dict must be a dict from state_dict(), got {type(state_dict).__name__}")
        unexpected = sorted(k for k in state_dict if k not in self.__dict__ or k == "optimizer")
        if unexpected:
            raise ValueError(f"state_dict has keys {type(self).__name__} does not have: {unexpected}")
        self.__dict__.update(copy.deepcopy(state_dict))
        if "_last_lr" in state_dict:
            self.optimizer.lr = float(self._last_lr[0])
        if "base_lrs" in state_dict:
            self.optimizer.initial_lr = float(self.base_lrs[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.optimizer.lr!r})"


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = as_int(step_size, "step_size", 1)
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= last_epoch); a milestone listed twice
    counts twice."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        try:
            ms = [as_int(m, "milestones") for m in milestones]
        except TypeError as exc:
            if "milestones must be" in str(exc):
                raise
            raise TypeError(f"milestones must be a list of ints, got {milestones!r}") from None
        self.milestones = Counter(ms)
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr):
        if self.last_epoch not in self.milestones:
            return lr
        return lr * self.gamma ** self.milestones[self.last_epoch]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** last_epoch."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _real(gamma, "gamma", 0.0, low_open=True)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr):
        return lr if self._initial else lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * last_epoch / T_max)) / 2, computed as
    PyTorch's recurrence: past T_max the rate climbs back up (SGDR without restarts)."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = as_int(T_max, "T_max", 1)
        self.eta_min = _real(eta_min, "eta_min", 0.0)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr):
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return lr
        if (t - 1 - T) % (2 * T) == 0:  # the bottom of a cycle: the ratio form would divide by 0
            return lr + (self.base_lrs[0] - lo) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - lo) + lo


class LinearLR(LRScheduler):
    """lr = base_lr * (start_factor + (end_factor - start_factor) * min(last_epoch, total_iters)
    / total_iters): a linear warm-up (or decay) over `total_iters` steps, then constant."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5, last_epoch=-1):
        self.start_factor = _real(start_factor, "start_factor", 0.0, 1.0, low_open=True)
        self.end_factor = _real(end_factor, "end_factor", 0.0, 1.0)
        self.total_iters = as_int(total_iters, "total_iters", 1)
        super().__init__(optimizer, last_epoch)

    def _next_lr(self, lr):
        t, a, b = self.last_epoch, self.start_factor, self.end_factor
        if t == 0:
            return lr * a
        if self._initial or t > self.total_iters:
            return lr
        return lr * (1.0 + (b - a) / (self.total_iters * a + (t - 1) * (b - a)))


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch: from max_lr / div_factor up to
    max_lr over the first pct_start of `total_steps`, then down to initial / final_div_factor
    (`three_phase`: up, back down to the initial rate, then down to the minimum), by cosine or
    linear annealing. With `cycle_momentum` the optimizer's momentum (SGD) or beta1 (Adam)
    moves the other way between max_momentum and base_momentum. Stepping past `total_steps`
    raises `ValueError`.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
                 anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
                 final_div_factor=1e4, three_phase=False, last_epoch=-1):
        _check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = as_int(total_steps, "total_steps", 1)
        elif epochs is not None and steps_per_epoch is not None:
            self.total_steps = as_int(epochs, "epochs", 1) * as_int(steps_per_epoch, "steps_per_epoch", 1)
        else:
            raise ValueError("OneCycleLR needs total_steps, or epochs and steps_per_epoch")
        pct_start = _real(pct_start, "pct_start", 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.anneal_strategy = anneal_strategy
        self.max_lr = _real(max_lr[0] if isinstance(max_lr, (list, tuple)) and len(max_lr) == 1 else max_lr,
                            "max_lr", 0.0)
        div_factor = _real(div_factor, "div_factor", 0.0, low_open=True)
        final_div_factor = _real(final_div_factor, "final_div_factor", 0.0, low_open=True)
        self.initial_lr = self.max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        n = self.total_steps
        if three_phase:
            # (end step, start, end) of each phase, with the lr names of PyTorch's table
            self._phases = [(float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (float(2 * pct_start * n) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (n - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum")]
        else:
            self._phases = [(float(pct_start * n) - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (n - 1, "max_lr", "min_lr", "base_momentum", "max_momentum")]
        if not isinstance(cycle_momentum, bool):
            raise TypeError(f"cycle_momentum must be True or False, got {cycle_momentum!r}")
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = hasattr(optimizer, "betas")
            if not self.use_beta1 and not hasattr(optimizer, "momentum"):
                raise ValueError("cycle_momentum=True needs an optimizer with momentum (SGD) or betas (Adam)")
            self.max_momentum = _real(max_momentum, "max_momentum", 0.0, 1.0, high_open=True)
            self.base_momentum = _real(base_momentum, "base_momentum", 0.0, 1.0, high_open=True)
            if as_int(last_epoch, "last_epoch", -1) == -1:
                self._set_momentum(optimizer, self.max_momentum)
        if as_int(last_epoch, "last_epoch", -1) == -1:
            optimizer.initial_lr = self.initial_lr
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, optimizer, m):
        if self.use_beta1:
            optimizer.betas = (m,) + tuple(optimizer.betas[1:])
        else:
            optimizer.momentum = m

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _next_lr(self, lr):
        t = self.last_epoch
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR stepped {t} times, but total_steps is {self.total_steps}")
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if t <= end or i == len(self._phases) - 1:
                pct = (t - start) / (end - start)
                if self.cycle_momentum:
                    self._set_momentum(self.optimizer, self._anneal(getattr(self, m0), getattr(self, m1), pct))
                return self._anneal(getattr(self, lr0), getattr(self, lr1), pct)
            start = end
        raise AssertionError("unreachable: the last phase always matches")  # pragma: no cover


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by `factor` when a metric has stopped improving for `patience` steps.

    `step(metrics)` takes the monitored value (e.g. the validation loss). Better means below
    `best * (1 - threshold)` (mode "min", threshold_mode "rel"), below `best - threshold` ("abs"),
    or above `best * (1 + threshold)` / `best + threshold` in mode "max". After a reduction,
    `cooldown` steps pass before bad steps count again; the rate never goes below `min_lr`, and a
    change smaller than `eps` is not made. Construction does not change the rate.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0, eps=1e-8):
        self.optimizer = _check_optimizer(optimizer)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.factor = _real(factor, "factor", 0.0, 1.0, high_open=True)
        self.patience = as_int(patience, "patience", 0)
        self.threshold = _real(threshold, "threshold", 0.0)
        self.cooldown = as_int(cooldown, "cooldown", 0)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != 1:
                raise ValueError(f"min_lr must be a number (or a list of one, for one optimizer), got {min_lr!r}")
            min_lr = min_lr[0]
        self.min_lrs = [_real(min_lr, "min_lr", 0.0)]
        self.eps = _real(eps, "eps", 0.0)
        self.last_epoch = 0
        self._last_lr = [optimizer.lr]
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _is_better(self, a, best):
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metrics) -> None:
        """Record one value of the monitored metric; reduce the rate if it has plateaued."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"metrics must be a number (the monitored value), got {metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad steps during a cooldown do not count
        if self.num_bad_epochs > self.patience:
            old = float(self.optimizer.lr)
            new = max(old * self.factor, self.min_lrs[0])
            if old - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [self.optimizer.lr]

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0
