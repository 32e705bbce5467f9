"""Forward-only operations: NumPy in, NumPy out (torch.nn.functional names and semantics)."""

from .activation import elu, leaky_relu, relu, sigmoid, tanh
from .conv import conv2d
from .dropout import dropout
from .linear import linear
from .merge import add, concat, multiply
from .pool import avg_pool2d, global_avg_pool2d, lp_pool2d, max_pool2d
from .softmax import cross_entropy, log_softmax, softmax

__all__ = [
    "conv2d", "linear",
    "max_pool2d", "avg_pool2d", "lp_pool2d", "global_avg_pool2d",
    "relu", "leaky_relu", "sigmoid", "tanh", "elu",
    "dropout", "softmax", "log_softmax", "cross_entropy",
    "add", "concat", "multiply",
]
