"""Thread count, ISA and build configuration."""

from __future__ import annotations

import warnings

from . import _C, _threads

__all__ = ["set_num_threads", "get_num_threads", "show_config"]


def set_num_threads(n: int) -> None:
    """Set the number of threads every kernel uses (process-wide, any Python thread).

    Results are bit-for-bit identical for every thread count. ``n`` above 4 times the usable
    cores (CPU affinity and cgroup quota) is clamped to that with a RuntimeWarning.
    """
    _apply(_threads.checked_count(n, "n", stacklevel=2), stacklevel=3)


def _apply(n: int, stacklevel: int) -> None:
    """Set a checked count; a child forked after threads ran keeps 1 (and says why)."""
    if n > 1 and _C.forked_after_threads():
        warnings.warn(
            "this process was forked after pyconvnet had started OpenMP threads; "
            "the OpenMP runtime cannot be reused after fork(), so kernels run on 1 thread "
            "here (start workers with the 'spawn' or 'forkserver' method to get threads)",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Number of threads the kernels use (default: OMP_NUM_THREADS if set, else the usable cores)."""
    return _C.get_num_threads()


# The default count (OMP_NUM_THREADS, else the usable cores; capped), set once at import.
_C.set_num_threads(_threads.default_num_threads())
_threads.register_threadpoolctl()


# The CPU features show_config() names: label -> the cpu_features() keys that must all be set.
_FEATURES = {
    "AVX2/FMA": ("avx2", "fma", "os_ymm"),
    "AVX-512F/BW/VL/DQ": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "os_zmm"),
    "AVX512-VNNI": ("avx512_vnni", "os_zmm"),
    "AVX512-BF16": ("avx512_bf16", "os_zmm"),
    "AVX512-FP16": ("avx512_fp16", "os_zmm"),
    "AMX-BF16": ("amx_tile", "amx_bf16", "os_amx"),
}


def cpu_features() -> dict:
    """The CPU features seen (CPUID, with the register state the OS saves), by label."""
    raw = _C.cpu_features()
    return {label: all(raw[k] for k in keys) for label, keys in _FEATURES.items()}


def config() -> dict:
    """The build and run-time configuration as a dict."""
    return {
        "version": __import__("pyconvnet").__version__,
        "isa": _C.isa(),
        "supported isas": ", ".join(_C.supported_isas()),
        "cpu features": ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu_features().items()),
        "openmp": _C.openmp_runtime(),
        "num_threads": _C.get_num_threads(),
        "compiler": _C.compiler,
    }


def show_config() -> None:
    """Print the ISA tier the kernels use, the tiers and CPU features seen, OpenMP and threads.

    ``PYCONVNET_ISA=ref|avx2|avx512`` (read at import) forces a tier.
    """
    cfg = config()
    width = max(len(k) for k in cfg)
    for key, value in cfg.items():
        print(f"{key:<{width}}  {value}")
