"""NumPy model specs mirroring TorchLean's MLP, CNN2, UNet2 and ResNet.

Each model writes its forward once (``graph``, over the small
:class:`~nnbridge.spec.models.executor.Executor` interface), which is read twice: on arrays
(``forward``) and on a tape (:func:`nnbridge.spec.models.tape.record`). Each also has a
hand-written ``vjp(x, grad_y) -> (grads, grad_x)`` and ``jvp(x, dx, dparams=None)``;
parameters and gradients are :class:`Params` (immutable, named like PyTorch's
``named_parameters``). Configs are checked by :func:`well_formed` (TorchLean's ``WF``) when
a model is built.
"""

from ._base import Layer, Params
from .cnn import CNN2, CNNChain, cnn_spec, cnn_with_relu_spec
from .configs import well_formed
from .mlp import MLP
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
    "MLP",
    "Layer",
    "Params",
    "ResNet",
    "ResidualBlock",
    "UNet2",
    "check_unet2_obligations",
    "cnn_spec",
    "cnn_with_relu_spec",
    "resnet_depth",
    "resnet_param_count",
    "well_formed",
]
