"""ChannelShuffle (ShuffleNet): interleave the channels of `groups` groups."""

from __future__ import annotations

from .. import _C
from .._validate import as_float_array, as_int
from ..functional.shuffle import check_groups
from .base import Layer, check_input_rank

__all__ = ["ChannelShuffle"]


class ChannelShuffle(Layer):
    """``torch.nn.ChannelShuffle(groups)``; backward is the inverse shuffle (groups = C // groups)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = as_int(groups, "groups", 1)

    def _check(self, x):
        x = as_float_array(x, "x", 4, "(N, C, H, W)")
        check_groups(x.shape[1], self.groups)
        return x

    def infer(self, x):
        return _C.channel_shuffle(self._check(x), self.groups)

    def forward(self, x):
        y = self.infer(x)
        self._cache = (y.shape,)
        return y

    def _backward(self, grad_y, need_dx):
        g, _ = self._take_cache(grad_y)
        return _C.channel_shuffle(g, g.shape[1] // self.groups) if need_dx else None

    def output_shape(self, input_shape):
        check_input_rank(self, input_shape, 4, "(N, C, H, W)")
        if input_shape[1] is not None:
            check_groups(input_shape[1], self.groups)
        return tuple(input_shape)

    def get_config(self):
        return {"groups": self.groups}
