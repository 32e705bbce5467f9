"""Models to safetensors files and bytes and back: weights as tensors under the state_dict
keys, the architecture (model/config.py) as JSON in the metadata.

File layout (a standard safetensors file, readable by ``safetensors.numpy.load_file`` and
``safetensors.torch.load_file``): the model's ``state_dict()`` as float32 tensors in PyTorch
layouts (OIHW convolution weights, ``(out, in)`` linear weights), so
``torch_model.load_state_dict(safetensors.torch.load_file(p))`` works for the equivalent torch
model; metadata ``"pyconvnet.architecture"`` (see model/config.py) and ``"pyconvnet.version"``.

Loading checks the whole architecture against the header before building anything, builds
the layers from ``LAYER_REGISTRY`` only, and copies the weights in with a strict
``load_state_dict``; anything malformed raises ``ValueError``.
"""

from __future__ import annotations

import json

from .. import __version__
from .. import _safetensors as stio
from .config import ARCHITECTURE_KEY, apply_flags, architecture, build, parse_metadata
from .graph import Model

__all__ = ["save", "load", "to_bytes", "from_bytes"]


def _check_model(model):
    if not isinstance(model, Model):
        raise TypeError(f"model must be a pyconvnet Model or Sequential, got {type(model).__name__}")


def _payload(model):
    _check_model(model)
    try:
        arch = json.dumps(architecture(model), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ValueError) and "registered" in str(exc):
            raise
        raise ValueError(f"the model's layer configs are not JSON-serialisable: {exc}") from None
    metadata = {ARCHITECTURE_KEY: arch, "pyconvnet.version": __version__, "format": "pt"}
    return model._live_tensors(), metadata


def save(model, path) -> None:
    """Write ``model`` to ``path`` as one safetensors file (weights + architecture); an
    interrupted save never leaves a half-written file under ``path``."""
    stio.safetensors_module()
    tensors, metadata = _payload(model)
    stio.write_file(path, tensors, metadata)


def to_bytes(model) -> bytes:
    """The bytes :func:`save` would write (what pickling a model stores)."""
    stio.safetensors_module()
    tensors, metadata = _payload(model)
    return stio.encode(tensors, metadata)


def _assemble(reader, data):
    parsed = []
    metadata, tensors, source = reader(data, lambda md, entries, src: parsed.append(parse_metadata(md, entries, src)))
    model = build(parsed[0], source)
    try:
        model.load_state_dict(tensors, strict=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: the weights do not match the architecture: {exc}") from None
    return apply_flags(model, parsed[0]["specs"], source)


def load(path):
    """Read a model written by :func:`save` (a Sequential or a Model, as saved).

    The file is memory-mapped and every tensor is copied once, straight into the new weights.
    Never executes code from the file; raises ``ValueError`` for anything malformed, truncated,
    oversized or inconsistent (``FileNotFoundError``/``OSError`` when the file cannot be read).
    """
    return _assemble(stio.read_file, path)


def from_bytes(data):
    """Rebuild a model from :func:`to_bytes` output (bytes, bytearray or memoryview)."""
    return _assemble(stio.decode, data)
