"""Adam and AdamW with PyTorch's update rules, in place over preallocated state."""

from __future__ import annotations

import math

import numpy as np

from .base import CHUNK, Optimizer, _check_hparam, flat_views

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """torch.optim.Adam (amsgrad=False):

        g = grad + weight_decay * p                     (L2 penalty added to the gradient)
        m = m + (1 - beta1) * (g - m)                   (torch's lerp)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Element-wise, in the same order of operations as torch's single-tensor implementation.
    Large parameters are updated in cache-sized chunks (all operations on one chunk, then the
    next), which reads and writes each array once per step instead of once per operation.
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
        scratch = min(n, CHUNK)
        st = {
            "step": 0,
            "exp_avg": np.zeros(n, np.float32),
            "exp_avg_sq": np.zeros(n, np.float32),
            "tmp": np.empty(scratch, np.float32),
            "g": np.empty(scratch, np.float32) if self.weight_decay and not self._decoupled else None,
        }
        return st

    def _update(self, p):
        st = self._state(p, self._new_state)
        beta1, beta2 = self.betas
        lr, wd, eps = self.lr, self.weight_decay, self.eps
        st["step"] += 1
        t = st["step"]
        step_size = lr / (1.0 - beta1**t)
        bc2_sqrt = math.sqrt(1.0 - beta2**t)
        decay = 1.0 - lr * wd if (wd and self._decoupled) else None
        l2 = wd if (wd and not self._decoupled) else 0.0
        pf, gf = flat_views(p)
        m_all, v_all, tmp_all, gw_all = st["exp_avg"], st["exp_avg_sq"], st["tmp"], st["g"]
        n = pf.size
        for i in range(0, n, CHUNK):
            j = min(n, i + CHUNK)
            k = j - i
            pc, g, m, v, tmp = pf[i:j], gf[i:j], m_all[i:j], v_all[i:j], tmp_all[:k]
            if decay is not None:
                pc *= decay
            elif l2:
                gw = gw_all[:k]
                np.multiply(pc, l2, out=gw)
                np.add(g, gw, out=gw)
                g = gw
            # m <- m + (1 - beta1) * (g - m)
            np.subtract(g, m, out=tmp)
            tmp *= 1.0 - beta1
            m += tmp
            # v <- beta2 * v + (1 - beta2) * g * g
            v *= beta2
            np.multiply(g, 1.0 - beta2, out=tmp)
            tmp *= g
            v += tmp
            # p <- p - step_size * m / (sqrt(v) / sqrt(bc2) + eps)
            np.sqrt(v, out=tmp)
            tmp /= bc2_sqrt
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= -step_size
            pc += tmp

    def get_config(self):
        return {"lr": self.lr, "betas": list(self.betas), "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay, p *= 1 - lr * weight_decay first."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
