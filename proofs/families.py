"""Import every obligation family, so that the registry is complete."""

from . import cnn2, conv, conv_transpose, pool, preservation, resnet, unet2  # noqa: F401
