"""Import every obligation family, so that the registry is complete."""

from . import (  # noqa: F401
    arith,
    cnn2,
    conv,
    conv_transpose,
    induction,
    kernels,
    pool,
    preservation,
    resnet,
    torchlean_ir,
    torchlean_versions,
    unet2,
)
