"""`summary()`: a table of layers (Sequential) or layer calls (Model) with output shapes,
parameter counts and FLOPs."""

from __future__ import annotations

__all__ = ["summarize", "summarize_graph", "format_count"]


def format_count(n) -> str:
    """1234567 -> '1.23M' (for FLOPs)."""
    if n is None:
        return "?"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(int(n))


def _shape_str(shape) -> str:
    if shape is None:
        return "?"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def summarize(model, input_shape=None) -> str:
    """The summary table of `model` for per-sample `input_shape` (e.g. (1, 28, 28)).

    FLOPs are per sample for one forward pass (a multiply-add counts 2). Parameters with
    `trainable=False` (see `freeze`) count as non-trainable; BatchNorm running statistics are
    buffers and not counted.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    shape = None if input_shape is None else (None,) + tuple(int(d) for d in input_shape)
    rows = []
    total = trainable = 0
    total_flops = 0 if shape is not None else None
    for i, layer in enumerate(model.layers):
        n_params = sum(p.size for p in layer.params())
        n_train = sum(p.size for p in layer.params() if p.trainable)
        total += n_params
        trainable += n_train
        flops = None
        out = None
        if shape is not None:
            try:
                flops = layer.flops(shape)
                out = layer.output_shape(shape)
            except ValueError as e:
                raise ValueError(f"summary: layer {i} ({type(layer).__name__}) cannot take input {_shape_str(shape)}: {e}") from None
            total_flops += flops
        shape = out
        name = f"{i}: {type(layer).__name__}"
        if n_params and n_train == 0:
            name += " (frozen)"
        rows.append((name, _shape_str(out), f"{n_params:,}", format_count(flops)))

    title = f"Sequential  input {_shape_str((None,) + tuple(input_shape)) if input_shape is not None else '(unknown: pass input_shape)'}"
    return _table(title, ("Layer (type)", "Output Shape", "Param #", "FLOPs"), rows, total, trainable, total_flops)


def _table(title, header, rows, total, trainable, total_flops) -> str:
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]
    widths[0] = max(widths[0], 20)

    def line(cells):
        return "  ".join(
            cell.ljust(w) if c < 2 or c > 3 else cell.rjust(w) for c, (cell, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "=" * len(line(header))
    out_lines = [title, rule, line(header), "-" * len(rule)]
    out_lines += [line(r) for r in rows]
    out_lines += [
        rule,
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
        f"FLOPs per sample (forward): {format_count(total_flops)}"
        + ("" if total_flops is None else f" ({total_flops:,})"),
    ]
    return "\n".join(out_lines)


def summarize_graph(model, input_shape=None) -> str:
    """The summary table of a graph Model: one row per layer call, with the values it reads.

    `input_shape` (per sample; a list for several inputs) defaults to the inputs' shapes. A
    shared layer's parameters are counted on its first call only.
    """
    g = model._graph()
    if input_shape is None:
        per_sample = [s for _, s in g.inputs]
    else:
        per_sample = [tuple(input_shape)] if g.n_in == 1 else [tuple(s) for s in input_shape]
    shapes = g.shapes(per_sample)
    rows = []
    total = trainable = total_flops = 0
    seen = set()
    for name, shape in g.inputs:
        rows.append((f"{name} (Input)", _shape_str((None,) + tuple(shape)), "0", "0", ""))
    for i, (li, refs) in enumerate(g.calls):
        layer = g.layers[li]
        first = id(layer) not in seen
        seen.add(id(layer))
        n_params = sum(p.size for p in layer.params()) if first else 0
        n_train = sum(p.size for p in layer.params() if p.trainable) if first else 0
        total += n_params
        trainable += n_train
        ins = [shapes[r] for r in refs]
        flops = layer.flops(ins if layer._takes_list else ins[0])
        total_flops += flops
        label = f"{g.value_name(g.n_in + i)} ({type(layer).__name__})"
        if layer.params() and not any(p.trainable for p in layer.params()):
            label += " (frozen)"
        params = f"{n_params:,}" if first else "shared"
        rows.append((label, _shape_str(shapes[g.n_in + i]), params, format_count(flops),
                     ", ".join(g.value_name(r) for r in refs)))
    outs = ", ".join(g.value_name(r) for r in g.outputs)
    title = f"{type(model).__name__}  outputs: {outs}"
    return _table(title, ("Layer (type)", "Output Shape", "Param #", "FLOPs", "Connected to"), rows, total,
                  trainable, total_flops)
