"""Side-by-side reporting for the benchmarks.

Every benchmark sets ``benchmark.group`` to the case it measures and its parametrised ``impl``
(``pyconvnet``, ``numpy``, ``torch``, ...), and may put ``work`` (FLOPs, elements, images per
call) and ``unit`` in ``benchmark.extra_info`` (a unit starting with "G" is printed in billions). At the end of the run this prints, per group,
each implementation's best time, its throughput, and pyconvnet's speed-up over it, measured in
this one run (only ratios from one run mean anything on a shared machine).
"""

from __future__ import annotations

import os

import pytest

import pyconvnet

BENCH_THREADS = int(os.environ.get("PYCONVNET_BENCH_THREADS", "2"))


@pytest.fixture(autouse=True)
def _bench_threads():
    before = pyconvnet.get_num_threads()
    pyconvnet.set_num_threads(BENCH_THREADS)
    try:
        import torch  # noqa: F401
        torch.set_num_threads(BENCH_THREADS)
    except ImportError:
        pass
    try:  # pin OpenBLAS (numpy.matmul) to the same thread count when threadpoolctl is installed
        from threadpoolctl import threadpool_limits
    except ImportError:
        limits = None
    else:
        limits = threadpool_limits(BENCH_THREADS)
    yield
    if limits is not None:
        limits.restore_original_limits()
    pyconvnet.set_num_threads(before)


def record_work(benchmark, work, unit="G elem/s", impl=None):
    """Work per call (elements, FLOPs, images) for the side-by-side table printed at the end."""
    benchmark.extra_info.update(work=work, unit=unit)
    if impl is not None:
        benchmark.extra_info["impl"] = impl


def _best(bench) -> float:
    stats = bench.stats
    return getattr(stats, "stats", stats).min  # Metadata.stats or Stats, by plugin version


def _impl_of(bench) -> str:
    info = bench.extra_info or {}
    if "impl" in info:
        return str(info["impl"])
    for name in ("numpy", "torch", "onnxruntime", "pyconvnet"):
        if name in bench.name:
            return name
    return bench.name


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    benches = [b for b in getattr(session, "benchmarks", []) if getattr(b, "stats", None)]
    if not benches:
        return
    groups: dict[str, list] = {}
    for b in benches:
        groups.setdefault(b.group or b.name, []).append(b)
    tr = terminalreporter
    from tiers import describe

    tr.section(f"pyconvnet side by side ({BENCH_THREADS} threads; speed-up = other time / pyconvnet time)")
    tr.write_line(describe())
    for group, items in groups.items():
        ours = [b for b in items if _impl_of(b) == "pyconvnet"]
        base = _best(ours[0]) if ours else None
        tr.write_line(f"{group}")
        for b in sorted(items, key=_best):
            t = _best(b)
            info = b.extra_info or {}
            rate = ""
            if "work" in info and t > 0:
                unit = info.get("unit", "G/s")
                scale = 1e9 if unit.startswith("G") else 1.0  # "GFLOP/s", "G elem/s" vs "images/s"
                rate = f"{info['work'] / t / scale:9.2f} {unit}"
            speed = f"  pyconvnet speed-up x{t / base:5.2f}" if base and _impl_of(b) != "pyconvnet" else ""
            name = _impl_of(b)
            if name == "pyconvnet":
                from tiers import DEFAULT

                name = f"pyconvnet [{DEFAULT}]"
            tr.write_line(f"    {name:<18} {t * 1e3:10.3f} ms {rate}{speed}")
