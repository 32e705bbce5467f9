"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (torch.optim.SGD)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .base import Optimizer, _check_hparam, flat_views

__all__ = ["SGD"]


class SGD(Optimizer):
    """torch.optim.SGD's update rule:

        d = grad + weight_decay * p
        buf = d (first step), else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf (nesterov) or buf
        p = p - lr * d

    In float32 with each hyper-parameter rounded to float32, in torch's order of operations; one
    fused C++ pass per parameter (`_C.sgd_step`), bit-identical for every thread count and ISA.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False, *, dampening=0.0):
        super().__init__(params, lr)
        self.momentum = _check_hparam(momentum, "momentum")
        self.weight_decay = _check_hparam(weight_decay, "weight_decay")
        self.dampening = _check_hparam(dampening, "dampening")
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0")

    def _new_state(self, p):
        return {"buf": np.empty(p.data.size, np.float32) if self.momentum else None, "started": False}

    def _update(self, p):
        st = self._state(p, self._new_state)
        pf, gf = flat_views(p)
        first = not st["started"]
        st["started"] = True
        _C.sgd_step(pf, gf, st["buf"], lr=self.lr, momentum=self.momentum, dampening=self.dampening,
                    weight_decay=self.weight_decay, nesterov=self.nesterov, first_step=first)

    def get_config(self):
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov, "dampening": self.dampening}
