"""Safetensors bytes: the file checks, reading and writing (no model knowledge).

A file is an 8-byte little-endian header length, a JSON header (tensor name -> dtype, shape,
data offsets, plus string-to-string ``__metadata__``) and the tensor data. Everything read is
checked here before any array is made: anything malformed, truncated or oversized raises
``ValueError`` saying what is wrong, whatever the underlying parser raised. The model layer
(``model/saving.py``) puts the architecture in the metadata and the weights in the tensors.

The ``safetensors`` package is an optional dependency: ``pip install pyconvnet[io]``.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
import tempfile

import numpy as np

__all__ = ["safetensors_module", "is_fatal", "parse_json", "parse_header", "write_file", "encode", "read_file", "decode"]

# safetensors refuses headers above 100 MB; so do we (an architecture is a few kB).
_MAX_HEADER = 100_000_000
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
             "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def safetensors_module():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "saving and loading pyconvnet models needs the safetensors package: "
            "pip install pyconvnet[io]  (or: pip install safetensors)"
        ) from None
    return safetensors


def is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


# ------------------------------------------------------------------------------------- reading
def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(text, what):
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def parse_header(buf, total: int, source: str):
    """Check the safetensors header of ``buf`` (``total`` bytes) and return
    ``(metadata, {name: (dtype, shape, begin, end)}, data_start)``; offsets are absolute."""
    if total < 8:
        raise ValueError(f"{source}: not a safetensors file (only {total} bytes, the header length alone takes 8)")
    (n,) = struct.unpack("<Q", bytes(buf[:8]))
    if n > _MAX_HEADER or n > total - 8:
        raise ValueError(
            f"{source}: header length {n} is impossible for a file of {total} bytes "
            f"(truncated or corrupt file)"
        )
    if n < 2:
        raise ValueError(f"{source}: header of {n} bytes is too short")
    try:
        text = bytes(buf[8:8 + n]).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{source}: header is not UTF-8 text (corrupt file)") from None
    header = parse_json(text, f"{source}: header")
    if not isinstance(header, dict):
        raise ValueError(f"{source}: header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{source}: __metadata__ must map strings to strings")
    data_start = 8 + n
    data_len = total - data_start
    entries = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{source}: tensor {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ITEMSIZE:
            raise ValueError(f"{source}: tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise ValueError(f"{source}: tensor {name!r} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise ValueError(f"{source}: tensor {name!r} has invalid data_offsets {offsets!r}")
        nbytes = math.prod(shape) * _ITEMSIZE[dtype]
        if offsets[1] - offsets[0] != nbytes:
            raise ValueError(
                f"{source}: tensor {name!r} of shape {tuple(shape)} ({dtype}) needs {nbytes} bytes, "
                f"data_offsets {offsets} give {offsets[1] - offsets[0]}"
            )
        entries[name] = (dtype, tuple(shape), offsets[0], offsets[1])
    # The tensors must tile the data section exactly, without gaps or overlaps.
    pos = 0
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
        if begin != pos:
            raise ValueError(f"{source}: tensor {name!r} starts at byte {begin}, expected {pos} (gap or overlap)")
        pos = end
    if pos != data_len:
        what = "truncated" if pos > data_len else "has trailing bytes"
        raise ValueError(f"{source}: file {what}: the header describes {pos} bytes of data, the file holds {data_len}")
    entries = {k: (d, s, b + data_start, e + data_start) for k, (d, s, b, e) in entries.items()}
    return metadata, entries, data_start



# ------------------------------------------------------------------------------------- writing
def _contiguous(tensors: dict) -> dict:
    out = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype != np.float32 or not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
        out[name] = arr
    return out


def write_file(path, tensors: dict, metadata: dict) -> None:
    """Write float32 ``tensors`` and string ``metadata`` to ``path``.

    The file is written to a temporary name in the same directory and renamed into place, so an
    interrupted save never leaves a half-written file under ``path``.
    """
    st = safetensors_module()
    path = os.fspath(path)
    tensors = _contiguous(tensors)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".pyconvnet-", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        st.numpy.save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def encode(tensors: dict, metadata: dict) -> bytes:
    """The bytes :func:`write_file` would write."""
    st = safetensors_module()
    return st.numpy.save(_contiguous(tensors), metadata=metadata)


# ------------------------------------------------------------------------------------- reading
def _safetensors_check(opener, source: str):
    """Let the safetensors parser (Rust) vet the file as well; any complaint -> ValueError."""
    try:
        with opener() as f:
            f.metadata()
    except BaseException as exc:
        if is_fatal(exc):
            raise
        raise ValueError(f"{source}: not a valid safetensors file: {exc}") from None


def read_file(path, check_metadata=None):
    """``(metadata, {name: float32 array})`` of the file at ``path``, checked.

    The file is memory-mapped; the arrays are read-only views of it (copy what you keep).
    ``check_metadata(metadata, entries, source)``, when given, runs after the header checks and
    before any array is made, with ``entries`` = ``{name: (dtype, shape, begin, end)}``.
    """
    st = safetensors_module()
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    source = repr(path)
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        if total < 8:
            raise ValueError(f"{source}: not a safetensors file (only {total} bytes)")
        _safetensors_check(lambda: st.safe_open(path, framework="numpy"), source)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    # The mmap closes itself once the last view of it is gone.
    metadata, entries, _ = parse_header(mm, total, source)
    if check_metadata is not None:
        check_metadata(metadata, entries, source)
    arrays = _views(mm, entries, source)
    return metadata, arrays, source


def decode(data, check_metadata=None):
    """``(metadata, {name: float32 array}, source)`` of safetensors bytes (bytes, bytearray or
    memoryview), checked as :func:`read_file` does."""
    st = safetensors_module()
    if isinstance(data, memoryview):
        data = data.cast("B") if data.ndim != 1 or data.format != "B" else data
    elif not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    source = "model bytes"
    metadata, entries, _ = parse_header(data, len(data), source)
    if check_metadata is not None:
        check_metadata(metadata, entries, source)
    _check_f32(entries, source)
    try:
        tensors = st.numpy.load(bytes(data))
    except BaseException as exc:
        if is_fatal(exc):
            raise
        raise ValueError(f"{source}: not a valid safetensors buffer: {exc}") from None
    if set(tensors) != set(entries):  # pragma: no cover - both parsers read the same header
        raise ValueError(f"{source}: inconsistent tensor list")
    return metadata, tensors, source


def _check_f32(entries, source):
    for name, (dtype, _, _, _) in entries.items():
        if dtype != "F32":
            raise ValueError(f"{source}: tensor {name!r} has dtype {dtype}; pyconvnet files hold F32 (float32) only")


def _views(buf, entries, source):
    _check_f32(entries, source)
    return {
        name: np.frombuffer(buf, dtype="<f4", count=math.prod(shape), offset=begin).reshape(shape)
        for name, (_, shape, begin, _) in entries.items()
    }
