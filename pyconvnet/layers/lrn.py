"""LocalResponseNorm: normalisation across neighbouring channels (AlexNet, ZFNet, Inception v1)."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array
from ..functional.lrn import lrn_arguments
from .base import Layer, batch_of, check_input_rank, prod

__all__ = ["LocalResponseNorm"]


class LocalResponseNorm(Layer):
    """``torch.nn.LocalResponseNorm(size, alpha, beta, k)``: alpha is divided by ``size``."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = lrn_arguments(size, alpha, beta, k)

    def _args(self):
        return self.size, self.alpha, self.beta, self.k

    def infer(self, x):
        return _C.lrn_forward(as_float_array(x, "x", 4, "(N, C, H, W)"), *self._args())

    def forward(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        y, scale = _C.lrn_forward(x, *self._args(), keep_scale=True)
        self._cache = (y.shape, x, y, scale)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x, y, scale) = self._take_cache(grad_y)
        return _C.lrn_backward(x, y, scale, g, *self._args()) if need_dx else None

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        return tuple(input_shape)

    def flops(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        # a multiply-add per window channel, then the power and the product
        return batch_of(input_shape) * prod(input_shape[1:]) * (2 * self.size + 4)

    def get_config(self):
        return {"size": self.size, "alpha": self.alpha, "beta": self.beta, "k": self.k}
