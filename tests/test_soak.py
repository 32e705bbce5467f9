"""A short run of tools/soak.py (the 10,000-call run: docs/TESTING.md): resident memory stays flat."""

from __future__ import annotations

import pathlib
import sys

from conftest import run_python

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"


def test_predict_and_fit_keep_resident_memory_flat():
    out = run_python([str(TOOLS / "soak.py"), "--predict", "600", "--fit", "150"], timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith(": ok") for line in lines), out.stdout


def test_the_soak_measure_sees_a_leak():
    sys.path.insert(0, str(TOOLS))
    try:
        import soak
    finally:
        sys.path.remove(str(TOOLS))
    kept = []
    r = soak.soak("leak", 400, lambda i: kept.append(bytearray(256 << 10)))  # 256 KiB a call
    assert r["growth"] > 0.05
    assert r["rss_end"] - r["rss_after_warm_up"] >= 250 * (256 << 10)
