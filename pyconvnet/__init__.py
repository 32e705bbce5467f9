"""pyconvnet: convolutional neural networks on the CPU, with hand-written C++ kernels."""

from __future__ import annotations

__version__ = "0.1.0"

from . import _C  # noqa: E402  (the compiled kernels)
from ._config import get_num_threads, set_num_threads, show_config  # noqa: E402
from . import functional  # noqa: E402

__all__ = ["__version__", "functional", "get_num_threads", "set_num_threads", "show_config"]
