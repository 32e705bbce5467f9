"""Adam and AdamW with PyTorch's update rules, in place over preallocated state."""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from .base import Optimizer, _check_hparam, flat_views

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """torch.optim.Adam (amsgrad=False):

        g = grad + weight_decay * p                     (L2 penalty added to the gradient)
        m = m + (1 - beta1) * (g - m)                   (torch's lerp)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Element-wise, in the same order of operations as torch's single-tensor implementation, with
    float32 arithmetic and each hyper-parameter rounded to float32. One fused C++ pass per
    parameter (`_C.adam_step`), threaded, bit-identical for every thread count and ISA.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check_hparam(b1, "beta1", 0.0, True, 1.0), _check_hparam(b2, "beta2", 0.0, True, 1.0))
        self.eps = _check_hparam(eps, "eps")
        self.weight_decay = _check_hparam(weight_decay, "weight_decay")

    def _new_state(self, p):
        n = p.data.size
        return {"step": 0, "exp_avg": np.zeros(n, np.float32), "exp_avg_sq": np.zeros(n, np.float32)}

    def _update(self, p):
        st = self._state(p, self._new_state)
        beta1, beta2 = self.betas
        lr, wd = self.lr, self.weight_decay
        st["step"] += 1
        t = st["step"]
        # Computed in double precision; the kernel rounds each to float32 once.
        step_size = lr / (1.0 - beta1**t)
        bc2_sqrt = math.sqrt(1.0 - beta2**t)
        decay = 1.0 - lr * wd if (wd and self._decoupled) else 1.0
        l2 = wd if (wd and not self._decoupled) else 0.0
        pf, gf = flat_views(p)
        _C.adam_step(pf, gf, st["exp_avg"], st["exp_avg_sq"], beta1=beta1, beta2=beta2, eps=self.eps,
                     step_size=step_size, bias_correction2_sqrt=bc2_sqrt, weight_decay=l2, decay=decay)

    def get_config(self):
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * weight_decay first."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
