"""A short run of tools/soak.py (the 10,000-call run: docs/TESTING.md): resident memory stays flat."""

from __future__ import annotations

import pathlib

from conftest import run_python

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"


def test_predict_and_fit_keep_resident_memory_flat():
    out = run_python([str(TOOLS / "soak.py"), "--predict", "600", "--fit", "150"], timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.endswith(": ok") for line in lines), out.stdout


def test_the_soak_measure_sees_a_leak():
    # In a fresh process: in a long-lived one, freed memory still resident could absorb the leak.
    code = (f"import sys; sys.path.insert(0, {str(TOOLS)!r}); import soak\n"
            "kept = []\n"
            "r = soak.soak('leak', 400, lambda i: kept.append(bytearray(256 << 10)))  # 256 KiB a call\n"
            "print(r['growth'], r['rss_end'] - r['rss_after_warm_up'])\n")
    out = run_python(["-c", code])
    assert out.returncode == 0, out.stderr
    growth, grown = out.stdout.split()
    assert float(growth) > 0.05
    assert int(grown) >= 250 * (256 << 10)
