"""NumPy model specs mirroring TorchLean's CNN2, UNet2 and ResNet.

Each model creates its parameters from a seed and has ``forward(x)``,
``vjp(x, grad_y) -> (grads, grad_x)`` (``grads`` a dict keyed by parameter name) and
``jvp(x, dx, dparams=None)``.
"""

from .cnn import CNN2, CNNChain, cnn_spec, cnn_with_relu_spec
from .resnet import (
    Block,
    Bottleneck,
    ResidualBlock,
    ResNet,
    resnet_depth,
    resnet_param_count,
)
from .unet import UNet2, check_unet2_obligations

__all__ = [
    "CNN2",
    "Block",
    "Bottleneck",
    "CNNChain",
    "ResNet",
    "ResidualBlock",
    "UNet2",
    "check_unet2_obligations",
    "cnn_spec",
    "cnn_with_relu_spec",
    "resnet_depth",
    "resnet_param_count",
]
