"""The one table of ONNX operators: how each is imported and how each layer is exported.

`OPERATORS[op_type]` is an `Operator` with
- `fold(ctx, node, inputs, attrs) -> outputs`: NumPy evaluation when every input is a constant
  (constant subgraphs such as Shape -> Gather -> Concat -> Reshape targets are folded at load);
- `convert(ctx, node, inputs, attrs) -> outputs`: the layers that compute it on graph values.
`EXPORTERS[layer class name] -> fn(ctx, layer, inputs) -> output name` writes a layer as ONNX
nodes through the exporter's context. Both importer and exporter read only this module for
what an operator means, so a rule (a default, a layout) lives in one place.

Values during import are NumPy arrays (constants) or `Sym` (a graph node with its full shape,
batch first and None). A shape read from a graph value holds `BATCH` where the batch size goes,
so a Reshape target built from it keeps the batch dynamic. This module does not import onnx.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import layers as L

__all__ = ["Operator", "OPERATORS", "EXPORTERS", "Sym", "BATCH"]

# Stands for the (dynamic) batch size inside folded shape vectors.
BATCH = -(1 << 40)


class Sym:
    """A value computed by the model: its graph node and full shape (batch first, None)."""

    __slots__ = ("node", "shape")

    def __init__(self, node, shape):
        self.node = node
        self.shape = tuple(shape)


@dataclass(frozen=True)
class Operator:
    fold: Callable | None = None
    convert: Callable | None = None


# ------------------------------------------------------------------------------ helpers
def unsupported(node, what: str):
    return NotImplementedError(f"ONNX operator {node.op_type} (node {node.name!r}): {what}")


def malformed(node, what: str):
    return ValueError(f"ONNX operator {node.op_type} (node {node.name!r}): {what}")


def sym_input(node, v, what="input 0"):
    if not isinstance(v, Sym):
        raise unsupported(node, f"{what} must be computed from the model input, got a constant")
    return v


def const_input(node, v, what):
    if v is None:
        raise malformed(node, f"missing {what}")
    if isinstance(v, Sym):
        raise unsupported(node, f"{what} must be a constant (an initializer), not computed by the graph")
    return v


def floats(node, v, what) -> np.ndarray:
    v = const_input(node, v, what)
    if v.dtype.kind != "f":
        raise unsupported(node, f"{what} has dtype {v.dtype}; only floating-point weights are supported")
    if not np.all(np.isfinite(v)):
        raise malformed(node, f"{what} holds NaN or infinity")
    return np.asarray(v, np.float32)


def ints(node, v, what) -> list:
    v = const_input(node, v, what)
    if v.dtype.kind not in "iu":
        raise malformed(node, f"{what} must be an integer tensor, got {v.dtype}")
    return [int(i) for i in np.asarray(v).reshape(-1)]


def opt(inputs, i):
    return inputs[i] if i < len(inputs) else None


def no_batch_axis(node, axis, rank, what="axis"):
    """Normalise an axis against `rank`; the batch axis (0) cannot be an operand."""
    if not -rank <= axis < rank:
        raise malformed(node, f"{what}={axis} is out of range for rank {rank}")
    axis %= rank
    if axis == 0:
        raise unsupported(node, f"{what}=0 is the batch axis, which stays dynamic in pyconvnet")
    return axis


def broadcast_channel_constant(node, c, shape, what):
    """(C,) float64 for a constant that, broadcast against `shape` (batch first), varies only
    along axis 1; raise NotImplementedError for anything else."""
    c = np.asarray(c, np.float64)
    rank = len(shape)
    if c.ndim > rank:
        raise unsupported(node, f"{what} of shape {c.shape} has a higher rank than the input {shape}")
    full = (1,) * (rank - c.ndim) + c.shape
    if c.size == 1:
        return np.full(shape[1], float(c.reshape(-1)[0]))
    if rank >= 2 and all(d == 1 for i, d in enumerate(full) if i != 1) and full[1] == shape[1]:
        return c.reshape(-1)
    raise unsupported(node, f"a constant of shape {c.shape} broadcast over input {shape} is not per-channel")


# ------------------------------------------------------------------------------ attributes
def spatial_pads(node, attrs, in_hw, kernel, strides, dilations):
    """(top, left, bottom, right) from `pads` / `auto_pad` (ONNX's rules)."""
    auto = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for i in range(2):
            o = -(-in_hw[i] // strides[i])
            total = max(0, (o - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in_hw[i])
            small = total // 2
            out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return (out[0][0], out[1][0], out[0][1], out[1][1])
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto != "NOTSET":
        raise malformed(node, f"unknown auto_pad {auto!r}")
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if len(pads) != 4:
        raise unsupported(node, f"pads {pads} (only 2-D operators: 4 entries)")
    if min(pads) < 0:
        raise unsupported(node, f"negative pads {pads}")
    return (pads[0], pads[1], pads[2], pads[3])


def pair_attr(node, attrs, name, default):
    v = list(attrs.get(name, default))
    if len(v) != 2:
        raise unsupported(node, f"{name}={v} (only 2-D operators are supported)")
    if min(v) < 1:
        raise malformed(node, f"{name}={v} must be >= 1")
    return tuple(int(i) for i in v)


def onnx_window_out(size, k, s, d, pb, pe, ceil_mode):
    """ONNX's output size for a window operator along one axis (the last window must start
    inside the input or the leading pad)."""
    span = size + pb + pe - ((k - 1) * d + 1)
    if span < 0:
        return 0
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1
    return out


def image_input(node, x):
    x = sym_input(node, x)
    if len(x.shape) != 4:
        raise unsupported(node, f"input of shape {x.shape}: only NCHW (4-D) input is supported")
    return x


def check_out_shape(node, y, want_hw):
    if tuple(y.shape[2:]) != tuple(want_hw):
        raise unsupported(node, f"pyconvnet's output size {y.shape[2:]} differs from ONNX's {tuple(want_hw)} "
                                "for these pads/ceil_mode")


# ------------------------------------------------------------------------------ folding
def fold_constant(ctx, node, inputs, attrs):
    if "value" in attrs:
        return [np.asarray(attrs["value"])]
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype)]
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(list(attrs[key]), dtype)]
    raise unsupported(node, f"attributes {sorted(attrs)} (only value, value_float(s), value_int(s))")


def fold_constant_of_shape(ctx, node, inputs, attrs):
    shape = ints(node, inputs[0], "input 'shape'")
    if any(d == BATCH for d in shape):
        raise unsupported(node, "a tensor whose shape depends on the batch size")
    if any(d < 0 for d in shape):
        raise malformed(node, f"negative dimension in shape {shape}")
    ctx.check_size(node, shape)
    value = np.asarray(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)
    if value.size != 1:
        raise malformed(node, "value must hold one element")
    return [np.full(shape, value[0], value.dtype)]


def fold_shape(ctx, node, inputs, attrs):
    x = inputs[0]
    shape = list(x.shape)
    if isinstance(x, Sym):
        shape[0] = BATCH
        if any(d is None for d in shape[1:]):
            raise unsupported(node, "the shape of a value with unknown dimensions")
    shape = np.asarray(shape, np.int64)
    start, end = attrs.get("start", 0), attrs.get("end", None)
    return [shape[start:end]]


def fold_gather(ctx, node, inputs, attrs):
    data = const_input(node, inputs[0], "input 'data'")
    idx = const_input(node, inputs[1], "input 'indices'")
    axis = int(attrs.get("axis", 0))
    if not -data.ndim <= axis < data.ndim:
        raise malformed(node, f"axis={axis} is out of range for rank {data.ndim}")
    n = data.shape[axis]
    idx = np.asarray(idx, np.int64)
    if np.any((idx < -n) | (idx >= n)):
        raise malformed(node, f"indices out of range for a dimension of {n}")
    return [np.take(data, np.where(idx < 0, idx + n, idx), axis=axis)]


def fold_concat(ctx, node, inputs, attrs):
    arrs = [const_input(node, v, f"input {i}") for i, v in enumerate(inputs)]
    axis = int(attrs.get("axis", 0))
    try:
        return [np.concatenate(arrs, axis=axis)]
    except (ValueError, IndexError) as exc:  # numpy's AxisError is both
        raise malformed(node, f"cannot concatenate: {exc}") from None


def axes_of(ctx, node, inputs, attrs, index=1):
    """Axes from the attribute (before opset 13) or the second input (opset 13+)."""
    if ctx.opset >= 13:
        v = opt(inputs, index)
        return None if v is None else ints(node, v, "input 'axes'")
    return list(attrs["axes"]) if "axes" in attrs else None


def fold_unsqueeze(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 0")
    axes = axes_of(ctx, node, inputs, attrs)
    if axes is None:
        raise malformed(node, "axes are required")
    rank = x.ndim + len(axes)
    axes = sorted(a % rank if -rank <= a < rank else rank + 1 for a in axes)
    if axes and axes[-1] >= rank or len(set(axes)) != len(axes):
        raise malformed(node, f"axes {axes} are invalid for an output of rank {rank}")
    for a in axes:
        x = np.expand_dims(x, a)
    return [x]


def fold_squeeze(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 0")
    axes = axes_of(ctx, node, inputs, attrs)
    if axes is None:
        return [np.squeeze(x)]
    try:
        return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]
    except ValueError as exc:
        raise malformed(node, str(exc)) from None


def fold_slice(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 'data'")
    if ctx.opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes = list(attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts = ints(node, inputs[1], "input 'starts'")
        ends = ints(node, inputs[2], "input 'ends'")
        axes = ints(node, inputs[3], "input 'axes'") if opt(inputs, 3) is not None else list(range(len(starts)))
        steps = ints(node, inputs[4], "input 'steps'") if opt(inputs, 4) is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise malformed(node, "starts, ends, axes and steps must have one non-zero entry per axis")
    index = [slice(None)] * x.ndim
    for s, e, a, st in zip(starts, ends, axes, steps):
        if not -x.ndim <= a < x.ndim:
            raise malformed(node, f"axis {a} out of range")
        # ONNX clamps out-of-range starts/ends (INT64_MAX means "to the end"), as Python slices do
        index[a % x.ndim] = slice(max(min(s, 1 << 62), -(1 << 62)), max(min(e, 1 << 62), -(1 << 62)), st)
    return [x[tuple(index)]]


# ONNX TensorProto data types that can appear in folded constants
_CAST = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
         10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}


def fold_cast(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 0")
    to = int(attrs.get("to", 0))
    if to not in _CAST:
        raise unsupported(node, f"cast to data type {to}")
    return [x.astype(_CAST[to])]


def reshape_target(node, in_shape, target, allowzero):
    """ONNX Reshape's output shape: 0 copies the input dimension (unless allowzero), -1 is inferred."""
    out = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise malformed(node, f"shape entry 0 at position {i} has no input dimension to copy")
            out.append(in_shape[i])
        else:
            out.append(d)
    return out


def fold_reshape(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 'data'")
    target = ints(node, inputs[1], "input 'shape'")
    out = reshape_target(node, x.shape, target, attrs.get("allowzero", 0))
    try:
        return [x.reshape(out)]
    except ValueError as exc:
        raise malformed(node, f"cannot reshape {x.shape} into {target}: {exc}") from None


def fold_flatten(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 0")
    axis = int(attrs.get("axis", 1)) % max(1, x.ndim + 1)
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def fold_transpose(ctx, node, inputs, attrs):
    x = const_input(node, inputs[0], "input 0")
    perm = attrs.get("perm")
    return [np.transpose(x, None if perm is None else tuple(perm))]


def fold_identity(ctx, node, inputs, attrs):
    return [inputs[0]]


def _binary(fn):
    def fold(ctx, node, inputs, attrs):
        a = const_input(node, inputs[0], "input A")
        b = const_input(node, inputs[1], "input B")
        with np.errstate(all="ignore"):
            try:
                r = fn(a, b)
            except ValueError as exc:
                raise malformed(node, f"shapes {a.shape} and {b.shape} do not broadcast: {exc}") from None
        return [np.asarray(r).astype(np.result_type(a, b), copy=False)]

    return fold


def _int_div(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise ValueError("integer division by zero")
        return np.trunc(a / b).astype(np.result_type(a, b))  # ONNX integer Div truncates
    return a / b


def fold_sum(ctx, node, inputs, attrs):
    arrs = [const_input(node, v, f"input {i}") for i, v in enumerate(inputs)]
    out = arrs[0]
    for a in arrs[1:]:
        out = out + a
    return [out]


def fold_dropout(ctx, node, inputs, attrs):
    return [inputs[0]] + [np.ones(np.shape(inputs[0]), np.bool_)] * (len(node.output) - 1)


def fold_unary(fn):
    def fold(ctx, node, inputs, attrs):
        x = const_input(node, inputs[0], "input 0")
        with np.errstate(all="ignore"):
            return [np.asarray(fn(x)).astype(x.dtype, copy=False)]

    return fold


# ------------------------------------------------------------------------------ converters
def conv_operands(node, inputs, attrs, what):
    """The image, weight, optional bias, kernel, strides, dilations and group of a Conv or
    ConvTranspose node (the attributes and checks the two share)."""
    x = image_input(node, inputs[0])
    w = floats(node, inputs[1], "input 'W'")
    b = opt(inputs, 2)
    b = None if b is None else floats(node, b, "input 'B'")
    if w.ndim != 4:
        raise unsupported(node, f"weight of shape {w.shape}: only 2-D {what} is supported")
    kernel = tuple(int(k) for k in attrs.get("kernel_shape", w.shape[2:]))
    if kernel != w.shape[2:]:
        raise malformed(node, f"kernel_shape {kernel} does not match the weight {w.shape}")
    strides = pair_attr(node, attrs, "strides", [1, 1])
    dilations = pair_attr(node, attrs, "dilations", [1, 1])
    group = int(attrs.get("group", 1))
    return x, w, b, kernel, strides, dilations, group


def convert_conv(ctx, node, inputs, attrs):
    x, w, b, kernel, strides, dilations, group = conv_operands(node, inputs, attrs, "convolution")
    cin = x.shape[1]
    if group < 1 or w.shape[1] * group != cin or w.shape[0] % group:
        raise malformed(node, f"weight {w.shape} with group={group} does not fit {cin} input channels")
    if b is not None and b.shape != (w.shape[0],):
        raise malformed(node, f"bias of shape {b.shape} does not match {w.shape[0]} output channels")
    top, left, bottom, right = spatial_pads(node, attrs, x.shape[2:], kernel, strides, dilations)
    want = [onnx_window_out(x.shape[2 + i], kernel[i], strides[i], dilations[i], p0, p1, False)
            for i, (p0, p1) in enumerate(((top, bottom), (left, right)))]
    if top == bottom and left == right:
        padding = (top, left)
    else:
        x = ctx.apply(node, L.ConstantPad2d((left, right, top, bottom), 0.0), x, suffix="pad")
        padding = 0
    layer = L.Conv2d(cin, w.shape[0], kernel, strides, padding, dilations, group, bias=b is not None)
    layer.weight.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    y = ctx.apply(node, layer, x)
    check_out_shape(node, y, want)
    return [y]


def convert_conv_transpose(ctx, node, inputs, attrs):
    x, w, b, kernel, strides, dilations, group = conv_operands(node, inputs, attrs, "transposed convolution")
    cin, cout = x.shape[1], w.shape[1] * group
    if group < 1 or w.shape[0] != cin or cin % group:
        raise malformed(node, f"weight {w.shape} with group={group} does not fit {cin} input channels")
    if b is not None and b.shape != (cout,):
        raise malformed(node, f"bias of shape {b.shape} does not match {cout} output channels")
    opad = list(attrs.get("output_padding", [0, 0]))
    if len(opad) != 2 or min(opad) < 0:
        raise unsupported(node, f"output_padding={opad}")
    full = [strides[i] * (x.shape[2 + i] - 1) + opad[i] + (kernel[i] - 1) * dilations[i] + 1 for i in range(2)]
    auto = attrs.get("auto_pad", "NOTSET")
    if "output_shape" in attrs or auto in ("SAME_UPPER", "SAME_LOWER"):
        out = list(attrs["output_shape"])[-2:] if "output_shape" in attrs else \
            [x.shape[2 + i] * strides[i] for i in range(2)]
        pads = []
        for i in range(2):
            total = full[i] - out[i]
            if total < 0:
                raise unsupported(node, f"output_shape {out} larger than the full output {full}")
            small = total // 2
            pads.append((total - small, small) if auto == "SAME_LOWER" else (small, total - small))
    elif auto == "VALID" or auto == "NOTSET":
        p = list(attrs.get("pads", [0, 0, 0, 0])) if auto == "NOTSET" else [0, 0, 0, 0]
        if len(p) != 4 or min(p) < 0:
            raise unsupported(node, f"pads {p}")
        pads = [(p[0], p[2]), (p[1], p[3])]
    else:
        raise malformed(node, f"unknown auto_pad {auto!r}")
    # ONNX keeps rows [begin, full - end) of the full result; PyTorch's padding p with
    # output_padding op keeps [p, full - opad - 2p + op + p): the same with p = begin,
    # op = opad + begin - end (PyTorch needs 0 <= op < max(stride, dilation)).
    padding = (pads[0][0], pads[1][0])
    out_pad = tuple(opad[i] + pads[i][0] - pads[i][1] for i in range(2))
    if min(out_pad) < 0 or any(out_pad[i] >= max(strides[i], dilations[i]) for i in range(2)):
        raise unsupported(node, f"pads {pads} with output_padding {opad} (PyTorch's transposed convolution "
                                "cannot drop more rows at the end than at the start)")
    layer = L.ConvTranspose2d(cin, cout, kernel, strides, padding, out_pad, group, dilations, bias=b is not None)
    layer.weight.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    y = ctx.apply(node, layer, x)
    check_out_shape(node, y, [full[i] - pads[i][0] - pads[i][1] for i in range(2)])
    return [y]


def _resize_mode(node, mode, coord, nearest_mode, scales):
    """(torch mode, align_corners) for ONNX's interpolation settings, or NotImplementedError."""
    if mode == "nearest":
        integer_up = scales is not None and all(float(v).is_integer() and v >= 1 for v in scales)
        if coord == "asymmetric" and nearest_mode == "floor":
            return "nearest", None
        # with whole upscale factors the half-pixel centres never tie, so any rounding gives
        # PyTorch's floor(o / s)
        if integer_up and coord in ("half_pixel", "pytorch_half_pixel", "asymmetric") and \
                nearest_mode in ("round_prefer_floor", "round_prefer_ceil", "floor"):
            return "nearest", None
        raise unsupported(node, f"nearest resize with coordinate_transformation_mode={coord!r} and "
                                f"nearest_mode={nearest_mode!r} (PyTorch's nearest is asymmetric/floor)")
    if mode == "linear":
        if coord in ("half_pixel", "pytorch_half_pixel"):
            return "bilinear", False
        if coord == "align_corners":
            return "bilinear", True
        raise unsupported(node, f"linear resize with coordinate_transformation_mode={coord!r}")
    raise unsupported(node, f"mode={mode!r} (nearest and linear only)")


def _resize(ctx, node, x, mode, coord, nearest_mode, scales, sizes):
    if scales is not None:
        scales = [float(v) for v in np.asarray(scales).reshape(-1)]
        if len(scales) != 4 or scales[0] != 1 or scales[1] != 1:
            raise unsupported(node, f"scales {scales}: only the height and width can be resized")
        if min(scales[2:]) <= 0 or not all(math.isfinite(v) for v in scales):
            raise malformed(node, f"scales {scales} must be finite and positive")
        torch_mode, align = _resize_mode(node, mode, coord, nearest_mode, scales[2:])
        layer = L.Upsample(scale_factor=tuple(scales[2:]), mode=torch_mode, align_corners=align)
    else:
        sizes = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if len(sizes) != 4 or sizes[1] != x.shape[1]:
            raise unsupported(node, f"sizes {sizes}: only the height and width can be resized")
        if min(sizes[2:]) < 1:
            raise malformed(node, f"sizes {sizes} must be positive")
        ratios = [sizes[2] / x.shape[2], sizes[3] / x.shape[3]]
        torch_mode, align = _resize_mode(node, mode, coord, nearest_mode, ratios)
        layer = L.Upsample(size=tuple(sizes[2:]), mode=torch_mode, align_corners=align)
    return [ctx.apply(node, layer, x)]


def convert_resize(ctx, node, inputs, attrs):
    x = image_input(node, inputs[0])
    for name, ok in (("antialias", 0), ("exclude_outside", 0)):
        if attrs.get(name, ok) != ok:
            raise unsupported(node, f"{name}={attrs[name]}")
    if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise unsupported(node, f"keep_aspect_ratio_policy={attrs['keep_aspect_ratio_policy']!r}")
    if "axes" in attrs and sorted(a % 4 for a in attrs["axes"]) != [2, 3]:
        raise unsupported(node, f"axes {attrs['axes']} (only the height and width)")
    mode = attrs.get("mode", "nearest")
    if ctx.opset < 11:
        coord, nearest_mode = "asymmetric", "floor"
        scales, sizes = const_input(node, opt(inputs, 1), "input 'scales'"), None
    else:
        coord = attrs.get("coordinate_transformation_mode", "half_pixel")
        nearest_mode = attrs.get("nearest_mode", "round_prefer_floor")
        scales, sizes = opt(inputs, 2), opt(inputs, 3)
        scales = None if scales is None or np.size(const_input(node, scales, "input 'scales'")) == 0 else scales
        sizes = None if sizes is None else const_input(node, sizes, "input 'sizes'")
        if (scales is None) == (sizes is None):
            raise malformed(node, "give exactly one of scales and sizes")
    if "axes" in attrs:
        # scales / sizes list the axes in the order of `axes`: put them in (h, w) order
        order = np.argsort([a % 4 for a in attrs["axes"]])
        if scales is not None and np.size(scales) == 2:
            scales = np.concatenate([[1.0, 1.0], np.asarray(scales, np.float64).reshape(-1)[order]])
        if sizes is not None and np.size(sizes) == 2:
            sizes = np.concatenate([[1, x.shape[1]], np.asarray(sizes).reshape(-1)[order]])
    return _resize(ctx, node, x, mode, coord, nearest_mode, scales, sizes)


def convert_upsample(ctx, node, inputs, attrs):
    x = image_input(node, inputs[0])
    scales = attrs["scales"] if "scales" in attrs else const_input(node, opt(inputs, 1), "input 'scales'")
    mode = attrs.get("mode", "nearest")
    # Upsample is asymmetric: source pixel o / scale
    return _resize(ctx, node, x, mode, "asymmetric", "floor", scales, None)


def convert_gemm(ctx, node, inputs, attrs):
    a = sym_input(node, inputs[0], "input 'A'")
    if len(a.shape) != 2:
        raise malformed(node, f"input 'A' of shape {a.shape} must be 2-D")
    if attrs.get("transA", 0):
        raise unsupported(node, "transA=1 (the batch would move)")
    bmat = floats(node, inputs[1], "input 'B'")
    if bmat.ndim != 2:
        raise malformed(node, f"input 'B' of shape {bmat.shape} must be 2-D")
    weight = bmat if attrs.get("transB", 0) else bmat.T  # (out, in)
    alpha = float(attrs.get("alpha", 1.0))
    if alpha != 1.0:
        weight = weight * np.float32(alpha)
    if weight.shape[1] != a.shape[1]:
        raise malformed(node, f"B of shape {bmat.shape} does not fit A of shape {a.shape}")
    c = opt(inputs, 2)
    bias = None
    if c is not None:
        c = floats(node, c, "input 'C'").astype(np.float64) * float(attrs.get("beta", 1.0))
        if c.size == 1:
            bias = np.full(weight.shape[0], float(c.reshape(-1)[0]))
        elif c.reshape(-1).shape == (weight.shape[0],) and (c.ndim == 1 or c.shape[0] == 1):
            bias = c.reshape(-1)
        else:
            raise unsupported(node, f"C of shape {c.shape}: only a bias broadcast over the batch is supported")
    return [ctx.linear(node, a, weight, bias)]


def convert_matmul(ctx, node, inputs, attrs):
    a = sym_input(node, inputs[0], "input 'A'")
    bmat = floats(node, inputs[1], "input 'B'")
    if len(a.shape) != 2 or bmat.ndim != 2:
        raise unsupported(node, f"shapes {a.shape} x {bmat.shape}: only (N, K) x (K, M) with a constant B")
    if bmat.shape[0] != a.shape[1]:
        raise malformed(node, f"B of shape {bmat.shape} does not fit A of shape {a.shape}")
    return [ctx.linear(node, a, bmat.T, None)]


def _simple(make):
    def convert(ctx, node, inputs, attrs):
        return [ctx.apply(node, make(attrs), sym_input(node, inputs[0]))]

    return convert


def convert_clip(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    if ctx.opset < 11:
        lo, hi = attrs.get("min", -math.inf), attrs.get("max", math.inf)
    else:
        lo_v, hi_v = opt(inputs, 1), opt(inputs, 2)
        lo = -math.inf if lo_v is None else float(const_input(node, lo_v, "input 'min'").reshape(-1)[0])
        hi = math.inf if hi_v is None else float(const_input(node, hi_v, "input 'max'").reshape(-1)[0])
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise unsupported(node, f"min={lo}, max={hi} (min must be <= max)")
    if lo == 0.0 and hi == 6.0:
        layer = L.ReLU6()
    elif lo == 0.0 and hi == math.inf:
        layer = L.ReLU()
    else:
        layer = L.Hardtanh(lo, hi)
    return [ctx.apply(node, layer, x)]


def _pool_common(ctx, node, inputs, attrs):
    x = image_input(node, inputs[0])
    kernel = pair_attr(node, attrs, "kernel_shape", [])
    strides = pair_attr(node, attrs, "strides", [1, 1])
    dilations = pair_attr(node, attrs, "dilations", [1, 1])
    if dilations != (1, 1):
        raise unsupported(node, f"dilations={list(dilations)} (pooling supports 1 only)")
    ceil_mode = bool(attrs.get("ceil_mode", 0))
    pads = spatial_pads(node, attrs, x.shape[2:], kernel, strides, dilations)
    want = [onnx_window_out(x.shape[2 + i], kernel[i], strides[i], 1, p0, p1, ceil_mode)
            for i, (p0, p1) in enumerate(((pads[0], pads[2]), (pads[1], pads[3])))]
    return x, kernel, strides, ceil_mode, pads, want


def convert_max_pool(ctx, node, inputs, attrs):
    if len(node.output) > 1 and node.output[1]:
        raise unsupported(node, "the Indices output")
    if attrs.get("storage_order", 0):
        raise unsupported(node, "storage_order=1")
    x, kernel, strides, ceil_mode, (t, l, b, r), want = _pool_common(ctx, node, inputs, attrs)
    if t == b and l == r and 2 * t <= kernel[0] and 2 * l <= kernel[1]:
        padding = (t, l)
    else:
        x = ctx.apply(node, L.ConstantPad2d((l, r, t, b), -math.inf), x, suffix="pad")
        padding = 0
    y = ctx.apply(node, L.MaxPool2d(kernel, strides, padding, ceil_mode), x)
    check_out_shape(node, y, want)
    return [y]


def convert_avg_pool(ctx, node, inputs, attrs):
    x, kernel, strides, ceil_mode, (t, l, b, r), want = _pool_common(ctx, node, inputs, attrs)
    include = bool(attrs.get("count_include_pad", 0))
    fits = 2 * t <= kernel[0] and 2 * l <= kernel[1]
    covers = kernel[0] - t >= x.shape[2] and kernel[1] - l >= x.shape[3]
    if want == [1, 1] and covers and (not include or (t, l, b, r) == (0, 0, 0, 0)):
        # one window over the whole input (Inception v1's last pool): the mean of each plane
        layer = L.GlobalAvgPool2d()
    elif t == b and l == r and fits:
        layer = L.AvgPool2d(kernel, strides, (t, l), ceil_mode, count_include_pad=include)
    elif not include and fits and b >= t and r >= l:
        # Extra bottom/right padding that is never counted is what ceil_mode does: the last
        # window overhangs the input and its divisor counts only the cells inside. Valid when
        # the output sizes agree (checked below).
        layer = L.AvgPool2d(kernel, strides, (t, l), True, count_include_pad=False)
    elif include and not ceil_mode:
        x = ctx.apply(node, L.ConstantPad2d((l, r, t, b), 0.0), x, suffix="pad")
        layer = L.AvgPool2d(kernel, strides, 0, False)
    else:
        raise unsupported(node, f"pads {[t, l, b, r]} with count_include_pad={int(include)}, "
                                f"ceil_mode={int(ceil_mode)}")
    y = ctx.apply(node, layer, x)
    check_out_shape(node, y, want)
    return [y]


def convert_global_pool(cls):
    def convert(ctx, node, inputs, attrs):
        return [ctx.apply(node, cls(), image_input(node, inputs[0]))]

    return convert


def convert_lrn(ctx, node, inputs, attrs):
    x = image_input(node, inputs[0])
    size = int(attrs["size"]) if "size" in attrs else None
    if size is None or size < 1:
        raise malformed(node, "attribute size (>= 1) is required")
    if size % 2 == 0:
        # ONNX centres an even window one channel later than PyTorch does
        raise unsupported(node, f"size={size}: an even window is placed differently from PyTorch's LRN")
    layer = L.LocalResponseNorm(size, attrs.get("alpha", 1e-4), attrs.get("beta", 0.75), attrs.get("bias", 1.0))
    return [ctx.apply(node, layer, x)]


def convert_batch_norm(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    if attrs.get("training_mode", 0) or len([o for o in node.output[1:] if o]):
        raise unsupported(node, "training mode (running statistics as outputs)")
    if ctx.opset < 9 and not attrs.get("spatial", 1):
        raise unsupported(node, "spatial=0")
    c = x.shape[1] if len(x.shape) >= 2 else None
    names = ("scale", "B", "input_mean", "input_var")
    scale, bias, mean, var = (floats(node, opt(inputs, i + 1), f"input '{n}'").astype(np.float64)
                              for i, n in enumerate(names))
    for v, n in zip((scale, bias, mean, var), names):
        if v.shape != (c,):
            raise malformed(node, f"input '{n}' of shape {v.shape} does not match {c} channels")
    eps = float(attrs.get("epsilon", 1e-5))
    if np.any(var + eps <= 0):
        raise malformed(node, "input_var + epsilon must be positive")
    mul = scale / np.sqrt(var + eps)
    add = bias - mean * mul
    folded = ctx.fold_into_producer(x, mul, add)
    if folded is not None:
        return [folded]
    if len(x.shape) == 4:
        layer = L.BatchNorm2d(c, eps=eps)
        layer.weight.data[...] = scale
        layer.bias.data[...] = bias
        layer.running_mean[...] = mean
        layer.running_var[...] = var
        return [ctx.apply(node, layer, x)]
    return [ctx.affine(node, x, mul, add)]


def _arith(kind):
    """Add / Sub / Mul / Div: per-channel constants become a ChannelAffine (or fold into the
    layer before); Add and Mul of two graph values are the merge layers."""

    def convert(ctx, node, inputs, attrs):
        a, b = inputs[0], inputs[1]
        if isinstance(a, Sym) and isinstance(b, Sym):
            if kind not in ("add", "mul"):
                raise unsupported(node, "two graph values (only Add, Sum and Mul merge them)")
            if a.shape != b.shape:
                raise unsupported(node, f"broadcasting between graph values of shapes {a.shape} and {b.shape}")
            layer = L.Add() if kind == "add" else L.Multiply()
            return [ctx.apply(node, layer, [a, b])]
        if isinstance(b, Sym):
            if kind in ("sub", "div"):
                if kind == "div":
                    raise unsupported(node, "a constant divided by a graph value")
                c = broadcast_channel_constant(node, floats(node, a, "input A"), b.shape, "input A")
                return [ctx.affine_or_fold(node, b, -np.ones_like(c), c)]
            a, b = b, a
        c = broadcast_channel_constant(node, floats(node, b, "input B"), a.shape, "input B")
        if len(a.shape) < 2:
            raise unsupported(node, f"input of shape {a.shape}")
        ones, zeros = np.ones_like(c), np.zeros_like(c)
        if kind == "add":
            return [ctx.affine_or_fold(node, a, ones, c)]
        if kind == "sub":
            return [ctx.affine_or_fold(node, a, ones, -c)]
        if kind == "mul":
            return [ctx.affine_or_fold(node, a, c, zeros)]
        if np.any(c == 0):
            raise unsupported(node, "division by a constant holding zeros")
        return [ctx.affine_or_fold(node, a, 1.0 / c, zeros)]

    return convert


def convert_sum(ctx, node, inputs, attrs):
    if len(inputs) == 1:
        return [inputs[0]]
    syms = [sym_input(node, v, f"input {i}") for i, v in enumerate(inputs)]
    if len({s.shape for s in syms}) != 1:
        raise unsupported(node, "broadcasting between graph values of different shapes")
    return [ctx.apply(node, L.Add(), syms)]


def convert_concat(ctx, node, inputs, attrs):
    syms = [sym_input(node, v, f"input {i}") for i, v in enumerate(inputs)]
    if len(syms) == 1:
        return [syms[0]]
    axis = no_batch_axis(node, int(attrs.get("axis", 1)), len(syms[0].shape))
    return [ctx.apply(node, L.Concat(axis=axis), syms)]


def convert_flatten(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    axis = int(attrs.get("axis", 1))
    rank = len(x.shape)
    if not -rank <= axis <= rank:
        raise malformed(node, f"axis={axis} is out of range for rank {rank}")
    axis %= rank + 1
    if axis != 1:
        # the output is (prod of the dimensions before axis, the rest): anything but axis 1
        # merges the batch with other dimensions or splits it off
        raise unsupported(node, f"axis={attrs.get('axis', 1)} (only axis 1 keeps the batch dimension apart)")
    return [ctx.apply(node, L.Flatten(), x)]


def convert_reshape(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    target = ints(node, inputs[1], "input 'shape'")
    out = reshape_target(node, x.shape, target, attrs.get("allowzero", 0))
    if not out:
        raise unsupported(node, "reshaping to a scalar")
    first, rest = out[0], out[1:]
    if any(d < -1 for d in rest) or rest.count(-1) + (first == -1) > 1:
        raise unsupported(node, f"shape {target}: a target that depends on the batch size in another dimension")
    sample = int(np.prod(x.shape[1:]))
    known = int(np.prod([d for d in rest if d != -1]))
    if first is None or first == BATCH or (first == -1 and -1 not in rest):
        pass  # the batch stays first
    elif first == ctx.static_batch and (-1 in rest or known == sample):
        pass  # the file was exported with this batch size
    else:
        raise unsupported(node, f"shape {target} changes the batch dimension")
    if -1 in rest:
        if known == 0 or sample % known:
            raise malformed(node, f"cannot reshape a sample of shape {x.shape[1:]} into {target}")
        rest[rest.index(-1)] = sample // known
    if int(np.prod(rest)) != sample or any(d <= 0 for d in rest):
        raise malformed(node, f"cannot reshape a sample of shape {x.shape[1:]} into {target}")
    if tuple(rest) == tuple(x.shape[1:]):
        return [x]
    return [ctx.apply(node, L.Reshape(tuple(rest)), x)]


def convert_transpose(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    rank = len(x.shape)
    perm = list(attrs.get("perm", range(rank - 1, -1, -1)))
    if sorted(perm) != list(range(rank)):
        raise malformed(node, f"perm {perm} is not a permutation of {rank} axes")
    if perm[0] != 0:
        raise unsupported(node, f"perm {perm} moves the batch axis")
    if perm == sorted(perm):
        return [x]
    shuffled = ctx.channel_shuffle_pattern(node, x, perm)
    if shuffled is not None:
        return [shuffled]
    return [ctx.apply(node, L.Permute(tuple(perm[1:])), x)]


def convert_unsqueeze(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    axes = axes_of(ctx, node, inputs, attrs)
    if axes is None:
        raise malformed(node, "axes are required")
    rank = len(x.shape) + len(axes)
    axes = sorted(no_batch_axis(node, a, rank, "axes") for a in axes)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return [ctx.apply(node, L.Reshape(tuple(shape[1:])), x)]


def convert_squeeze(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    axes = axes_of(ctx, node, inputs, attrs)
    rank = len(x.shape)
    if axes is None:
        axes = [i for i in range(1, rank) if x.shape[i] == 1]
    axes = {no_batch_axis(node, a, rank, "axes") for a in axes}
    if any(x.shape[a] != 1 for a in axes):
        raise malformed(node, f"cannot squeeze axes {sorted(axes)} of shape {x.shape}")
    rest = tuple(d for i, d in enumerate(x.shape) if i not in axes)[1:]
    if not rest:
        raise unsupported(node, "squeezing to a tensor with only the batch dimension")
    return [ctx.apply(node, L.Reshape(rest), x)]


def convert_dropout(ctx, node, inputs, attrs):
    if len(node.output) > 1 and node.output[1] and ctx.is_used(node.output[1]):
        raise unsupported(node, "the mask output")
    if ctx.opset >= 12 and opt(inputs, 2) is not None:
        training = const_input(node, inputs[2], "input 'training_mode'")
        if bool(np.asarray(training).reshape(-1)[0]):
            raise unsupported(node, "training_mode=True")
    return [inputs[0], None][: len(node.output)]


def convert_softmax(ctx, node, inputs, attrs):
    x = sym_input(node, inputs[0])
    rank = len(x.shape)
    default = -1 if ctx.opset >= 13 else 1
    axis = no_batch_axis(node, int(attrs.get("axis", default)), rank)
    if ctx.opset >= 13 or axis == rank - 1:
        return [ctx.apply(node, L.Softmax(axis), x)]
    # before opset 13 the input is seen as 2-D: softmax over all axes from `axis` on
    flat = ctx.apply(node, L.Reshape(tuple(x.shape[1:axis]) + (int(np.prod(x.shape[axis:])),)), x, suffix="flat")
    y = ctx.apply(node, L.Softmax(axis), flat)
    return [ctx.apply(node, L.Reshape(tuple(x.shape[1:])), y, suffix="unflat")]


def convert_pad(ctx, node, inputs, attrs):
    x = image_input(node, inputs[0])
    mode = attrs.get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode != "constant":
        raise unsupported(node, f"mode={mode!r} (only 'constant')")
    if ctx.opset < 11:
        pads, value = list(attrs.get("pads", [])), float(attrs.get("value", 0.0))
    else:
        pads = ints(node, inputs[1], "input 'pads'")
        v = opt(inputs, 2)
        value = 0.0 if v is None else float(const_input(node, v, "input 'constant_value'").reshape(-1)[0])
        if opt(inputs, 3) is not None:
            axes = [a % 4 for a in ints(node, inputs[3], "input 'axes'")]
            full = [0] * 8
            for i, a in enumerate(axes):
                full[a], full[a + 4] = pads[i], pads[i + len(axes)]
            pads = full
    if len(pads) != 8:
        raise malformed(node, f"pads {pads} must have 2 entries per axis of the 4-D input")
    if any(pads[i] for i in (0, 1, 4, 5)):
        raise unsupported(node, f"pads {pads}: only the height and width can be padded")
    if min(pads) < 0:
        raise unsupported(node, f"negative pads {pads} (cropping)")
    return [ctx.apply(node, L.ConstantPad2d((pads[3], pads[7], pads[2], pads[6]), value), x)]


def convert_identity(ctx, node, inputs, attrs):
    return [inputs[0]]


# ------------------------------------------------------------------------------ the table
_add, _sub, _mul = _binary(np.add), _binary(np.subtract), _binary(np.multiply)

OPERATORS: dict[str, Operator] = {
    "Conv": Operator(convert=convert_conv),
    "ConvTranspose": Operator(convert=convert_conv_transpose),
    "Resize": Operator(convert=convert_resize),
    "Upsample": Operator(convert=convert_upsample),
    "Gemm": Operator(convert=convert_gemm),
    "MatMul": Operator(fold=_binary(np.matmul), convert=convert_matmul),
    "Relu": Operator(fold=fold_unary(lambda x: np.maximum(x, 0)), convert=_simple(lambda a: L.ReLU())),
    "LeakyRelu": Operator(convert=_simple(lambda a: L.LeakyReLU(a.get("alpha", 0.01)))),
    "Sigmoid": Operator(convert=_simple(lambda a: L.Sigmoid())),
    "Tanh": Operator(convert=_simple(lambda a: L.Tanh())),
    "Elu": Operator(convert=_simple(lambda a: L.ELU(a.get("alpha", 1.0)))),
    "HardSwish": Operator(convert=_simple(lambda a: L.Hardswish())),
    "Clip": Operator(convert=convert_clip),
    "MaxPool": Operator(convert=convert_max_pool),
    "AveragePool": Operator(convert=convert_avg_pool),
    "GlobalAveragePool": Operator(convert=convert_global_pool(L.GlobalAvgPool2d)),
    "GlobalMaxPool": Operator(convert=convert_global_pool(L.GlobalMaxPool2d)),
    "LRN": Operator(convert=convert_lrn),
    "BatchNormalization": Operator(convert=convert_batch_norm),
    "Add": Operator(fold=_add, convert=_arith("add")),
    "Sub": Operator(fold=_sub, convert=_arith("sub")),
    "Mul": Operator(fold=_mul, convert=_arith("mul")),
    "Div": Operator(fold=_binary(_int_div), convert=_arith("div")),
    "Sum": Operator(fold=fold_sum, convert=convert_sum),
    "Concat": Operator(fold=fold_concat, convert=convert_concat),
    "Flatten": Operator(fold=fold_flatten, convert=convert_flatten),
    "Reshape": Operator(fold=fold_reshape, convert=convert_reshape),
    "Transpose": Operator(fold=fold_transpose, convert=convert_transpose),
    "Unsqueeze": Operator(fold=fold_unsqueeze, convert=convert_unsqueeze),
    "Squeeze": Operator(fold=fold_squeeze, convert=convert_squeeze),
    "Dropout": Operator(fold=fold_dropout, convert=convert_dropout),
    "Softmax": Operator(convert=convert_softmax),
    "Pad": Operator(convert=convert_pad),
    "Identity": Operator(fold=fold_identity, convert=convert_identity),
    "Constant": Operator(fold=fold_constant),
    "ConstantOfShape": Operator(fold=fold_constant_of_shape),
    "Shape": Operator(fold=fold_shape, convert=fold_shape),
    "Gather": Operator(fold=fold_gather),
    "Slice": Operator(fold=fold_slice),
    "Cast": Operator(fold=fold_cast),
    "Sqrt": Operator(fold=fold_unary(np.sqrt)),
    "Neg": Operator(fold=fold_unary(np.negative)),
}


# ------------------------------------------------------------------------------ exporters
# fn(ctx, layer, inputs: list[str]) -> output name; ctx.node(op, inputs, attrs) adds a node and
# returns its output name, ctx.const(array, hint) adds an initializer and returns its name.
def export_conv(ctx, layer, ins):
    top, left, bottom, right = layer.padding4
    w = [ins[0], ctx.const(layer.weight.data, "weight")]
    if layer.bias is not None:
        w.append(ctx.const(layer.bias.data, "bias"))
    return ctx.node("Conv", w, kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                    dilations=list(layer.dilation), group=layer.groups, pads=[top, left, bottom, right])


def export_conv_transpose(ctx, layer, ins):
    w = [ins[0], ctx.const(layer.weight.data, "weight")]
    if layer.bias is not None:
        w.append(ctx.const(layer.bias.data, "bias"))
    (ph, pw), (oh, ow) = layer.padding, layer.output_padding
    return ctx.node("ConvTranspose", w, kernel_shape=list(layer.kernel_size), strides=list(layer.stride),
                    dilations=list(layer.dilation), group=layer.groups, pads=[ph, pw, ph, pw],
                    output_padding=[oh, ow])


def export_upsample(ctx, layer, ins):
    if layer.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners" if layer.align_corners
                     else "pytorch_half_pixel")
    roi = ""
    if layer.size is not None:
        n_c = ctx.shape(ins[0])[:2]
        # the batch entry of sizes must be the batch size itself: take it from the input
        shape = ctx.node("Shape", [ins[0]])
        batch = ctx.node("Slice", [shape, ctx.const(np.asarray([0], np.int64), "start"),
                                   ctx.const(np.asarray([1], np.int64), "end")])
        rest = ctx.const(np.asarray([n_c[1]] + list(layer.size), np.int64), "sizes")
        sizes = ctx.node("Concat", [batch, rest], axis=0)
        return ctx.node("Resize", [ins[0], roi, "", sizes], **attrs)
    scales = ctx.const(np.asarray([1.0, 1.0] + list(layer.scale_factor), np.float32), "scales")
    return ctx.node("Resize", [ins[0], roi, scales], **attrs)


def export_linear(ctx, layer, ins):
    args = [ins[0], ctx.const(layer.weight.data, "weight")]
    if layer.bias is not None:
        args.append(ctx.const(layer.bias.data, "bias"))
    return ctx.node("Gemm", args, transB=1)


def _pool_attrs(layer):
    (ph, pw) = layer.padding
    return dict(kernel_shape=list(layer.kernel_size), strides=list(layer.stride), pads=[ph, pw, ph, pw],
                ceil_mode=int(layer.ceil_mode))


def export_max_pool(ctx, layer, ins):
    return ctx.node("MaxPool", ins, **_pool_attrs(layer))


def export_avg_pool(ctx, layer, ins):
    return ctx.node("AveragePool", ins, count_include_pad=int(layer.count_include_pad), **_pool_attrs(layer))


def export_lp_pool(ctx, layer, ins):
    p = layer.norm_type
    # ONNX LpPool sums |x|^p, PyTorch's LPPool2d x^p: the same for even integer p only
    if p != int(p) or int(p) % 2:
        raise NotImplementedError(f"LPPool2d with norm_type={p}: ONNX LpPool matches PyTorch's for even "
                                  "integer norm_type only")
    if layer.ceil_mode:
        raise NotImplementedError("LPPool2d with ceil_mode=True: PyTorch and ONNX divide the overhanging "
                                  "windows differently")
    return ctx.node("LpPool", ins, p=int(p), kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


def export_batch_norm(ctx, layer, ins):
    args = [ins[0]] + [ctx.const(v, n) for v, n in ((layer.weight.data, "weight"), (layer.bias.data, "bias"),
                                                    (layer.running_mean, "running_mean"),
                                                    (layer.running_var, "running_var"))]
    return ctx.node("BatchNormalization", args, epsilon=layer.eps)


def export_affine(ctx, layer, ins):
    shape = (layer.num_channels,) + (1,) * (ctx.rank(ins[0]) - 2)
    y = ctx.node("Mul", [ins[0], ctx.const(layer.weight.data.reshape(shape), "weight")])
    return ctx.node("Add", [y, ctx.const(layer.bias.data.reshape(shape), "bias")])


def export_clip(ctx, layer, ins):
    lo = ctx.const(np.asarray(layer.min_val, np.float32), "min")
    hi = ctx.const(np.asarray(layer.max_val, np.float32), "max")
    return ctx.node("Clip", [ins[0], lo, hi])


def export_softmax(ctx, layer, ins):
    return ctx.node("Softmax", ins, axis=layer.axis)


def export_reshape(ctx, layer, ins):
    target = np.asarray((0,) + tuple(layer.target_shape), np.int64)  # 0 keeps the batch
    return ctx.node("Reshape", [ins[0], ctx.const(target, "shape")])


def export_dropout(ctx, layer, ins):
    return ctx.node("Identity", ins)


def export_pad(ctx, layer, ins):
    left, right, top, bottom = layer.padding
    pads = ctx.const(np.asarray([0, 0, top, left, 0, 0, bottom, right], np.int64), "pads")
    value = ctx.const(np.asarray(layer.value, np.float32), "value")
    return ctx.node("Pad", [ins[0], pads, value], mode="constant")


def export_shuffle(ctx, layer, ins):
    _, c, h, w = ctx.shape(ins[0])
    g = layer.groups
    a = ctx.node("Reshape", [ins[0], ctx.const(np.asarray([0, g, c // g, h, w], np.int64), "shape")])
    b = ctx.node("Transpose", [a], perm=[0, 2, 1, 3, 4])
    return ctx.node("Reshape", [b, ctx.const(np.asarray([0, c, h, w], np.int64), "shape")])


def export_lrn(ctx, layer, ins):
    if layer.size % 2 == 0:
        raise NotImplementedError(f"LocalResponseNorm(size={layer.size}): ONNX LRN centres an even window "
                                  "differently from PyTorch")
    return ctx.node("LRN", ins, size=layer.size, alpha=layer.alpha, beta=layer.beta, bias=layer.k)


def _plain(op, **attrs):
    return lambda ctx, layer, ins: ctx.node(op, ins, **attrs)


EXPORTERS: dict[str, Callable] = {
    "Conv2d": export_conv,
    "Linear": export_linear,
    "ConvTranspose2d": export_conv_transpose,
    "Upsample": export_upsample,
    "MaxPool2d": export_max_pool,
    "AvgPool2d": export_avg_pool,
    "LPPool2d": export_lp_pool,
    "GlobalAvgPool2d": _plain("GlobalAveragePool"),
    "GlobalMaxPool2d": _plain("GlobalMaxPool"),
    "ReLU": _plain("Relu"),
    "LeakyReLU": lambda ctx, layer, ins: ctx.node("LeakyRelu", ins, alpha=layer.negative_slope),
    "Sigmoid": _plain("Sigmoid"),
    "Tanh": _plain("Tanh"),
    "ELU": lambda ctx, layer, ins: ctx.node("Elu", ins, alpha=layer.alpha),
    "ReLU6": export_clip,
    "Hardtanh": export_clip,
    "Hardswish": _plain("HardSwish"),
    "Softmax": export_softmax,
    "Dropout": export_dropout,
    "Identity": _plain("Identity"),
    "Flatten": _plain("Flatten", axis=1),
    "Reshape": export_reshape,
    "Permute": lambda ctx, layer, ins: ctx.node("Transpose", ins, perm=[0] + list(layer.dims)),
    "ConstantPad2d": export_pad,
    "BatchNorm2d": export_batch_norm,
    "ChannelAffine": export_affine,
    "LocalResponseNorm": export_lrn,
    "ChannelShuffle": export_shuffle,
    "Add": _plain("Sum"),
    "Multiply": lambda ctx, layer, ins: _product(ctx, ins),
    "Concat": lambda ctx, layer, ins: ctx.node("Concat", ins, axis=layer.axis),
}


def _product(ctx, ins):
    out = ins[0]
    for other in ins[1:]:
        out = ctx.node("Mul", [out, other])
    return out
