"""pyconvnet: convolutional neural networks on the CPU, with hand-written C++ kernels."""

from __future__ import annotations

__version__ = "0.1.0"

try:
    from . import _C  # noqa: E402  (the compiled kernels)
except ImportError as _e:  # pragma: no cover - exercised in a subprocess by tests/test_import.py
    import os as _os

    if not any(f.startswith("_C.") for f in _os.listdir(_os.path.dirname(__file__))):
        # A source folder (the repository root on sys.path) shadows the installed package.
        raise ImportError(
            "pyconvnet's compiled part (_C) is missing from " + _os.path.dirname(__file__) + ": this is "
            "the source folder, which Python found before the installed package. Run from another "
            "folder (or use the `pyconvnet` command), or build in place with "
            "`pip install --no-build-isolation -e .` or tools/devbuild.sh."
        ) from None
    raise
from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402
from ._threads import threadpool_limits  # noqa: E402
from . import functional  # noqa: E402
from . import init, layers, losses, optim  # noqa: E402
from .init import manual_seed  # noqa: E402
from .model import Input, Model, Sequential  # noqa: E402
from . import augment, data, datasets, io, visualize  # noqa: E402
from . import metrics, ops  # noqa: E402
from .io import load  # noqa: E402
from .inference import InferenceModel  # noqa: E402

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "threadpool_limits", "show_config", "manual_seed",
    "Input", "Model", "Sequential", "InferenceModel", "load",
    "functional", "init", "layers", "losses", "optim", "augment", "data", "datasets", "io", "visualize",
    "ops", "metrics",
]
