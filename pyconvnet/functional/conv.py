"""2-D convolution (torch.nn.functional.conv2d semantics).

The argument rules of a convolution live here, once: `Conv2d` calls `conv2d_geometry` and
`check_groups` at construction, `conv2d` at every call, so both accept the same arguments and
raise the same errors.
"""

from __future__ import annotations

from .. import _C
from .._validate import INT64_MAX, as_bool, as_float_array, as_int, as_pair

__all__ = ["conv2d", "conv2d_geometry", "check_groups", "check_in_channels"]

_PADDING_MODES = ("same", "valid")


def conv2d_padding(padding, kernel_size, stride, dilation) -> tuple[int, int, int, int]:
    """Normalise `padding` (int, (h, w), 'same' or 'valid') to (top, left, bottom, right).

    The strings are lower-case, as PyTorch's (which rejects 'SAME' too).
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride={stride}")
            # Total padding d*(k-1); the extra pixel of an odd total goes bottom/right (PyTorch).
            th, tw = dilation[0] * (kernel_size[0] - 1), dilation[1] * (kernel_size[1] - 1)
            pad4 = (th // 2, tw // 2, th - th // 2, tw - tw // 2)
            if max(pad4) > INT64_MAX:
                raise ValueError(
                    f"padding='same' with kernel_size={tuple(kernel_size)} and dilation={dilation} "
                    f"needs padding {pad4}, too large (size arithmetic overflows)"
                )
            return pad4
        raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = as_pair(padding, "padding", minimum=0)
    return (ph, pw, ph, pw)


def conv2d_geometry(kernel_size, stride, padding, dilation):
    """Checked (kernel_size, stride, dilation, padding4) pairs and the padding as given
    (a mode string or an (h, w) pair), for `conv2d` and `Conv2d`."""
    kernel = as_pair(kernel_size, "kernel_size", minimum=1)
    stride = as_pair(stride, "stride", minimum=1)
    dilation = as_pair(dilation, "dilation", minimum=1)
    pad4 = conv2d_padding(padding, kernel, stride, dilation)
    padding = padding if isinstance(padding, str) else (pad4[0], pad4[1])
    return kernel, stride, dilation, pad4, padding


def check_groups(in_channels: int, out_channels: int, groups) -> int:
    groups = as_int(groups, "groups", minimum=1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"in_channels ({in_channels}) and out_channels ({out_channels}) "
            f"must be divisible by groups ({groups})"
        )
    return groups


def check_in_channels(x, in_channels: int) -> None:
    """x (N, C, H, W) or (C, H, W) must have C == in_channels."""
    if x.shape[-3] != in_channels:
        raise ValueError(f"x must have {in_channels} channels (in_channels), got shape {x.shape}")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, relu=False):
    """Convolution of an NCHW batch with OIHW weights, as torch.nn.functional.conv2d.

    `relu=True` applies ReLU in the same pass (a fused epilogue; not in PyTorch's API).
    """
    x = as_float_array(x, "x", ndim=(3, 4), what="(N, C, H, W) or (C, H, W)")
    weight = as_float_array(weight, "weight", ndim=4, what="(out_channels, in_channels // groups, kH, kW)")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1)
    if 0 in weight.shape:
        raise ValueError(f"weight must have non-zero dimensions, got shape {weight.shape}")
    _, stride, dilation, pad4, _ = conv2d_geometry(weight.shape[2:], stride, padding, dilation)
    groups = check_groups(x.shape[-3], weight.shape[0], groups)
    check_in_channels(x, weight.shape[1] * groups)
    relu = as_bool(relu, "relu")
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    y = _C.conv2d_forward(x, weight, bias, stride, pad4, dilation, groups, relu)
    return y[0] if unbatched else y
