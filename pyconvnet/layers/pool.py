"""Pooling layers over NCHW input (kernels in `_C`, PyTorch semantics)."""

from __future__ import annotations

from .. import _C
from .._validate import as_bool, as_float_array
from ..functional.pool import lp_norm_type, pool2d_geometry
from .base import Layer, batch_of, check_input_rank, window_out_size

__all__ = ["MaxPool2d", "AvgPool2d", "LPPool2d", "GlobalAvgPool2d"]


def _as_image(x):
    return as_float_array(x, "x", 4, "(N, C, H, W)")


class _Pool2d(Layer):
    """Shared configuration: kernel_size, stride (defaults to kernel_size), padding, ceil_mode."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size, self.stride, self.padding = pool2d_geometry(kernel_size, stride, padding)
        self.ceil_mode = as_bool(ceil_mode, "ceil_mode")

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        n, c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        oh = window_out_size(h, kh, sh, 2 * ph, 1, self.ceil_mode, ph)
        ow = window_out_size(w, kw, sw, 2 * pw, 1, self.ceil_mode, pw)
        return (n, c, oh, ow)

    def flops(self, input_shape):
        n, c, oh, ow = self.output_shape(input_shape)
        return batch_of(input_shape) * c * oh * ow * self.kernel_size[0] * self.kernel_size[1]

    def get_config(self):
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "ceil_mode": self.ceil_mode,
        }


class MaxPool2d(_Pool2d):
    def infer(self, x):
        x = _as_image(x)
        return _C.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, False)

    def forward(self, x):
        x = _as_image(x)
        y, indices = _C.max_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, True)
        self._cache = (y.shape, indices, x.shape, y)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, indices, in_shape, _) = self._take_cache(grad_y)
        if not need_dx:
            return None
        return _C.max_pool2d_backward(g, indices, in_shape)

    def _backward_through_relu(self, grad_y):
        """Gradient through a ReLU that produced this layer's input (Sequential's fusion).

        Every input position that receives gradient is the argmax of its windows, so its ReLU
        output equals the pooled value there: masking the small pooled gradient by y > 0
        before the scatter gives the same bits as ReLU.backward after it, without a pass over
        the large input-sized gradient.
        """
        g, (_, indices, in_shape, y) = self._take_cache(grad_y)
        return _C.max_pool2d_backward(_C.relu_backward(g, y), indices, in_shape)


class AvgPool2d(_Pool2d):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = as_bool(count_include_pad, "count_include_pad")

    def infer(self, x):
        x = _as_image(x)
        return _C.avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                     self.count_include_pad)

    def forward(self, x):
        x = _as_image(x)
        y = self.infer(x)
        self._cache = (y.shape, x.shape)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, in_shape) = self._take_cache(grad_y)
        if not need_dx:
            return None
        return _C.avg_pool2d_backward(g, in_shape, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                      self.count_include_pad)

    def get_config(self):
        cfg = super().get_config()
        cfg["count_include_pad"] = self.count_include_pad
        return cfg


class LPPool2d(_Pool2d):
    """Power-average pooling: (sum over the window of x^p)^(1/p), as torch.nn.LPPool2d."""

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        self.norm_type = lp_norm_type(norm_type)
        super().__init__(kernel_size, stride, 0, ceil_mode)

    def infer(self, x):
        x = _as_image(x)
        return _C.lp_pool2d_forward(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def forward(self, x):
        x = _as_image(x)
        y = _C.lp_pool2d_forward(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)
        self._cache = (y.shape, x, y)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x, y) = self._take_cache(grad_y)
        if not need_dx:
            return None
        return _C.lp_pool2d_backward(x, y, g, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def flops(self, input_shape):
        return 2 * super().flops(input_shape)

    def get_config(self):
        return {
            "norm_type": self.norm_type,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "ceil_mode": self.ceil_mode,
        }


class GlobalAvgPool2d(Layer):
    """Mean over H and W: (N, C, H, W) -> (N, C, 1, 1)."""

    def infer(self, x):
        return _C.global_avg_pool2d_forward(_as_image(x))

    def forward(self, x):
        x = _as_image(x)
        y = _C.global_avg_pool2d_forward(x)
        self._cache = (y.shape, x.shape)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, in_shape) = self._take_cache(grad_y)
        if not need_dx:
            return None
        return _C.global_avg_pool2d_backward(g, in_shape)

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        return (input_shape[0], input_shape[1], 1, 1)

    def flops(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        _, c, h, w = input_shape
        return batch_of(input_shape) * c * h * w
