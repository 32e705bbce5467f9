"""2-D convolution (torch.nn.functional.conv2d semantics)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_int, as_pair

__all__ = ["conv2d", "conv2d_padding"]


def conv2d_padding(padding, kernel_size, stride, dilation) -> tuple[int, int, int, int]:
    """Normalise `padding` (int, (h, w), 'same' or 'valid') to (top, left, bottom, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
            # Total padding d*(k-1); the extra pixel of an odd total goes bottom/right (PyTorch).
            th, tw = dilation[0] * (kernel_size[0] - 1), dilation[1] * (kernel_size[1] - 1)
            return (th // 2, tw // 2, th - th // 2, tw - tw // 2)
        raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = as_pair(padding, "padding", minimum=0)
    return (ph, pw, ph, pw)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, relu=False):
    """Convolution of an NCHW batch with OIHW weights, as torch.nn.functional.conv2d.

    `relu=True` applies ReLU in the same pass (a fused epilogue; not in PyTorch's API).
    """
    x = as_float_array(x, "x", ndim=(3, 4), what="(N, C, H, W) or (C, H, W)")
    weight = as_float_array(weight, "weight", ndim=4, what="(out_channels, in_channels // groups, kH, kW)")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1)
    stride = as_pair(stride, "stride", minimum=1)
    dilation = as_pair(dilation, "dilation", minimum=1)
    groups = as_int(groups, "groups", minimum=1)
    pad4 = conv2d_padding(padding, weight.shape[2:], stride, dilation)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    y = _C.conv2d_forward(x, weight, bias, stride, pad4, dilation, groups, bool(relu))
    return y[0] if unbatched else y
