"""Layers: configuration + Parameters + forward/backward over the `_C` kernels.

`LAYER_REGISTRY` maps class names to classes; it is the only set of classes `pyconvnet.load`
rebuilds (with `cls(**layer.get_config())`).
"""

from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer, Parameter
from .conv import Conv2d
from .conv_transpose import ConvTranspose2d
from .dropout import Dropout
from .linear import Linear
from .merge import Add, Concat, Multiply
from .norm import BatchNorm2d
from .pool import AvgPool2d, GlobalAvgPool2d, LPPool2d, MaxPool2d
from .shape import Flatten
from .affine import ChannelAffine
from .global_max_pool import GlobalMaxPool2d
from .hard_activation import Hardswish, Hardtanh, ReLU6
from .identity import Identity
from .lrn import LocalResponseNorm
from .pad import ConstantPad2d
from .reshape import Permute, Reshape
from .shuffle import ChannelShuffle
from .upsample import Upsample

LAYER_REGISTRY = {
    cls.__name__: cls
    for cls in (
        Conv2d, MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d,
        ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softmax,
        Dropout, Flatten, Linear, BatchNorm2d,
        Add, Concat, Multiply,
        LocalResponseNorm, ReLU6, Hardtanh, Hardswish, ChannelShuffle, GlobalMaxPool2d, Identity,
        ChannelAffine, ConstantPad2d, Reshape, Permute,
        ConvTranspose2d, Upsample,
    )
}

__all__ = ["Layer", "Parameter", "LAYER_REGISTRY"] + list(LAYER_REGISTRY)
