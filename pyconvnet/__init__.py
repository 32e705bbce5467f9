"""pyconvnet: convolutional neural networks on the CPU, with hand-written C++ kernels."""

from __future__ import annotations

__version__ = "0.1.0"

from . import _C  # noqa: E402  (the compiled kernels)
from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402
from . import functional  # noqa: E402
from . import init, layers, losses, optim  # noqa: E402
from .init import manual_seed  # noqa: E402
from .model import Sequential  # noqa: E402
from . import augment, datasets, io, visualize  # noqa: E402
from .io import load  # noqa: E402
from .inference import InferenceModel  # noqa: E402

__all__ = [
    "__version__", "get_num_threads", "set_num_threads", "show_config", "manual_seed",
    "Sequential", "InferenceModel", "load",
    "functional", "init", "layers", "losses", "optim", "augment", "datasets", "io", "visualize",
]
