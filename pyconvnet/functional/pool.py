"""2-D pooling (``torch.nn.functional`` names and semantics).

Every function takes an NCHW batch or a single CHW image (as PyTorch does; the result then
has no batch axis either), converts it once to C-contiguous float32 and returns a new float32
array. ``kernel_size``, ``stride`` and ``padding`` take an int or an ``(h, w)`` pair; ``stride``
defaults to ``kernel_size``. The output size is
``floor((W + 2P - K) / S) + 1`` (``ceil`` with ``ceil_mode``, where the last window must start
inside the input or the left padding). Padding may be at most half the kernel.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _C
from .._validate import as_bool, as_float_array, as_float_scalar, as_pair

__all__ = ["max_pool2d", "avg_pool2d", "lp_pool2d", "global_avg_pool2d", "pool2d_geometry", "lp_norm_type"]

_WHAT = "(N, C, H, W) or (C, H, W)"


def _input(x):
    # Empty planes and kernels larger than the padded input are checked by the kernels
    # (csrc/common/shape_checks.cpp), for these functions and the layers alike.
    return as_float_array(x, "x", ndim=(3, 4), what=_WHAT)


def pool2d_geometry(kernel_size, stride, padding):
    """Checked (kernel_size, stride, padding) pairs; `stride=None` means the kernel size.

    `MaxPool2d`, `AvgPool2d` and `LPPool2d` call this at construction, the functions at
    every call."""
    kernel = as_pair(kernel_size, "kernel_size", minimum=1)
    stride = kernel if stride is None else as_pair(stride, "stride", minimum=1)
    pad = as_pair(padding, "padding", minimum=0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"padding {pad} must be at most half of kernel_size {kernel}")
    return kernel, stride, pad


def lp_norm_type(norm_type) -> float:
    """The exponent p of LP pooling: a finite number > 0 (``inf`` is max pooling of ``abs(x)``:
    use ``max_pool2d``)."""
    p = as_float_scalar(norm_type, "norm_type")
    if not math.isfinite(p) or p <= 0:
        raise ValueError(f"norm_type must be a finite number > 0, got {norm_type!r}")
    return p


def _batched(x: np.ndarray, fn):
    """Run `fn` on a 4-D view; a 3-D (C, H, W) input gets its batch axis removed again."""
    if x.ndim == 3:
        out = fn(x[None])
        if isinstance(out, tuple):
            return tuple(o[0] for o in out)
        return out[0]
    return fn(x)


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, *, return_indices=False):
    """Maximum of each window (padding counts as -inf), as ``torch.nn.functional.max_pool2d``.

    A NaN in a window makes its output NaN. With ``return_indices=True`` also returns the
    int32 flat index ``iy * W + ix`` of each maximum inside its (n, c) plane (PyTorch's
    ``return_indices``; ties go to the first element in row-major order).
    """
    x = _input(x)
    kernel, stride, pad = pool2d_geometry(kernel_size, stride, padding)
    ceil_mode = as_bool(ceil_mode, "ceil_mode")
    return_indices = as_bool(return_indices, "return_indices")
    return _batched(
        x, lambda b: _C.max_pool2d_forward(b, kernel, stride, pad, ceil_mode, return_indices)
    )


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean of each window, as ``torch.nn.functional.avg_pool2d``.

    The divisor is the window clipped to the padded input (``count_include_pad=True``) or to
    the input (``False``); cells of a ``ceil_mode`` overhang past the padding never count.
    """
    x = _input(x)
    kernel, stride, pad = pool2d_geometry(kernel_size, stride, padding)
    ceil_mode = as_bool(ceil_mode, "ceil_mode")
    count_include_pad = as_bool(count_include_pad, "count_include_pad")
    return _batched(
        x, lambda b: _C.avg_pool2d_forward(b, kernel, stride, pad, ceil_mode, count_include_pad)
    )


def lp_pool2d(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling ``(sum over the window of x**p) ** (1/p)`` with ``p = norm_type``.

    As ``torch.nn.functional.lp_pool2d`` (no padding; L2 pooling is ``norm_type=2``; ``x**p``
    of a negative ``x`` with a non-integer ``p`` is NaN, as in PyTorch). For a ``ceil_mode``
    window that overhangs the input this returns the plain p-norm of the cells inside, where
    PyTorch rescales by ``kh*kw / cells``. ``norm_type`` must be a finite number > 0
    (``inf`` is rejected: use ``max_pool2d`` for the max of ``abs(x)``).
    """
    p = lp_norm_type(norm_type)
    x = _input(x)
    kernel, stride, _ = pool2d_geometry(kernel_size, stride, 0)
    ceil_mode = as_bool(ceil_mode, "ceil_mode")
    return _batched(x, lambda b: _C.lp_pool2d_forward(b, p, kernel, stride, ceil_mode))


def global_avg_pool2d(x):
    """Mean over each (n, c) plane: (N, C, H, W) -> (N, C, 1, 1) (a CHW image -> (C, 1, 1))."""
    x = _input(x)
    return _batched(x, _C.global_avg_pool2d_forward)
