"""Upsample layer: nearest or bilinear interpolation (`_C.upsample2d_forward` / `_backward`)."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array
from ..functional.upsample import interpolate_args, interpolate_out_size
from .base import Layer, batch_of, check_input_rank

__all__ = ["Upsample"]


class Upsample(Layer):
    """Resizes NCHW input to `size` or by `scale_factor`, as torch.nn.Upsample (modes 'nearest' and
    'bilinear'; see pyconvnet.functional.interpolate for the sampling rules)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=False):
        super().__init__()
        self.size, self.scale_factor, self.mode, self.align_corners = interpolate_args(
            size, scale_factor, mode, align_corners)

    def _check(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        if x.shape[2] == 0 or x.shape[3] == 0:
            raise ValueError(f"x must have non-empty height and width, got shape {x.shape}")
        return x

    def infer(self, x):
        x = self._check(x)
        out = interpolate_out_size(x.shape[2:], self.size, self.scale_factor)
        return _C.upsample2d_forward(x, out, self.scale_factor, self.mode, self.align_corners)

    def forward(self, x):
        x = self._check(x)
        y = self.infer(x)
        self._cache = (y.shape, x.shape[2:])
        return y

    def _backward(self, grad_y, need_dx):
        g, (out_shape, in_hw) = self._take_cache(grad_y)
        if not need_dx:
            return None
        return _C.upsample2d_backward(g, in_hw, out_shape[2:], self.scale_factor, self.mode, self.align_corners)

    def get_config(self):
        return {
            "size": None if self.size is None else list(self.size),
            "scale_factor": None if self.scale_factor is None else list(self.scale_factor),
            "mode": self.mode,
            "align_corners": self.align_corners,
        }

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        n, c, h, w = input_shape
        return (n, c) + interpolate_out_size((h, w), self.size, self.scale_factor)

    def flops(self, input_shape):
        """Nearest copies (0); bilinear weighs 4 pixels per output value (4 multiply-adds)."""
        n, c, oh, ow = self.output_shape(input_shape)
        if self.mode == "nearest":
            return 0
        return 8 * batch_of(input_shape) * c * oh * ow
