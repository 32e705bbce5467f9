"""The NumPy optimisers pyconvnet shipped before the fused C++ kernels, kept as the bit-exact oracle.

These are the chunked float32 NumPy updates of pyconvnet/optim/{sgd,adam}.py as they were (each
Python float hyper-parameter is rounded to float32 by NumPy, then every operation runs in
float32 over a chunk). The kernels in csrc/optim/ must reproduce them bit for bit.

They stand alone (no pyconvnet optimiser class underneath) and carry torch's documented
defaults themselves, so a wrong default in pyconvnet.optim cannot pass as "the same bits".
The float64 check of the update rules and defaults is tests/test_optim_reference.py.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["NumpySGD", "NumpyAdam", "NumpyAdamW"]

# Elements per block of the chunked updates (64 Ki floats), as in the former pyconvnet.optim.base.
CHUNK = 1 << 16


def flat_views(p):
    return p.data.reshape(-1), p.grad.reshape(-1)


class _NumpyOptimizer:
    """Parameter list, per-parameter state keyed by id(param), and a step over trainable ones."""

    def __init__(self, params, lr):
        self.params = list(params)
        self.lr = float(lr)
        self.state = {}

    def _state(self, p, factory):
        if id(p) not in self.state:
            self.state[id(p)] = factory(p)
        return self.state[id(p)]

    def step(self):
        for p in self.params:
            if p.trainable:
                self._update(p)


class NumpySGD(_NumpyOptimizer):
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False, *, dampening=0.0):
        super().__init__(params, lr)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self.dampening, self.nesterov = float(dampening), bool(nesterov)

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
                        np.multiply(d, 1.0 - damp, out=tmp)
                        buf += tmp
                    else:
                        buf += d
                if self.nesterov:
                    other = st["tmp2"][:k] if d is tmp else tmp
                    np.multiply(buf, mom, out=other)
                    np.add(d, other, out=tmp)
                    d = tmp
                else:
                    d = buf
            np.multiply(d, lr, out=tmp)
            np.subtract(pc, tmp, out=pc)


class NumpyAdam(_NumpyOptimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _new_state(self, p):
        n = p.data.size
        scratch = min(n, CHUNK)
        return {
            "step": 0,
            "exp_avg": np.zeros(n, np.float32),
            "exp_avg_sq": np.zeros(n, np.float32),
            "tmp": np.empty(scratch, np.float32),
            "g": np.empty(scratch, np.float32) if self.weight_decay and not self._decoupled else None,
        }

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
            np.subtract(g, m, out=tmp)
            tmp *= 1.0 - beta1
            m += tmp
            v *= beta2
            np.multiply(g, 1.0 - beta2, out=tmp)
            tmp *= g
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= bc2_sqrt
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= -step_size
            pc += tmp


class NumpyAdamW(NumpyAdam):
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)

