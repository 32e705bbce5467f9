"""ConvTranspose2d layer: `_C.conv_transpose2d_forward` / `_backward` (on the convolution kernels)."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_bool, as_float_array, as_int, as_pair
from ..functional.conv_transpose import conv_transpose2d_args, conv_transpose2d_out_size
from ..init import kaiming_uniform_, uniform_
from .base import Parameter, WeightBiasLayer, batch_of, check_input_rank

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(WeightBiasLayer):
    """Transposed 2-D convolution over NCHW input, as torch.nn.ConvTranspose2d; weight
    (in_channels, out_channels // groups, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 dilation=1, bias=True):
        super().__init__()
        self.in_channels = as_int(in_channels, "in_channels", 1)
        self.out_channels = as_int(out_channels, "out_channels", 1)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride, self.padding, self.output_padding, self.groups, self.dilation = conv_transpose2d_args(
            stride, padding, output_padding, groups, dilation)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"in_channels ({self.in_channels}) and out_channels ({self.out_channels}) "
                f"must be divisible by groups ({self.groups})"
            )
        kh, kw = self.kernel_size
        self.weight = Parameter(np.empty((self.in_channels, self.out_channels // self.groups, kh, kw), np.float32))
        self.bias = Parameter(np.empty((self.out_channels,), np.float32)) if as_bool(bias, "bias") else None
        self.reset_parameters()

    def reset_parameters(self, rng=None) -> None:
        # PyTorch's fan_in is weight.shape[1] * kh * kw, here (out_channels // groups) * kh * kw.
        fan_in = (self.out_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        kaiming_uniform_(self.weight.data, fan_in=fan_in, rng=rng)
        if self.bias is not None:
            bound = 1.0 / np.sqrt(fan_in)
            uniform_(self.bias.data, -bound, bound, rng)

    # ------------------------------------------------------------------ compute
    def _check(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvTranspose2d expects x with {self.in_channels} channels (in_channels), got shape {x.shape}"
            )
        return x

    def _geometry(self):
        return self.stride, self.padding, self.output_padding, self.dilation, self.groups

    def infer(self, x):
        x = self._check(x)
        b = None if self.bias is None else self.bias.data
        return _C.conv_transpose2d_forward(x, self.weight.data, b, *self._geometry())

    def forward(self, x):
        x = self._check(x)
        y = self.infer(x)
        self._cache = (y.shape, x)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x) = self._take_cache(grad_y)
        w, b = self.weight, self.bias
        need_dw = w.trainable
        need_db = b is not None and b.trainable
        if not (need_dx or need_dw or need_db):
            return None
        dx, dw, db = _C.conv_transpose2d_backward(x, w.data, g, *self._geometry(), bool(need_dx), bool(need_dw),
                                                  bool(need_db))
        self._accumulate_grads(dw, db)
        return dx

    # ------------------------------------------------------------------- state
    def get_config(self):
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "output_padding": list(self.output_padding),
            "groups": self.groups,
            "dilation": list(self.dilation),
            "bias": self.bias is not None,
        }

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        n, c, h, w = input_shape
        if c is not None and c != self.in_channels:
            raise ValueError(
                f"ConvTranspose2d expects {self.in_channels} input channels (in_channels), got shape "
                f"{tuple(input_shape)}"
            )
        oh, ow = (conv_transpose2d_out_size(size, k, s, p, op, d) for size, k, s, p, op, d in zip(
            (h, w), self.kernel_size, self.stride, self.padding, self.output_padding, self.dilation))
        return (n, self.out_channels, oh, ow)

    def flops(self, input_shape):
        n, oc, oh, ow = self.output_shape(input_shape)
        _, c, h, w = input_shape
        # every input value meets every weight of its group once (a multiply-add each)
        k = (self.out_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]
        batch = batch_of(input_shape)
        macs = batch * self.in_channels * h * w * k
        return 2 * macs + (batch * oc * oh * ow if self.bias is not None else 0)
