"""Forward-only operations: NumPy in, NumPy out (torch.nn.functional names and semantics)."""

from .activation import elu, leaky_relu, relu, sigmoid, tanh
from .conv import conv2d
from .conv_transpose import conv_transpose2d
from .dropout import dropout
from .linear import linear
from .merge import add, concat, multiply
from .pool import avg_pool2d, global_avg_pool2d, lp_pool2d, max_pool2d
from .softmax import cross_entropy, log_softmax, softmax
from .global_max_pool import global_max_pool2d
from .hard_activation import hardswish, hardtanh, relu6
from .lrn import local_response_norm
from .shuffle import channel_shuffle
from .upsample import interpolate

__all__ = [
    "conv2d", "conv_transpose2d", "linear", "interpolate",
    "max_pool2d", "avg_pool2d", "lp_pool2d", "global_avg_pool2d",
    "relu", "leaky_relu", "sigmoid", "tanh", "elu",
    "dropout", "softmax", "log_softmax", "cross_entropy",
    "add", "concat", "multiply",
    "global_max_pool2d", "hardtanh", "relu6", "hardswish", "local_response_norm", "channel_shuffle",
]
