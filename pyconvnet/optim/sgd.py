"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay (torch.optim.SGD)."""

from __future__ import annotations

import numpy as np

from .base import CHUNK, Optimizer, _check_hparam, flat_views

__all__ = ["SGD"]


class SGD(Optimizer):
    """torch.optim.SGD's update rule:

        d = grad + weight_decay * p
        buf = d (first step), else momentum * buf + (1 - dampening) * d
        d = d + momentum * buf (nesterov) or buf
        p = p - lr * d
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
        n = p.data.size
        scratch = min(n, CHUNK)
        return {
            "tmp": np.empty(scratch, np.float32),
            "tmp2": np.empty(scratch, np.float32) if (self.nesterov and self.weight_decay) else None,
            "buf": np.empty(n, np.float32) if self.momentum else None,
            "started": False,
        }

    def _update(self, p):
        st = self._state(p, self._new_state)
        pf, gf = flat_views(p)
        first = not st["started"]
        st["started"] = True
        mom, wd, damp, lr = self.momentum, self.weight_decay, self.dampening, self.lr
        n = pf.size
        for i in range(0, n, CHUNK):
            j = min(n, i + CHUNK)
            k = j - i
            pc, d, tmp = pf[i:j], gf[i:j], st["tmp"][:k]
            if wd:
                np.multiply(pc, wd, out=tmp)
                np.add(d, tmp, out=tmp)
                d = tmp
            if mom:
                buf = st["buf"][i:j]
                if first:
                    np.copyto(buf, d)
                else:
                    buf *= mom
                    if damp:
                        # buf += (1 - dampening) * d (d may be tmp; nesterov is off here)
                        np.multiply(d, 1.0 - damp, out=tmp)
                        buf += tmp
                    else:
                        buf += d
                if self.nesterov:
                    # d + momentum * buf, formed without touching p.grad
                    other = st["tmp2"][:k] if d is tmp else tmp
                    np.multiply(buf, mom, out=other)
                    np.add(d, other, out=tmp)
                    d = tmp
                else:
                    d = buf
            np.multiply(d, lr, out=tmp)
            np.subtract(pc, tmp, out=pc)

    def get_config(self):
        return {"lr": self.lr, "momentum": self.momentum, "weight_decay": self.weight_decay,
                "nesterov": self.nesterov, "dampening": self.dampening}
