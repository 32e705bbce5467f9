"""The FMA peak of each SIMD tier on this machine, in the same run as the other benchmarks
(kernel figures are quoted as a share of it).

    pytest benchmarks/bench_peak.py --benchmark-only
"""

from __future__ import annotations

import pytest

from pyconvnet import _C

TIERS = [t for t in _C.supported_isas() if t != "ref"]


@pytest.mark.skipif(not TIERS, reason="no SIMD tier on this CPU")
@pytest.mark.parametrize("tier", TIERS or ["none"])
def test_fma_peak(benchmark, tier):
    steps = 200_000
    benchmark.group = "FMA peak (independent chains)"
    benchmark.extra_info.update(impl=f"fma-{tier}", work=_C.fma_peak(tier, steps), unit="GFLOP/s")
    benchmark.pedantic(_C.fma_peak, args=(tier, steps), rounds=10, warmup_rounds=1)
