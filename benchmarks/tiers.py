"""ISA tiers in the benchmarks: every figure says which tier produced it.

"pyconvnet" is the tier chosen at import (the best the CPU has, or PYCONVNET_ISA); on a CPU with
a higher tier than avx2, "pyconvnet-avx2" runs the same call on the avx2 kernels in the same
run, so one machine shows what the wider tier gains. `fma_peak` measures the FMA peak of a tier
in the same run, for figures quoted as a share of it.
"""

from __future__ import annotations

import time

from pyconvnet import _C

DEFAULT = _C.isa()
# Lower SIMD tiers run beside the default one (ref is a correctness path, not a contender).
_SUPPORTED = _C.supported_isas()
LOWER = [t for t in _SUPPORTED[1:_SUPPORTED.index(DEFAULT)]]
IMPLS = ["pyconvnet"] + [f"pyconvnet-{t}" for t in LOWER]


def tier_of(impl: str) -> str:
    """The tier an impl name runs ("pyconvnet" -> the default, "pyconvnet-avx2" -> avx2)."""
    return impl.split("-", 1)[1] if impl.startswith("pyconvnet-") else DEFAULT


def at_tier(fn, tier: str):
    """fn, called with the kernels switched to `tier` for the call."""
    if tier == DEFAULT:
        return fn

    def call(*args, **kwargs):
        before = _C.isa()
        _C.set_isa(tier)
        try:
            return fn(*args, **kwargs)
        finally:
            _C.set_isa(before)

    return call


def fma_peak(tier: str | None = None, seconds: float = 0.1, repeat: int = 5) -> float:
    """GFLOP/s of independent FMA chains at the width of `tier` (default: the widest SIMD
    tier) on the kernels' thread count: the best of `repeat` runs of about `seconds`."""
    tier = tier or [t for t in _C.supported_isas() if t != "ref"][-1]
    steps = 500_000  # about 1.5 ms per thread at 250 GFLOP/s: long enough to calibrate
    t0 = time.perf_counter()
    _C.fma_peak(tier, steps)
    steps = max(steps, int(steps * seconds / max(time.perf_counter() - t0, 1e-6)))
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        flops = _C.fma_peak(tier, steps)
        best = max(best, flops / (time.perf_counter() - t0) / 1e9)
    return best


def describe() -> str:
    """One line naming the tier, the others measured beside it and the features seen."""
    from pyconvnet._config import cpu_features

    feats = ", ".join(k for k, v in cpu_features().items() if v) or "none"
    lower = f" (also {', '.join(LOWER)} as pyconvnet-<tier>)" if LOWER else ""
    return f"pyconvnet tier {DEFAULT}{lower}; CPU features: {feats}"
