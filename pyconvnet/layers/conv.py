"""Conv2d layer over `_C.conv2d_forward` / `_C.conv2d_backward` (the algorithm each shape runs:
docs/ARCHITECTURE.md)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_bool, as_float_array, as_int, check_weight_size
from ..functional.conv import check_groups, check_in_channels, conv2d_geometry
from ..init import kaiming_uniform_, uniform_
from .base import Parameter, WeightBiasLayer, batch_of, check_input_rank, window_out_size

__all__ = ["Conv2d"]


class Conv2d(WeightBiasLayer):
    """2-D convolution over NCHW input; weight (out_channels, in_channels // groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True):
        super().__init__()
        self.in_channels = as_int(in_channels, "in_channels", 1)
        self.out_channels = as_int(out_channels, "out_channels", 1)
        self.kernel_size, self.stride, self.dilation, self.padding4, padding = conv2d_geometry(
            kernel_size, stride, padding, dilation)
        self._padding_cfg = padding if isinstance(padding, str) else list(padding)
        self.groups = check_groups(self.in_channels, self.out_channels, groups)
        bias = as_bool(bias, "bias")
        kh, kw = self.kernel_size
        shape = (self.out_channels, self.in_channels // self.groups, kh, kw)
        check_weight_size(shape, "Conv2d")
        self.weight = Parameter(np.empty(shape, np.float32))
        self.bias = Parameter(np.empty((self.out_channels,), np.float32)) if bias else None
        self.reset_parameters()

    @property
    def padding(self):
        return self._padding_cfg if isinstance(self._padding_cfg, str) else tuple(self._padding_cfg)

    def reset_parameters(self, rng=None) -> None:
        fan_in = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        kaiming_uniform_(self.weight.data, fan_in=fan_in, rng=rng)
        if self.bias is not None:
            bound = 1.0 / np.sqrt(fan_in)
            uniform_(self.bias.data, -bound, bound, rng)

    # ------------------------------------------------------------------ compute
    def _check(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        check_in_channels(x, self.in_channels)
        return x

    def _run(self, x, relu=False):
        b = None if self.bias is None else self.bias.data
        return _C.conv2d_forward(x, self.weight.data, b, self.stride, self.padding4, self.dilation, self.groups,
                                 relu)

    def infer(self, x, *, relu=False):
        return self._run(self._check(x), relu)

    def forward(self, x, *, relu=False):
        """`relu=True` (used by Sequential for Conv2d followed by ReLU) applies max(0, y) in the
        kernel's epilogue: the same values as a separate ReLU, without another pass."""
        x = self._check(x)
        y = self._run(x, relu)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        w = self.weight
        b = self.bias
        need_dw = w.trainable
        need_db = b is not None and b.trainable
        if not (need_dx or need_dw or need_db):
            return None
        dx, dw, db = _C.conv2d_backward(x, w.data, g, self.stride, self.padding4, self.dilation, self.groups,
                                        bool(need_dx), bool(need_dw), bool(need_db))
        self._accumulate_grads(dw, db)
        return dx

    # ------------------------------------------------------------------- state
    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": self._padding_cfg,
            "dilation": list(self.dilation),
            "groups": self.groups,
            "bias": self.bias is not None,
        }

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        n, c, h, w = input_shape
        if c is not None and c != self.in_channels:
            raise ValueError(f"Conv2d expects {self.in_channels} input channels (in_channels), got shape {tuple(input_shape)}")
        t, l, b, r = self.padding4
        oh = window_out_size(h, self.kernel_size[0], self.stride[0], t + b, self.dilation[0], False, t)
        ow = window_out_size(w, self.kernel_size[1], self.stride[1], l + r, self.dilation[1], False, l)
        return (n, self.out_channels, oh, ow)

    def flops(self, input_shape):
        n, oc, oh, ow = self.output_shape(input_shape)
        k = (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        outputs = batch_of(input_shape) * oc * oh * ow
        return 2 * k * outputs + (outputs if self.bias is not None else 0)
