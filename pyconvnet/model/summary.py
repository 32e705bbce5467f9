"""`Sequential.summary()`: a table of layers with output shapes, parameter counts and FLOPs."""

from __future__ import annotations

__all__ = ["summarize", "format_count"]


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

    header = ("Layer (type)", "Output Shape", "Param #", "FLOPs")
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(4)]
    widths[0] = max(widths[0], 20)

    def line(cells):
        return "  ".join(
            cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "=" * len(line(header))
    title = f"Sequential  input {_shape_str((None,) + tuple(input_shape)) if input_shape is not None else '(unknown: pass input_shape)'}"
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
