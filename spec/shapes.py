"""The proved shape formulas: one source of truth for every size in nnbridge.

Layer formulas (:func:`conv_out`, :func:`pool_out`, :func:`conv_transpose_out`) and the
TorchLean model chains (UNet2, CNN2, ResNet). Each formula is written once over the small
arithmetic of :mod:`nnbridge.spec.arith` and reads as ``int``, Z3 term or SymPy expression,
in TorchLean's ``Nat`` semantics (``"lean"``) or PyTorch's (``"torch"``).

>>> conv_out(224, 7, 2, 3)
112
>>> pool_out(112, 3, 2), pool_out(112, 3, 2, 1, semantics="torch")
(55, 56)
>>> conv_transpose_out(1, 3, 1, 1), conv_transpose_out(1, 3, 1, 1, semantics="torch")
(3, 1)
"""

from .chains import (
    UNET2_OBLIGATIONS,
    CNN2Config,
    ResNetConfig,
    UNet2Config,
    cnn2_feat_shape,
    cnn2_feat_size,
    cnn2_stages,
    out_h1,
    out_h2,
    out_w1,
    out_w2,
    pool_h1,
    pool_h2,
    pool_w1,
    pool_w2,
    resnet_spatial,
    torchvision_resnet_spatial,
    unet2_obligations,
    unet_down,
    unet_up,
)
from .errors import ShapeError
from .formulas import SEMANTICS, conv_out, conv_transpose_out, pool_out

__all__ = [
    "SEMANTICS",
    "UNET2_OBLIGATIONS",
    "CNN2Config",
    "ResNetConfig",
    "ShapeError",
    "UNet2Config",
    "cnn2_feat_shape",
    "cnn2_feat_size",
    "cnn2_stages",
    "conv_out",
    "conv_transpose_out",
    "out_h1",
    "out_h2",
    "out_w1",
    "out_w2",
    "pool_h1",
    "pool_h2",
    "pool_out",
    "pool_w1",
    "pool_w2",
    "resnet_spatial",
    "torchvision_resnet_spatial",
    "unet2_obligations",
    "unet_down",
    "unet_up",
]
