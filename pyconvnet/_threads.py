"""How many threads the kernels may use: the default, the cap, and temporary limits.

The usable cores are the CPUs in the process's affinity mask, lowered to the CPU quota of its
cgroup (a container given 2 CPUs of a 64-core host gets 2 threads, not 64). The default thread
count is ``OMP_NUM_THREADS`` when set to a positive integer, else the usable cores. Any count is
capped at ``THREADS_PER_CORE`` times the usable cores: more threads than that only queue behind
each other, and a runaway value (``set_num_threads(10**9)``) must not start thousands of them.
"""

from __future__ import annotations

import math
import operator
import os
import threading
import warnings

from . import _C

__all__ = ["usable_cores", "cgroup_cpu_limit", "max_threads", "default_num_threads", "checked_count",
           "threadpool_limits", "register_threadpoolctl"]

THREADS_PER_CORE = 4
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _ancestors(base, rel):
    """base/rel, then each parent directory up to base itself."""
    parts = [p for p in rel.split("/") if p and p not in (".", "..")]
    for k in range(len(parts), -1, -1):
        yield os.path.join(base, *parts[:k])


def _v2_limit(root, rel):
    best = None
    for d in _ancestors(root, rel):
        text = _read(os.path.join(d, "cpu.max"))
        if not text:
            continue
        fields = text.split()
        if len(fields) < 2 or fields[0] == "max":
            continue
        try:
            quota, period = int(fields[0]), int(fields[1])
        except ValueError:
            continue
        if quota > 0 and period > 0:
            best = min(best or math.inf, quota / period)
    return best


def _v1_limit(root, rel):
    best = None
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        base = os.path.join(root, name)
        if not os.path.isdir(base):
            continue
        for d in _ancestors(base, rel):
            quota, period = _read(os.path.join(d, "cpu.cfs_quota_us")), _read(os.path.join(d, "cpu.cfs_period_us"))
            try:
                quota, period = int(quota), int(period)
            except (TypeError, ValueError):
                continue
            if quota > 0 and period > 0:  # a quota of -1 means none
                best = min(best or math.inf, quota / period)
        break
    return best


def cgroup_cpu_limit(root: str = CGROUP_ROOT, proc_cgroup: str = PROC_CGROUP):
    """CPUs the cgroup quota allows this process (``ceil(quota / period)``, at least 1), or None.

    Reads cgroup v2 (``cpu.max``) and v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) along the
    process's cgroup path from ``proc_cgroup`` and every ancestor up to ``root``, and keeps the
    tightest quota. Parameters exist so tests can point the reader at a fake tree.
    """
    v2_rel, v1_rel = "/", "/"
    for line in (_read(proc_cgroup) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hier == "0" and controllers == "":
            v2_rel = rel
        elif "cpu" in controllers.split(","):
            v1_rel = rel
    limits = [x for x in (_v2_limit(root, v2_rel), _v1_limit(root, v1_rel)) if x is not None]
    if not limits:
        return None
    return max(1, math.ceil(min(limits)))


def usable_cores(root: str = CGROUP_ROOT, proc_cgroup: str = PROC_CGROUP) -> int:
    """CPUs this process may run on: the affinity mask, lowered to the cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit(root, proc_cgroup)
    if quota is not None:
        cores = min(cores, quota)
    return max(1, cores)


def max_threads() -> int:
    """The largest thread count accepted: ``THREADS_PER_CORE`` times the usable cores."""
    return THREADS_PER_CORE * usable_cores()


def _clamped(n: int, source: str, stacklevel: int) -> int:
    cap = max_threads()
    if n > cap:
        warnings.warn(
            f"{source} asks for {n} threads; using {cap} ({THREADS_PER_CORE} per usable core, "
            f"{cap // THREADS_PER_CORE} usable core(s) from the CPU affinity and cgroup quota)",
            RuntimeWarning,
            stacklevel=stacklevel + 1,
        )
        return cap
    return n


def default_num_threads(environ=os.environ) -> int:
    """``OMP_NUM_THREADS`` when it is a positive integer (clamped to the cap), else the usable cores.

    Like OpenMP, a list such as ``"4,2"`` (per nesting level) reads as its first entry. An unusable
    value (``"abc"``, ``"0"``) gives a warning and the usable cores.
    """
    cores = usable_cores()
    raw = environ.get("OMP_NUM_THREADS")
    if raw is None or not raw.strip():
        return cores
    first = raw.split(",")[0].strip()
    if not first.isdigit() or int(first) < 1:
        warnings.warn(
            f"OMP_NUM_THREADS={raw!r} is not a positive integer; pyconvnet uses {cores} thread(s), "
            f"the usable cores",
            RuntimeWarning,
            stacklevel=2,
        )
        return cores
    return _clamped(int(first), f"OMP_NUM_THREADS={raw!r}", stacklevel=2)


def checked_count(n, name: str = "n", stacklevel: int = 2) -> int:
    """``n`` as a thread count: an int >= 1 (TypeError / ValueError otherwise), clamped to the cap."""
    if isinstance(n, bool):
        raise TypeError(f"{name} must be an int, got bool ({n!r})")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(n).__name__}") from None
    if n < 1:
        raise ValueError(f"{name} must be >= 1, got {n}")
    return _clamped(n, f"{name}={n}", stacklevel=stacklevel + 1)


# --- threadpool_limits ------------------------------------------------------------------------

_lock = threading.Lock()
_open = []  # [token, limit] of the blocks now open, oldest first
_before = None  # the count in effect when the first open block was entered


class threadpool_limits:
    """Context manager: the kernels use at most ``n`` threads inside the block, then the count
    from before it returns.

    The thread count is process-wide (a kernel started from any Python thread uses it), so the
    limit is too. Blocks nest: the innermost open one is in effect. Blocks opened by several
    Python threads may overlap and close in any order: the count is always that of the most
    recently entered block still open, and when the last one closes the count from before the
    first comes back. ``set_num_threads`` inside a block lasts until a block closes. Values above
    the cap (see ``set_num_threads``) are clamped with a RuntimeWarning.
    """

    def __init__(self, n: int):
        self.n = checked_count(n, "n", stacklevel=2)
        self._token = None

    def __enter__(self):
        global _before
        from ._config import _apply  # the one place the fork rule lives
        with _lock:
            if not _open:
                _before = _C.get_num_threads()
            self._token = object()
            _open.append([self._token, self.n])
            _apply(self.n, stacklevel=3)
        return self

    def __exit__(self, *exc):
        from ._config import _apply
        with _lock:
            for i, (token, _) in enumerate(_open):
                if token is self._token:
                    del _open[i]
                    break
            _apply(_open[-1][1] if _open else _before, stacklevel=3)
        return False


# --- threadpoolctl ----------------------------------------------------------------------------

_registered = False


def register_threadpoolctl() -> bool:
    """Make threadpoolctl (>= 3.0, if importable) see and limit pyconvnet's thread pool.

    Returns whether it is registered. ``import pyconvnet`` calls it: threadpoolctl is an optional
    dependency, imported here only, and its absence only means there is nothing to register.
    """
    global _registered
    if _registered:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    register = getattr(threadpoolctl, "register", None)
    base = getattr(threadpoolctl, "LibController", None)
    if register is None or base is None:
        return False

    class PyconvnetController(base):
        """pyconvnet's kernels: the extension module ``_C`` exports pyconvnet_get_num_threads."""

        user_api = "pyconvnet"
        internal_api = "pyconvnet"
        filename_prefixes = ("_c.",)  # threadpoolctl compares lower-cased file names
        check_symbols = ("pyconvnet_get_num_threads", "pyconvnet_set_num_threads")

        def get_num_threads(self):
            return _C.get_num_threads()

        def set_num_threads(self, num_threads):
            from ._config import set_num_threads
            set_num_threads(num_threads)

        def get_version(self):
            from . import __version__
            return __version__

    register(PyconvnetController)
    _registered = True
    return True
