"""Naive float64 NumPy oracles for the element-wise, dropout and softmax families.

Inputs are float32 arrays (or anything np.asarray takes); every oracle computes in float64 and
returns float64, except the dropout mask, which is the exact integer specification of
csrc/common/rng.h written independently in NumPy.
"""

from __future__ import annotations

import numpy as np

_M64 = (1 << 64) - 1


def _f64(x):
    return np.asarray(x, dtype=np.float64)


# --- activations -----------------------------------------------------------------------------


def relu(x):
    x = _f64(x)
    return np.where(x < 0, 0.0, x)


def relu_grad(gy, y):
    """PyTorch threshold_backward: 0 where y <= 0, else grad (NaN y passes grad)."""
    gy, y = _f64(gy), _f64(y)
    return np.where(y <= 0, 0.0, gy)


def leaky_relu(x, slope):
    x = _f64(x)
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, x, x * slope)


def leaky_relu_grad(gy, x, slope):
    gy, x = _f64(gy), _f64(x)
    with np.errstate(invalid="ignore"):
        return np.where(x > 0, gy, gy * slope)


def sigmoid(x):
    x = _f64(x)
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x < 0, e, 1.0) / (1.0 + e)


def sigmoid_grad_x(gy, x):
    s = sigmoid(x)
    return _f64(gy) * s * (1.0 - s)


def sigmoid_grad_y(gy, y):
    y = _f64(y)
    return _f64(gy) * (1.0 - y) * y


def tanh(x):
    return np.tanh(_f64(x))


def tanh_grad_x(gy, x):
    t = np.tanh(_f64(x))
    return _f64(gy) * (1.0 - t * t)


def tanh_grad_y(gy, y):
    y = _f64(y)
    return _f64(gy) * (1.0 - y * y)


def elu(x, alpha):
    x = _f64(x)
    with np.errstate(over="ignore"):
        return np.where(x <= 0, alpha * np.expm1(np.minimum(x, 0.0)), x)


def elu_grad(gy, x, alpha):
    gy, x = _f64(gy), _f64(x)
    return np.where(x <= 0, gy * alpha * np.exp(np.minimum(x, 0.0)), gy)


# --- dropout ---------------------------------------------------------------------------------


def rng_key(seed: int) -> int:
    """SplitMix64 finaliser of seed + golden gamma (common/rng.h)."""
    z = (seed + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def rng_bits(key: int, index) -> np.ndarray:
    """fmix32 of the keyed counter, vectorised over `index` (uint64 array)."""
    i = np.asarray(index, dtype=np.uint64)
    lo = np.uint32(key & 0xFFFFFFFF)
    hi = np.uint32(key >> 32)
    with np.errstate(over="ignore"):
        x = (i & np.uint64(0xFFFFFFFF)).astype(np.uint32) * np.uint32(0x9E3779B1) + lo
        x ^= (i >> np.uint64(32)).astype(np.uint32) * np.uint32(0x85EBCA77) + hi
        x ^= x >> np.uint32(16)
        x *= np.uint32(0x85EBCA6B)
        x ^= x >> np.uint32(13)
        x *= np.uint32(0xC2B2AE35)
        x ^= x >> np.uint32(16)
    return x


def dropout_threshold(p: float) -> int:
    return min(int(round(p * 2.0**32)), 2**32 - 1)


def dropout_keep_mask(n: int, p: float, seed: int, start: int = 0) -> np.ndarray:
    """True where element i (flat index) is kept."""
    if p >= 1.0:
        return np.zeros(n, dtype=bool)
    bits = rng_bits(rng_key(seed), np.arange(start, start + n, dtype=np.uint64))
    return bits >= np.uint32(dropout_threshold(p))


def dropout_scale(p: float) -> np.float32:
    return np.float32(1.0 / (1.0 - p)) if p < 1.0 else np.float32(0.0)


def dropout(x, p: float, seed: int) -> np.ndarray:
    """Exact float32 result: x * (scale if kept else 0)."""
    x = np.asarray(x, dtype=np.float32)
    keep = dropout_keep_mask(x.size, p, seed).reshape(x.shape)
    m = np.where(keep, dropout_scale(p), np.float32(0.0)).astype(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return x * m


# --- softmax family --------------------------------------------------------------------------


def softmax(x, axis):
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        e = np.exp(x - m)
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis):
    x = _f64(x)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        d = x - m
        return d - np.log(np.sum(np.exp(d), axis=axis, keepdims=True))


def cross_entropy(logits, target):
    """Per-sample losses (N,) in float64."""
    ls = log_softmax(logits, 1)
    t = np.asarray(target, dtype=np.int64)
    return -ls[np.arange(ls.shape[0]), t]


def cross_entropy_grad(logits, target, scale):
    s = softmax(logits, 1)
    t = np.asarray(target, dtype=np.int64)
    s[np.arange(s.shape[0]), t] -= 1.0
    return s * scale


# --- comparison helpers ----------------------------------------------------------------------


def ulp_error(y, r):
    """|y - r| in units of the float32 spacing at r (finite r only; NaN elsewhere)."""
    y, r = _f64(y), _f64(r)
    with np.errstate(invalid="ignore", over="ignore"):
        sp = np.spacing(np.abs(r).astype(np.float32)).astype(np.float64)
        return np.where(np.isfinite(r) & np.isfinite(sp), np.abs(y - r) / sp, np.nan)


# --- ISA / thread switching for tests --------------------------------------------------------


def isa_names():
    """Every ISA tier this build and CPU can run, lowest first."""
    from pyconvnet import _C

    return list(_C.supported_isas())


def runnable_isa(name):
    """`name` when this CPU can run that tier, else "ref" (for strategies sampling every tier)."""
    from pyconvnet import _C

    return "ref" if _C.isa_missing(name) else name


class using:
    """Context manager: run with a given ISA and/or thread count, restoring both after."""

    def __init__(self, isa=None, threads=None):
        self.isa, self.threads = isa, threads

    def __enter__(self):
        from pyconvnet import _C

        self._old = (_C.isa(), _C.get_num_threads())
        if self.isa is not None:
            _C.set_isa(self.isa)
        if self.threads is not None:
            _C.set_num_threads(self.threads)
        return self

    def __exit__(self, *exc):
        from pyconvnet import _C

        _C.set_isa(self._old[0])
        _C.set_num_threads(self._old[1])
        return False
