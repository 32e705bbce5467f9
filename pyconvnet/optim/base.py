"""Optimizer base: the parameter list, `zero_grad`, and per-parameter state allocated once."""

from __future__ import annotations

import numbers

import numpy as np

from ..layers.base import Parameter

__all__ = ["Optimizer"]


def flat_views(p):
    """1-D views of p.data and p.grad (they must still be the C-contiguous float32 arrays)."""
    data, grad = p.data, p.grad
    for arr, name in ((data, "data"), (grad, "grad")):
        if arr.dtype != np.float32 or not arr.flags.c_contiguous or not arr.flags.writeable:
            raise TypeError(
                f"Parameter.{name} must stay a writeable C-contiguous float32 array (edit it in place, "
                f"e.g. p.{name}[...] = values), got dtype {arr.dtype}"
            )
    if grad.shape != data.shape:
        raise ValueError(f"Parameter.grad has shape {grad.shape}, expected {data.shape}")
    return data.reshape(-1), grad.reshape(-1)


def _check_hparam(value, name, low=0.0, low_inclusive=True, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    ok = value >= low if low_inclusive else value > low
    if high is not None:
        ok = ok and value < high
    if not ok or value != value:
        rng = f"[{low}, {high})" if high is not None else (f">= {low}" if low_inclusive else f"> {low}")
        raise ValueError(f"invalid {name}: {value} (expected {rng})")
    return value


class Optimizer:
    """Updates `Parameter.data` in place from `Parameter.grad`.

    `params` is an iterable of Parameters, or any object with a `params()` method (a layer or a
    Sequential). Parameters with `trainable=False` are skipped at every step (freezing after
    the optimiser was built works). State arrays are allocated at a parameter's first update
    and reused: a step allocates nothing per parameter.
    """

    def __init__(self, params, lr):
        if hasattr(params, "params") and callable(params.params):
            params = params.params()
        plist, seen = [], set()
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer params must be pyconvnet Parameters, got {type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                plist.append(p)
        if not plist:
            raise ValueError("optimizer got an empty parameter list")
        self.params = plist
        self.lr = _check_hparam(lr, "lr")
        self.state = {}  # id(param) -> dict of arrays / counters
        self.iterations = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0.0)

    def _state(self, p, factory):
        st = self.state.get(id(p))
        if st is None:
            st = factory(p)
            self.state[id(p)] = st
        return st

    def step(self) -> None:
        self.iterations += 1
        for p in self.params:
            if p.trainable:
                self._update(p)

    def _update(self, p) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"lr": self.lr}

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({cfg})"
