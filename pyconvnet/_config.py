"""Thread count, ISA and build configuration."""

from __future__ import annotations

import operator
import warnings

from . import _C

__all__ = ["set_num_threads", "get_num_threads", "show_config"]


def set_num_threads(n: int) -> None:
    """Set the number of threads every kernel uses (process-wide, any Python thread).

    Results are bit-for-bit identical for every thread count.
    """
    if isinstance(n, bool):
        raise TypeError(f"n must be an int, got bool ({n!r})")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an int, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n > 1 and _C.forked_after_threads():
        warnings.warn(
            "this process was forked after pyconvnet had started OpenMP threads; "
            "the OpenMP runtime cannot be reused after fork(), so kernels run on 1 thread "
            "here (start workers with the 'spawn' or 'forkserver' method to get threads)",
            RuntimeWarning,
            stacklevel=2,
        )
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Number of threads the kernels use: OMP_NUM_THREADS if set, else the usable cores."""
    return _C.get_num_threads()


def config() -> dict:
    """The build and run-time configuration as a dict."""
    return {
        "version": __import__("pyconvnet").__version__,
        "isa": _C.isa(),
        "cpu_has_avx2_fma": _C.cpu_has_avx2_fma(),
        "openmp": _C.openmp_runtime(),
        "num_threads": _C.get_num_threads(),
        "compiler": _C.compiler,
    }


def show_config() -> None:
    """Print the ISA the kernels use, the OpenMP runtime and the thread count."""
    cfg = config()
    width = max(len(k) for k in cfg)
    for key, value in cfg.items():
        print(f"{key:<{width}}  {value}")
