"""BatchNorm2d: per-channel normalisation over (N, H, W), exactly as torch.nn.BatchNorm2d."""

from __future__ import annotations

import numpy as np

from .. import _C
from .._validate import as_float_array, as_float_scalar, as_int
from .base import Layer, Parameter, batch_of, check_input_rank, prod

__all__ = ["BatchNorm2d"]


class BatchNorm2d(Layer):
    """Training: normalise with the batch mean and biased variance, then update

    running_mean = (1 - momentum) * running_mean + momentum * batch_mean
    running_var  = (1 - momentum) * running_var  + momentum * batch_var_unbiased

    Eval: normalise with the running statistics. `weight` starts at 1, `bias` at 0.
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        super().__init__()
        self.num_features = as_int(num_features, "num_features", 1)
        self.eps = as_float_scalar(eps, "eps")
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.momentum = as_float_scalar(momentum, "momentum")
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        c = self.num_features
        self.weight = Parameter(np.ones(c, np.float32))
        self.bias = Parameter(np.zeros(c, np.float32))
        self.running_mean = np.zeros(c, np.float32)
        self.running_var = np.ones(c, np.float32)

    def reset_running_stats(self) -> None:
        self.running_mean.fill(0.0)
        self.running_var.fill(1.0)

    def _check(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d expects x with {self.num_features} channels (num_features), got shape {x.shape}"
            )
        return x

    def infer(self, x):
        x = self._check(x)
        return _C.batch_norm2d_forward_eval(x, self.weight.data, self.bias.data, self.running_mean,
                                            self.running_var, self.eps)

    def forward(self, x):
        x = self._check(x)
        if not self.training:
            y = _C.batch_norm2d_forward_eval(x, self.weight.data, self.bias.data, self.running_mean,
                                             self.running_var, self.eps)
            invstd = (1.0 / np.sqrt(self.running_var.astype(np.float64) + self.eps)).astype(np.float32)
            self._cache = (y.shape, x, self.running_mean.copy(), invstd, False)
            return y
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count <= 1:
            raise ValueError(
                f"BatchNorm2d needs more than 1 value per channel when training, got input shape {x.shape}"
            )
        y, mean, invstd, var_unbiased = _C.batch_norm2d_forward_train(x, self.weight.data, self.bias.data, self.eps)
        m = self.momentum
        # same arithmetic as torch's CPU kernel: computed in double, stored as float
        self.running_mean[...] = m * mean.astype(np.float64) + (1.0 - m) * self.running_mean
        self.running_var[...] = m * var_unbiased.astype(np.float64) + (1.0 - m) * self.running_var
        self._cache = (y.shape, x, mean, invstd, True)
        return y

    def _backward(self, grad_y, need_dx):
        g, (_, x, mean, invstd, batch_stats) = self._take_cache(grad_y)
        w, b = self.weight, self.bias
        if batch_stats:
            dx, dw, db = _C.batch_norm2d_backward(x, g, w.data, mean, invstd)
        else:
            # eval mode: an affine map per channel with the running statistics
            shape = (1, -1, 1, 1)
            db = g.sum(axis=(0, 2, 3), dtype=np.float64)
            xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
            dw = (g * xhat).sum(axis=(0, 2, 3), dtype=np.float64)
            dx = g * (w.data * invstd).reshape(shape) if need_dx else None
        if w.trainable:
            w.grad += dw.astype(np.float32, copy=False)
        if b.trainable:
            b.grad += db.astype(np.float32, copy=False)
        return dx if need_dx else None

    def params(self):
        return [self.weight, self.bias]

    def named_tensors(self):
        return {
            "weight": self.weight.data,
            "bias": self.bias.data,
            "running_mean": self.running_mean,
            "running_var": self.running_var,
        }

    def get_config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        if input_shape[1] is not None and input_shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d expects {self.num_features} channels (num_features), got {tuple(input_shape)}"
            )
        return tuple(input_shape)

    def flops(self, input_shape):
        self.output_shape(input_shape)
        return batch_of(input_shape) * prod(input_shape[1:]) * 2
