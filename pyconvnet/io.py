"""Saving and loading models: one safetensors file, weights + architecture, no code execution.

File layout (a standard safetensors file, readable by ``safetensors.numpy.load_file`` and
``safetensors.torch.load_file``):

- tensors: the model's ``state_dict()`` under its keys (``"0.weight"``, ``"0.bias"``,
  ``"1.running_mean"``, ...), float32 (``F32``), PyTorch layouts (OIHW convolution weights,
  ``(out, in)`` linear weights), so ``torch_model.load_state_dict(safetensors.torch.load_file(p))``
  works for the equivalent ``torch.nn.Sequential``;
- metadata ``"pyconvnet.architecture"``: JSON
  ``{"format_version": 1, "layers": [{"class": "Conv2d", "config": {...}, "training": true}, ...],
  "input_shape": [1, 28, 28] | null}``; a layer entry may also list its frozen parameters
  (``"frozen": ["weight", "bias"]``).

Loading rebuilds each layer as ``LAYER_REGISTRY[class](**config)`` (no pickle, no eval, no
import by name), then copies the weights in with ``load_state_dict(strict=True)``. Anything
malformed, truncated, oversized or inconsistent raises ``ValueError`` saying what is wrong,
whatever the underlying parser raised.

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

__all__ = ["save", "load", "to_bytes", "from_bytes", "ARCHITECTURE_KEY", "FORMAT_VERSION"]

ARCHITECTURE_KEY = "pyconvnet.architecture"
FORMAT_VERSION = 1
# safetensors refuses headers above 100 MB; so do we (an architecture is a few kB).
_MAX_HEADER = 100_000_000
_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
             "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_LAYER_KEYS = {"class", "config", "training", "frozen"}
_TOP_KEYS = {"format_version", "layers", "input_shape"}


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            "saving and loading pyconvnet models needs the safetensors package: "
            "pip install pyconvnet[io]  (or: pip install safetensors)"
        ) from None
    return safetensors


def _is_fatal(exc: BaseException) -> bool:
    return isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit))


# ------------------------------------------------------------------------------------- writing
def _named_tensors(model) -> dict:
    """The live weight and buffer arrays under state_dict keys (no copies)."""
    out = {}
    for i in range(len(model)):
        for name, arr in model[i].named_tensors().items():
            arr = np.asarray(arr)
            if arr.dtype != np.float32 or not arr.flags.c_contiguous:
                arr = np.ascontiguousarray(arr, dtype=np.float32)
            out[f"{i}.{name}"] = arr
    return out


def _architecture(model) -> dict:
    from .layers import LAYER_REGISTRY

    layers = []
    for i in range(len(model)):
        layer = model[i]
        name = type(layer).__name__
        if LAYER_REGISTRY.get(name) is not type(layer):
            raise ValueError(
                f"layer {i} ({name}) is not a registered pyconvnet layer class; only classes in "
                f"pyconvnet.layers.LAYER_REGISTRY can be saved and rebuilt"
            )
        entry = {"class": name, "config": layer.get_config(), "training": bool(layer.training)}
        params = {id(p): p for p in layer.params()}
        frozen = [
            tname for tname, arr in layer.named_tensors().items()
            if any(p.data is arr and not p.trainable for p in params.values())
        ]
        if frozen:
            entry["frozen"] = frozen
        layers.append(entry)
    shape = getattr(model, "input_shape", None)
    return {
        "format_version": FORMAT_VERSION,
        "layers": layers,
        "input_shape": None if shape is None else [int(d) for d in shape],
    }


def _metadata(model) -> dict:
    from . import __version__

    try:
        arch = json.dumps(_architecture(model), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model's layer configs are not JSON-serialisable: {exc}") from None
    return {ARCHITECTURE_KEY: arch, "pyconvnet.version": __version__, "format": "pt"}


def _check_model(model):
    from .model import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(f"model must be a pyconvnet Sequential, got {type(model).__name__}")


def save(model, path) -> None:
    """Write ``model`` to ``path`` as one safetensors file (weights + architecture).

    The file is written to a temporary name in the same directory and renamed into place, so an
    interrupted save never leaves a half-written file under ``path``.
    """
    st = _safetensors()
    _check_model(model)
    path = os.fspath(path)
    tensors = _named_tensors(model)
    metadata = _metadata(model)
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


def to_bytes(model) -> bytes:
    """The bytes :func:`save` would write (what pickling a Sequential stores)."""
    st = _safetensors()
    _check_model(model)
    return st.numpy.save(_named_tensors(model), metadata=_metadata(model))


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


def _json(text, what):
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None


def _parse_header(buf, total: int, source: str):
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
    header = _json(text, f"{source}: header")
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


def _declared_size(name: str, cfg: dict):
    """Upper bound of the parameter count a layer config asks for (before allocating it), for
    the classes that hold weights; None when unknown or when the values are not plain ints
    (the constructor then rejects them)."""

    def ints(*values):
        return all(type(v) is int for v in values)

    def pair(v):
        if type(v) is int:
            return v, v
        if isinstance(v, list) and len(v) == 2 and ints(*v):
            return v[0], v[1]
        return None

    try:
        if name == "Conv2d":
            k = pair(cfg.get("kernel_size"))
            cin, cout, groups = cfg.get("in_channels"), cfg.get("out_channels"), cfg.get("groups", 1)
            if k is None or not ints(cin, cout, groups) or groups < 1:
                return None
            return abs(cout) * (abs(cin) // groups) * abs(k[0]) * abs(k[1]) + abs(cout)
        if name == "Linear":
            fin, fout = cfg.get("in_features"), cfg.get("out_features")
            return abs(fin) * abs(fout) + abs(fout) if ints(fin, fout) else None
        if name == "BatchNorm2d":
            c = cfg.get("num_features")
            return 4 * abs(c) if ints(c) else None
    except Exception:  # pragma: no cover - defensive: a bound is only a guard
        return None
    return 0


def _construct(cls, config: dict):
    """``cls(**config)`` without the random weight initialisation: every weight is overwritten
    by the strict ``load_state_dict`` that follows, so drawing millions of random numbers (most
    of the time of loading a large model) and consuming the global generator would be waste.

    The layer contract has ``__init__`` call ``self.reset_parameters()``; an instance attribute
    shadows that method during construction only. Weights that ``named_tensors()`` does not
    expose (so that loading would not overwrite them) get the normal initialisation.
    """
    layer = cls.__new__(cls)
    if hasattr(cls, "reset_parameters"):
        layer.reset_parameters = lambda *args, **kwargs: None
    try:
        layer.__init__(**config)
    finally:
        layer.__dict__.pop("reset_parameters", None)
    if hasattr(cls, "reset_parameters"):
        covered = {id(a) for a in layer.named_tensors().values()}
        if any(id(p.data) not in covered for p in layer.params()):
            layer.reset_parameters()
    return layer


def _build(metadata: dict, entries: dict, source: str):
    """Rebuild the Sequential described by the metadata, checking everything first."""
    from .layers import LAYER_REGISTRY
    from .model import Sequential

    if ARCHITECTURE_KEY not in metadata:
        raise ValueError(
            f"{source}: no {ARCHITECTURE_KEY!r} entry in the safetensors metadata "
            f"(not a file written by pyconvnet.save)"
        )
    arch = _json(metadata[ARCHITECTURE_KEY], f"{source}: architecture")
    if not isinstance(arch, dict):
        raise ValueError(f"{source}: architecture must be a JSON object, got {type(arch).__name__}")
    unknown = set(arch) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{source}: unexpected architecture keys {sorted(unknown)}")
    version = arch.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ValueError(
            f"{source}: unsupported format_version {version!r} (this pyconvnet reads version {FORMAT_VERSION})"
        )
    specs = arch.get("layers")
    if not isinstance(specs, list):
        raise ValueError(f"{source}: architecture 'layers' must be a list, got {type(specs).__name__}")
    input_shape = arch.get("input_shape")
    if input_shape is not None and (
        not isinstance(input_shape, list) or not all(type(d) is int and 0 < d < 2**31 for d in input_shape)
    ):
        raise ValueError(f"{source}: input_shape must be null or a list of positive ints, got {input_shape!r}")

    for name, (dtype, shape, _, _) in entries.items():
        if dtype != "F32":
            raise ValueError(f"{source}: tensor {name!r} has dtype {dtype}; pyconvnet files hold F32 (float32) only")
    budget = sum(math.prod(shape) for (_, shape, _, _) in entries.values())

    # Check every entry (and the total size the configs ask for) before allocating anything.
    declared = 0
    for i, spec in enumerate(specs):
        where = f"{source}: layer {i}"
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a JSON object, got {type(spec).__name__}")
        extra = set(spec) - _LAYER_KEYS
        if extra or "class" not in spec:
            raise ValueError(f"{where} must have keys 'class' and 'config' (and optionally 'training', 'frozen'), "
                             f"got {sorted(spec)}")
        cls_name = spec["class"]
        if not isinstance(cls_name, str) or cls_name not in LAYER_REGISTRY:
            raise ValueError(
                f"{where}: unknown layer class {cls_name!r}; pyconvnet only builds the classes in "
                f"pyconvnet.layers.LAYER_REGISTRY ({', '.join(sorted(LAYER_REGISTRY))})"
            )
        config = spec.get("config", {})
        if not isinstance(config, dict):
            raise ValueError(f"{where} ({cls_name}): config must be a JSON object, got {type(config).__name__}")
        if "training" in spec and not isinstance(spec["training"], bool):
            raise ValueError(f"{where} ({cls_name}): 'training' must be true or false")
        frozen = spec.get("frozen", [])
        if not isinstance(frozen, list) or not all(isinstance(f, str) for f in frozen):
            raise ValueError(f"{where} ({cls_name}): 'frozen' must be a list of parameter names")
        size = _declared_size(cls_name, config)
        if size is not None:
            declared += size
            if declared > budget + 4 * len(specs) + 1024:
                raise ValueError(
                    f"{where} ({cls_name}): the architecture asks for more parameters than the "
                    f"{budget} values stored in the file (inconsistent or corrupt file)"
                )

    layers = []
    for i, spec in enumerate(specs):
        cls_name, config = spec["class"], spec.get("config", {})
        try:
            layer = _construct(LAYER_REGISTRY[cls_name], config)
        except BaseException as exc:
            if _is_fatal(exc):
                raise
            raise ValueError(
                f"{source}: layer {i} ({cls_name}): invalid config {config!r}: {type(exc).__name__}: {exc}"
            ) from None
        layers.append(layer)
    try:
        model = Sequential(layers, input_shape=input_shape)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: invalid architecture: {exc}") from None
    return model


def _finish(model, specs, state: dict, source: str):
    try:
        model.load_state_dict(state, strict=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{source}: the weights do not match the architecture: {exc}") from None
    for i, spec in enumerate(specs):
        layer = model[i]
        layer.train(spec.get("training", True))
        names = layer.named_tensors()
        for pname in spec.get("frozen", []):
            arr = names.get(pname)
            param = next((p for p in layer.params() if arr is not None and p.data is arr), None)
            if param is None:
                raise ValueError(f"{source}: layer {i}: 'frozen' names {pname!r}, which is not one of its parameters")
            param.trainable = False
    model.training = all(layer.training for layer in model.layers) if len(model) else True
    return model


def _load_buffer(buf, total: int, source: str):
    """Build a model from a buffer (bytes or an mmap) without copying the tensor data: the
    arrays handed to load_state_dict are views of ``buf``, copied once into the weights."""
    metadata, entries, _ = _parse_header(buf, total, source)
    model = _build(metadata, entries, source)
    state = {
        name: np.frombuffer(buf, dtype="<f4", count=math.prod(shape), offset=begin).reshape(shape)
        for name, (_, shape, begin, _) in entries.items()
    }
    specs = json.loads(metadata[ARCHITECTURE_KEY])["layers"]
    return _finish(model, specs, state, source)


def _safetensors_check(st, opener, source: str):
    """Let the safetensors parser (Rust) vet the file as well; any complaint -> ValueError."""
    try:
        with opener() as f:
            f.metadata()
    except BaseException as exc:
        if _is_fatal(exc):
            raise
        raise ValueError(f"{source}: not a valid safetensors file: {exc}") from None


def load(path):
    """Read a model written by :func:`save` (or ``Sequential.save``) and return a Sequential.

    The file is memory-mapped and every tensor is copied once, straight into the new weights.
    Never executes code from the file; raises ``ValueError`` for anything malformed, truncated,
    oversized or inconsistent (``FileNotFoundError``/``OSError`` when the file cannot be read).
    """
    st = _safetensors()
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    source = repr(path)
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        if total < 8:
            raise ValueError(f"{source}: not a safetensors file (only {total} bytes)")
        _safetensors_check(st, lambda: st.safe_open(path, framework="numpy"), source)
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    # The mmap closes itself once the last view of it is gone (views end with this call).
    return _load_buffer(mm, total, source)


def from_bytes(data):
    """Rebuild a model from :func:`to_bytes` output (bytes, bytearray or memoryview)."""
    st = _safetensors()
    if isinstance(data, memoryview):
        data = data.cast("B") if data.ndim != 1 or data.format != "B" else data
    elif not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    source = "model bytes"
    total = len(data)
    metadata, entries, _ = _parse_header(data, total, source)
    try:
        tensors = st.numpy.load(bytes(data))
    except BaseException as exc:
        if _is_fatal(exc):
            raise
        raise ValueError(f"{source}: not a valid safetensors buffer: {exc}") from None
    if set(tensors) != set(entries):  # pragma: no cover - both parsers read the same header
        raise ValueError(f"{source}: inconsistent tensor list")
    model = _build(metadata, entries, source)
    specs = json.loads(metadata[ARCHITECTURE_KEY])["layers"]
    return _finish(model, specs, tensors, source)
