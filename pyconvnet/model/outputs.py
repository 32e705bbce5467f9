"""Per-output arguments of fit and evaluate: targets, losses and loss weights.

A model with one output takes `y` and `loss` as they are; with several, each is a list (in
the order of the outputs) or a dict keyed by output name. One rule, used by fit and evaluate.
"""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array, as_float_scalar
from ..losses import CrossEntropyLoss, Loss, as_class_labels

__all__ = ["per_output", "resolve_loss", "resolve_losses", "as_targets", "resolve_loss_weights"]


_REQUIRED = object()


def per_output(value, names, what, single_ok=False, default=_REQUIRED) -> list:
    """`value` as one entry per output: a list/tuple in output order or a dict by output name
    (outputs a dict leaves out get `default`, when one is given). With `single_ok`, a lone
    value (not a list or dict) is used for every output."""
    n = len(names)
    if isinstance(value, dict):
        if default is not _REQUIRED:
            value = {k: value.get(k, default) for k in names} | value
        unknown = [k for k in value if k not in names]
        missing = [k for k in names if k not in value]
        if unknown or missing:
            raise ValueError(f"{what} must have exactly the output names {names} as keys"
                             + (f"; unknown: {unknown}" if unknown else "") + (f"; missing: {missing}" if missing else ""))
        return [value[k] for k in names]
    if isinstance(value, (list, tuple)) and (not single_ok or len(value) == n):
        if len(value) != n:
            raise ValueError(f"the model has {n} outputs ({', '.join(names)}), {what} holds {len(value)} entries")
        return list(value)
    if single_ok:
        return [value] * n
    raise TypeError(f"the model has {n} outputs: pass {what} as a list or a dict by output name "
                    f"({', '.join(names)}), got {type(value).__name__}")


def resolve_loss(loss):
    if loss is None:
        return CrossEntropyLoss()
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if not isinstance(loss, Loss):
        raise TypeError(f"loss must be a pyconvnet.losses loss (e.g. CrossEntropyLoss()), got {type(loss).__name__}")
    return loss


def resolve_losses(loss, names) -> list:
    """One loss object per output (a lone loss serves every output)."""
    if len(names) == 1 and not isinstance(loss, (list, tuple, dict)):
        return [resolve_loss(loss)]
    return [resolve_loss(v) for v in per_output(loss, names, "loss", single_ok=True, default=None)]


def as_targets(y, loss, what="y"):
    arr = y if isinstance(y, np.ndarray) else np.asarray(y)
    if isinstance(loss, CrossEntropyLoss) or arr.dtype.kind in "iu":
        return as_class_labels(arr, what)
    return as_float_array(arr, what)


def resolve_loss_weights(loss_weights, names) -> list:
    if loss_weights is None:
        return [1.0] * len(names)
    if len(names) == 1 and not isinstance(loss_weights, (list, tuple, dict)):
        values = [loss_weights]
    else:
        values = per_output(loss_weights, names, "loss_weights", default=1.0)
    out = [as_float_scalar(w, "loss_weights") for w in values]
    if not all(np.isfinite(w) and w >= 0 for w in out):
        raise ValueError(f"loss_weights must be finite and >= 0, got {out}")
    return out
