"""2-D transposed convolution (torch.nn.functional.conv_transpose2d semantics).

The output size along each axis is ``(H - 1) * stride - 2 * padding + dilation * (k - 1) +
output_padding + 1``; ``output_padding`` must be smaller than ``stride`` or ``dilation`` (PyTorch's
rule) and only adds rows and columns at the bottom and right. The weight has the layout
``(in_channels, out_channels // groups, kH, kW)``.
"""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array, as_int, as_pair

__all__ = ["conv_transpose2d", "conv_transpose2d_args", "conv_transpose2d_out_size"]


def conv_transpose2d_args(stride, padding, output_padding, groups, dilation):
    """The geometry arguments normalised and checked once, for the function and the layer:
    ((sh, sw), (ph, pw), (oph, opw), groups, (dh, dw))."""
    stride = as_pair(stride, "stride", minimum=1)
    padding = as_pair(padding, "padding", minimum=0)
    output_padding = as_pair(output_padding, "output_padding", minimum=0)
    groups = as_int(groups, "groups", minimum=1)
    dilation = as_pair(dilation, "dilation", minimum=1)
    for axis, (op, s, d) in enumerate(zip(output_padding, stride, dilation)):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than stride or dilation along each axis, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation} (axis {axis})"
            )
    return stride, padding, output_padding, groups, dilation


def conv_transpose2d_out_size(size, kernel, stride, padding, output_padding, dilation):
    """Output length along one axis (None stays None); ValueError when it is not positive."""
    if size is None:
        return None
    out = (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(
            f"padding={padding} is too large for input size {size}: the transposed convolution's "
            f"output size would be {out}"
        )
    return out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed convolution of an NCHW batch (or one CHW image), as
    torch.nn.functional.conv_transpose2d; weight (in_channels, out_channels // groups, kH, kW)."""
    x = as_float_array(x, "x", ndim=(3, 4), what="(N, C, H, W) or (C, H, W)")
    weight = as_float_array(weight, "weight", ndim=4, what="(in_channels, out_channels // groups, kH, kW)")
    if bias is not None:
        bias = as_float_array(bias, "bias", ndim=1)
    stride, padding, output_padding, groups, dilation = conv_transpose2d_args(
        stride, padding, output_padding, groups, dilation)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    y = _C.conv_transpose2d_forward(x, weight, bias, stride, padding, output_padding, dilation, groups)
    return y[0] if unbatched else y
