"""Saving and loading models: one safetensors file, weights + architecture, no code execution.

The public entry points; the architecture format is in ``pyconvnet/model/config.py``, the
file handling in ``pyconvnet/model/saving.py`` and the safetensors bytes in
``pyconvnet/_safetensors.py`` (which knows nothing of models). The ``safetensors`` package is
an optional dependency: ``pip install pyconvnet[io]``.
"""

from __future__ import annotations

from .model.config import ARCHITECTURE_KEY, FORMAT_VERSION
from .model.saving import from_bytes, load, save, to_bytes

__all__ = ["save", "load", "to_bytes", "from_bytes", "ARCHITECTURE_KEY", "FORMAT_VERSION"]
