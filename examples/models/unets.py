"""Real UNets as zero-argument factories, with tiny channel counts, to check sizes against.

Each factory returns a ``torch.nn.Module`` taking ``(batch, channels, *spatial)``. Channel counts
are kept tiny so that running a network on the CPU at sizes up to 128 per axis is fast; the
valid input sizes depend on the layers, not on the channel counts. ``MODELS`` maps each name to
``{"factory", "spatial_dims", "output", "note"}``, where ``output`` is ``"same"`` when a valid
input gives an output of the same spatial size and ``"any"`` when the network shrinks it.

Load one by path, as ``examples/models/unets.py:plain_unet``. Nothing is downloaded. The
MONAI models need ``monai``; ``unetr`` and ``swin_unetr`` also need ``einops`` (MONAI's
optional dependency: UNETR fails to build without it, SwinUNETR fails in its forward).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MODELS",
    "attention_unet",
    "basic_unet",
    "dyn_unet",
    "monai_unet",
    "monai_unet_3d",
    "plain_unet",
    "swin_unetr",
    "unetr",
    "valid_unet",
]


# -- a hand-written padded UNet, as found in many repositories (milesial's layout) -------------


class DoubleConv(nn.Module):
    """(conv 3x3, padding 1 => BatchNorm => ReLU) * 2: keeps the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None):
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    """MaxPool2d(2) then DoubleConv: floor(n / 2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Up-sample by 2, pad to the skip's size, concatenate, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True):
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        # input is CHW
        diffY = x2.size()[2] - x1.size()[2]  # the idiom as it is usually written
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class PlainUNet(nn.Module):
    """A padded 2-D UNet of depth 4; padding the up-sampled map hides odd sizes."""

    def __init__(self, n_channels: int = 1, n_classes: int = 2, base: int = 4,
                 bilinear: bool = True):
        super().__init__()
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, base)
        self.down1 = Down(base, base * 2)
        self.down2 = Down(base * 2, base * 4)
        self.down3 = Down(base * 4, base * 8)
        self.down4 = Down(base * 8, base * 16 // factor)
        self.up1 = Up(base * 16, base * 8 // factor, bilinear)
        self.up2 = Up(base * 8, base * 4 // factor, bilinear)
        self.up3 = Up(base * 4, base * 2 // factor, bilinear)
        self.up4 = Up(base * 2, base, bilinear)
        self.outc = nn.Conv2d(base, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# -- Ronneberger's valid-convolution UNet ---------------------------------------------------


def _valid_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two unpadded 3x3 convolutions with ReLU: n - 4."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3),
        nn.ReLU(inplace=True),
    )


class ValidUNet(nn.Module):
    """The original UNet: unpadded convolutions, the skips centre-cropped to the up path."""

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base: int = 2, depth: int = 4):
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        previous = in_channels
        for width in widths[:-1]:
            self.encoders.append(_valid_block(previous, width))
            previous = width
        self.pool = nn.MaxPool2d(2, 2)
        self.bottom = _valid_block(widths[-2], widths[-1])
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(width * 2, width, kernel_size=2, stride=2))
            self.decoders.append(_valid_block(width * 2, width))
        self.head = nn.Conv2d(widths[0], n_classes, kernel_size=1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, decoder, e in zip(self.ups, self.decoders, reversed(skips), strict=True):
            u = up(x)
            dh = (e.shape[2] - u.shape[2]) // 2
            dw = (e.shape[3] - u.shape[3]) // 2
            e = e[:, :, dh:dh + u.shape[2], dw:dw + u.shape[3]]
            x = decoder(torch.cat([e, u], dim=1))
        return self.head(x)


# -- the factories ------------------------------------------------------------------------------


def plain_unet(*, bilinear: bool = True) -> nn.Module:
    """milesial-style padded 2-D UNet: depth 4, 4 base channels, BatchNorm."""
    return PlainUNet(n_channels=1, n_classes=2, base=4, bilinear=bilinear)


def valid_unet(*, base: int = 2, depth: int = 4) -> nn.Module:
    """Ronneberger's valid-convolution 2-D UNet: depth 4, 2 base channels.

    At depth 4 the least input that runs is 188 (output 4); 572 gives 388, as in the paper.
    """
    return ValidUNet(in_channels=1, n_classes=2, base=base, depth=depth)


def monai_unet() -> nn.Module:
    """MONAI's residual UNet, 2-D, two stride-2 levels."""
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8, 16),
                strides=(2, 2), num_res_units=2)


def monai_unet_3d() -> nn.Module:
    """MONAI's residual UNet, 3-D, anisotropic strides (the last axis is halved once)."""
    from monai.networks.nets import UNet

    return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(2, 4, 8),
                strides=((2, 2, 1), (2, 2, 2)), num_res_units=1, norm="instance")


def basic_unet() -> nn.Module:
    """MONAI's BasicUNet, 2-D: four max-pool levels, transposed-convolution up-sampling."""
    from monai.networks.nets import BasicUNet

    return BasicUNet(spatial_dims=2, in_channels=1, out_channels=2, features=(4, 4, 8, 16, 32, 4))


def dyn_unet() -> nn.Module:
    """MONAI's DynUNet (nnU-Net layout), 2-D, three stride-2 levels."""
    from monai.networks.nets import DynUNet

    return DynUNet(spatial_dims=2, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3],
                   strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2], filters=[4, 8, 16, 32])


def attention_unet() -> nn.Module:
    """MONAI's AttentionUnet, 2-D, two stride-2 levels."""
    from monai.networks.nets import AttentionUnet

    return AttentionUnet(spatial_dims=2, in_channels=1, out_channels=2, channels=(4, 8, 16),
                         strides=(2, 2))


def unetr(*, img_size: int = 32) -> nn.Module:
    """MONAI's UNETR, 2-D: 16x16 patches (fixed by MONAI), 12 tiny transformer layers.

    The positional embedding is sized for ``img_size``, so the network runs at that size only.
    Needs ``einops``.
    """
    from monai.networks.nets import UNETR

    return UNETR(in_channels=1, out_channels=2, img_size=(img_size, img_size), feature_size=4,
                 hidden_size=32, mlp_dim=64, num_heads=4, spatial_dims=2)


def swin_unetr() -> nn.Module:
    """MONAI's SwinUNETR, 2-D: feature size 12 (MONAI's least), one block and head per stage.

    MONAI 1.6 has no ``img_size`` argument any more. Needs ``einops`` in the forward.
    """
    from monai.networks.nets import SwinUNETR

    return SwinUNETR(in_channels=1, out_channels=2, feature_size=12, depths=(1, 1, 1, 1),
                     num_heads=(1, 1, 1, 1), spatial_dims=2)


MODELS: dict[str, dict] = {
    "plain_unet": {
        "factory": plain_unet, "spatial_dims": 2, "output": "same",
        "note": "F.pad of the up-sampled map to the skip hides odd sizes: every n >= 16 "
                "(the fourth pooling needs a 2-pixel map); in train mode with batch 1, n >= 32",
    },
    "valid_unet": {
        "factory": valid_unet, "spatial_dims": 2, "output": "any",
        "note": "unpadded convolutions shrink the map and the skip is centre-cropped: it runs "
                "for every n >= 188 (output 4; 572 gives 388), none in 1..128",
    },
    "monai_unet": {
        "factory": monai_unet, "spatial_dims": 2, "output": "same",
        "note": "strided convolutions down, transposed convolutions up: multiples of 4 from 8 "
                "(at 4 the instance norm sees a 1x1 map)",
    },
    "monai_unet_3d": {
        "factory": monai_unet_3d, "spatial_dims": 3, "output": "same",
        "note": "anisotropic strides (2,2,1), (2,2,2): multiples of 4 on the first two axes, "
                "even sizes on the last (the instance norm needs 2 elements in all)",
    },
    "basic_unet": {
        "factory": basic_unet, "spatial_dims": 2, "output": "same",
        "note": "max pools down; the up path pads with replicate to the skip's size: every "
                "n >= 32 (below, the instance norm sees a 1x1 map)",
    },
    "dyn_unet": {
        "factory": dyn_unet, "spatial_dims": 2, "output": "same",
        "note": "nnU-Net layout, strided convolutions, transposed convolutions up: multiples "
                "of 8 from 16 (at 8 the instance norm sees a 1x1 map)",
    },
    "attention_unet": {
        "factory": attention_unet, "spatial_dims": 2, "output": "same",
        "note": "attention gates on the skips, batch norm: multiples of 4 from 4",
    },
    "unetr": {
        "factory": unetr, "spatial_dims": 2, "output": "same",
        "note": "the positional embedding fixes the number of 16x16 patches: img_size (32) "
                "only; needs einops",
    },
    "swin_unetr": {
        "factory": swin_unetr, "spatial_dims": 2, "output": "same",
        "note": "the forward asks every axis to be divisible by patch_size**5 = 32, and 32 "
                "leaves a 1x1 map to an instance norm: multiples of 32 from 64; needs einops",
    },
}
