"""The architecture format: a model as JSON-able data and back, through the layer registry.

One format serves `get_config`/`from_config` and the metadata of saved files (key
``"pyconvnet.architecture"``)::

    {"format_version": 1,
     "layers": [{"class": "Conv2d", "config": {...}, "training": true,
                 "frozen": ["weight"],          # optional: parameters with trainable=False
                 "name": "conv2d_1"}, ...],     # graph models only
     "input_shape": [1, 28, 28] | null,         # Sequential only
     "graph": {                                 # graph models only
         "inputs": [{"name": "input_1", "shape": [3, 32, 32]}, ...],
         "calls": [{"layer": "conv2d_1", "inputs": [0]}, ...],
         "outputs": [5, ...]}}

A Sequential is the chain of its layers, named by position. In a graph, value k is input k for
k < len(inputs), then the output of call k - len(inputs); a call reads only earlier values, so
a graph written this way has no cycles and no dangling references by construction, and a file
that breaks the rule is rejected. "inputs" and "outputs" may also be a single entry instead of
a list: the model then takes or returns one array instead of a list.

Reading trusts nothing: every key, type, name, reference and size is checked, the parameter
count the configs ask for is bounded by the weights the file holds before anything is
allocated, and layers are built only from ``pyconvnet.layers.LAYER_REGISTRY`` (no pickle, no
eval, no import by name). Anything wrong raises ``ValueError``.
"""

from __future__ import annotations

import math

from .._safetensors import is_fatal, parse_json
from ..layers import LAYER_REGISTRY
from ..layers.node import MAX_DIM, MAX_RANK
from .graph import Graph, Model
from .sequential import Sequential

__all__ = ["ARCHITECTURE_KEY", "FORMAT_VERSION", "architecture", "parse_architecture", "build", "apply_flags",
           "from_architecture"]

ARCHITECTURE_KEY = "pyconvnet.architecture"
FORMAT_VERSION = 1
_LAYER_KEYS = {"class", "config", "training", "frozen", "name"}
_TOP_KEYS = {"format_version", "layers", "input_shape", "graph"}
_GRAPH_KEYS = {"inputs", "calls", "outputs"}
# Bounds far above real networks (an imported DenseNet has about a thousand layer calls) that
# keep a hostile file from making loading slow or large before anything is checked.
MAX_LAYERS = 65_536
MAX_CALLS = 262_144
MAX_INPUTS = 1_024
MAX_REFS = 4_096


# ------------------------------------------------------------------------------------- writing
def architecture(model) -> dict:
    """The architecture of `model` (a Sequential or a graph Model) as JSON-able data."""
    g = model._graph()
    chain = isinstance(model, Sequential)
    layers = []
    for i, (name, layer) in enumerate(zip(g.names, g.layers)):
        cls_name = type(layer).__name__
        if LAYER_REGISTRY.get(cls_name) is not type(layer):
            raise ValueError(
                f"layer {name} ({cls_name}) is not a registered pyconvnet layer class; only classes in "
                f"pyconvnet.layers.LAYER_REGISTRY can be saved and rebuilt"
            )
        entry = {"class": cls_name, "config": layer.get_config(), "training": bool(layer.training)}
        params = layer.params()
        frozen = [
            tname for tname, arr in layer.named_tensors().items()
            if any(p.data is arr and not p.trainable for p in params)
        ]
        if frozen:
            entry["frozen"] = frozen
        if not chain:
            entry["name"] = name
        layers.append(entry)
    arch = {"format_version": FORMAT_VERSION, "layers": layers}
    if chain:
        shape = model.input_shape
        arch["input_shape"] = None if shape is None else [int(d) for d in shape]
        return arch
    inputs = [{"name": n, "shape": [int(d) for d in s]} for n, s in g.inputs]
    arch["graph"] = {
        "inputs": inputs[0] if g.single_input else inputs,
        "calls": [{"layer": g.names[li], "inputs": list(refs)} for li, refs in g.calls],
        "outputs": g.outputs[0] if g.single_output else list(g.outputs),
    }
    return arch


# ------------------------------------------------------------------------------------- reading
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
        if name == "ConvTranspose2d":
            k = pair(cfg.get("kernel_size"))
            cin, cout, groups = cfg.get("in_channels"), cfg.get("out_channels"), cfg.get("groups", 1)
            if k is None or not ints(cin, cout, groups) or groups < 1:
                return None
            return abs(cin) * (abs(cout) // groups) * abs(k[0]) * abs(k[1]) + abs(cout)
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


def _shape_list(value, what):
    if (not isinstance(value, list) or not 1 <= len(value) <= MAX_RANK
            or not all(type(d) is int and 0 < d <= MAX_DIM for d in value)):
        raise ValueError(f"{what} must be a list of 1 to {MAX_RANK} positive ints, got {value!r}")
    return tuple(value)


def _name(value, what):
    if not isinstance(value, str) or not value or len(value) > 256 or not value.isprintable():
        raise ValueError(f"{what} must be a name of 1 to 256 printable characters, got {value!r}")
    return value


def parse_architecture(arch, source: str, budget=None, require_version: bool = True) -> dict:
    """Check an architecture (parsed JSON) completely, before any layer is built.

    `budget` is the number of weight values the file holds (None: no bound, for from_config).
    Returns the checked pieces: layer specs, names, graph (or None) and input_shape.
    """
    if not isinstance(arch, dict):
        raise ValueError(f"{source}: architecture must be a JSON object, got {type(arch).__name__}")
    unknown = set(arch) - _TOP_KEYS
    if unknown:
        raise ValueError(f"{source}: unexpected architecture keys {sorted(unknown)}")
    version = arch.get("format_version")
    if (require_version or "format_version" in arch) and (type(version) is not int or version != FORMAT_VERSION):
        raise ValueError(
            f"{source}: unsupported format_version {version!r} (this pyconvnet reads version {FORMAT_VERSION})"
        )
    specs = arch.get("layers", [] if not require_version else None)
    if not isinstance(specs, list):
        raise ValueError(f"{source}: architecture 'layers' must be a list, got {type(specs).__name__}")
    if len(specs) > MAX_LAYERS:
        raise ValueError(f"{source}: {len(specs)} layers is more than the {MAX_LAYERS} a model may have")
    graph = arch.get("graph")
    input_shape = arch.get("input_shape")
    if graph is not None and input_shape is not None:
        raise ValueError(f"{source}: input_shape belongs to Sequential architectures; a graph's inputs carry their shapes")
    if input_shape is not None:
        input_shape = _shape_list(input_shape, f"{source}: input_shape")

    declared = 0
    names = []
    for i, spec in enumerate(specs):
        where = f"{source}: layer {i}"
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be a JSON object, got {type(spec).__name__}")
        # "class_name" is how get_config spelt the key before files and configs shared one format
        cls_key = "class" if "class" in spec or "class_name" not in spec else "class_name"
        extra = set(spec) - _LAYER_KEYS - {cls_key}
        if extra or cls_key not in spec:
            raise ValueError(f"{where} must have keys 'class' and 'config' (and optionally 'training', 'frozen', "
                             f"'name'), got {sorted(spec)}")
        cls_name = spec[cls_key]
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
        if graph is None:
            if "name" in spec:
                raise ValueError(f"{where} ({cls_name}): 'name' belongs to graph architectures "
                                 "(a Sequential names its layers by position)")
            names.append(str(i))
        else:
            names.append(_name(spec.get("name"), f"{where} ({cls_name}): 'name'"))
        size = _declared_size(cls_name, config)
        if size is not None and budget is not None:
            declared += size
            if declared > budget + 4 * len(specs) + 1024:
                raise ValueError(
                    f"{where} ({cls_name}): the architecture asks for more parameters than the "
                    f"{budget} values stored in the file (inconsistent or corrupt file)"
                )
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{source}: layer names must be unique, repeated: {', '.join(map(repr, dup))}")
    parsed = {"specs": specs, "names": names, "input_shape": input_shape, "graph": None}
    if graph is not None:
        parsed["graph"] = _parse_graph(graph, specs, names, source)
    return parsed


def _parse_graph(graph, specs, names, source):
    where = f"{source}: graph"
    if not isinstance(graph, dict) or set(graph) != _GRAPH_KEYS:
        got = sorted(graph) if isinstance(graph, dict) else type(graph).__name__
        raise ValueError(f"{where} must be an object with exactly the keys {sorted(_GRAPH_KEYS)}, got {got}")
    inputs, calls, outputs = graph["inputs"], graph["calls"], graph["outputs"]
    single_input = isinstance(inputs, dict)
    inputs = [inputs] if single_input else inputs
    if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_INPUTS:
        raise ValueError(f"{where}: inputs must be an input object or a list of 1 to {MAX_INPUTS} of them")
    input_specs = []
    for k, item in enumerate(inputs):
        if not isinstance(item, dict) or set(item) != {"name", "shape"}:
            raise ValueError(f"{where}: input {k} must be an object with exactly the keys 'name' and 'shape'")
        input_specs.append((_name(item["name"], f"{where}: input {k} name"),
                            _shape_list(item["shape"], f"{where}: input {k} shape")))
    taken = set(names)
    for n, _ in input_specs:
        if n in taken:
            raise ValueError(f"{where}: the name {n!r} is used twice (inputs and layers share one namespace)")
        taken.add(n)
    if not isinstance(calls, list) or len(calls) > MAX_CALLS:
        raise ValueError(f"{where}: calls must be a list of at most {MAX_CALLS} calls")
    index = {n: i for i, n in enumerate(names)}
    n_in = len(input_specs)
    called = set()
    parsed_calls = []
    for i, call in enumerate(calls):
        here = f"{where}: call {i}"
        if not isinstance(call, dict) or set(call) != {"layer", "inputs"}:
            raise ValueError(f"{here} must be an object with exactly the keys 'layer' and 'inputs'")
        lname, refs = call["layer"], call["inputs"]
        if not isinstance(lname, str) or lname not in index:
            raise ValueError(f"{here}: layer {lname!r} is not one of the architecture's layers")
        li = index[lname]
        if not isinstance(refs, list) or not 1 <= len(refs) <= MAX_REFS:
            raise ValueError(f"{here} ({lname}): inputs must be a list of 1 to {MAX_REFS} value indices")
        for r in refs:
            if type(r) is not int or not 0 <= r < n_in + i:
                raise ValueError(f"{here} ({lname}): input reference {r!r} does not name an earlier value "
                                 f"(0 to {n_in + i - 1}): a dangling reference or a cycle")
        cls = LAYER_REGISTRY[specs[li].get("class", specs[li].get("class_name"))]
        if not cls._takes_list and len(refs) != 1:
            raise ValueError(f"{here} ({lname}): a {cls.__name__} takes one input, got {len(refs)}")
        called.add(li)
        parsed_calls.append((li, tuple(refs)))
    unused = [names[i] for i in range(len(names)) if i not in called]
    if unused:
        raise ValueError(f"{where}: layers never called: {', '.join(map(repr, unused))}")
    single_output = not isinstance(outputs, list)
    outputs = [outputs] if single_output else outputs
    n_values = n_in + len(parsed_calls)
    if not 1 <= len(outputs) <= MAX_REFS or not all(type(r) is int and 0 <= r < n_values for r in outputs):
        raise ValueError(f"{where}: outputs must be a value index or a non-empty list of them (0 to {n_values - 1}), "
                         f"got {graph['outputs']!r}")
    return {"inputs": input_specs, "calls": parsed_calls, "outputs": outputs,
            "single_input": single_input, "single_output": single_output}


def build(parsed: dict, source: str, initialise: bool = False):
    """The model a checked architecture describes. Without `initialise`, weights are left
    uninitialised for `load` to copy the file's weights in."""
    layers = []
    for i, (spec, name) in enumerate(zip(parsed["specs"], parsed["names"])):
        cls_name = spec.get("class", spec.get("class_name"))
        config = spec.get("config", {})
        try:
            cls = LAYER_REGISTRY[cls_name]
            layer = cls(**config) if initialise else _construct(cls, config)
        except BaseException as exc:
            if is_fatal(exc):
                raise
            raise ValueError(
                f"{source}: layer {i} ({cls_name}): invalid config {config!r}: {type(exc).__name__}: {exc}"
            ) from None
        layers.append(layer)
    g = parsed["graph"]
    if g is None:
        model = Sequential(layers, input_shape=parsed["input_shape"])
        if model.input_shape is not None:
            try:
                model._graph().shapes([model.input_shape])
            except ValueError as exc:
                raise ValueError(f"{source}: input_shape {list(model.input_shape)} does not fit the layers: {exc}") from None
        return model
    for layer, name in zip(layers, parsed["names"]):
        layer.name = name
    graph = Graph(layers, parsed["names"], g["inputs"], g["calls"], g["outputs"], g["single_input"], g["single_output"])
    try:
        graph.shapes()
    except ValueError as exc:
        raise ValueError(f"{source}: the graph's shapes do not fit: {exc}") from None
    return Model._from_graph(graph)


def apply_flags(model, specs, source: str):
    """Training mode and frozen parameters from the layer entries."""
    for i, (layer, spec) in enumerate(zip(model._graph().layers, specs)):
        layer.train(spec.get("training", True))
        tensors = layer.named_tensors()
        for pname in spec.get("frozen", []):
            arr = tensors.get(pname)
            param = next((p for p in layer.params() if arr is not None and p.data is arr), None)
            if param is None:
                raise ValueError(f"{source}: layer {i}: 'frozen' names {pname!r}, which is not one of its parameters")
            param.trainable = False
    layers = model._graph().layers
    model.training = all(layer.training for layer in layers) if layers else True
    return model


def from_architecture(config, source: str = "config", require_version: bool = False):
    """A new model with freshly initialised weights from `get_config()` output."""
    parsed = parse_architecture(config, source, None, require_version)
    model = build(parsed, source, initialise=True)
    return apply_flags(model, parsed["specs"], source)


def parse_metadata(metadata: dict, entries: dict, source: str) -> dict:
    """The checked architecture of a file's metadata; `entries` bound the sizes it may ask for."""
    if ARCHITECTURE_KEY not in metadata:
        raise ValueError(
            f"{source}: no {ARCHITECTURE_KEY!r} entry in the safetensors metadata "
            f"(not a file written by pyconvnet.save)"
        )
    arch = parse_json(metadata[ARCHITECTURE_KEY], f"{source}: architecture")
    budget = sum(math.prod(shape) for (_, shape, _, _) in entries.values())
    return parse_architecture(arch, source, budget, require_version=True)
