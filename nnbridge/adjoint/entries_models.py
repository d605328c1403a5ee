"""Registry entries for the model specs of :mod:`nnbridge.spec.models`.

Each entry is a model's linearisation at a sampled point, in all its parameters and its
input jointly: ``A`` is ``(dparams, dx) -> model.jvp`` and ``A^T`` is ``model.vjp``, the
hand-written backward. Sizes are small so that the whole registry runs in seconds.

Exactness: CNN2 and the seed's CNN chains are exact (two convs and a linear head on integers
in [-3, 3] stay far below 2**53: the largest possible value is about 3e5, and every sum in
the JVP, the VJP and the inner products is bounded by a few times 1e8). UNet2 is checked in
the float modes only: nine layers deep, a worst-case bound on its integer values no longer
stays below 2**53. ResNet and the blocks divide by batch norm's standard deviation, so they
are float-mode entries too.
"""

from __future__ import annotations

from dataclasses import replace

from nnbridge.spec.models import (
    CNN2,
    MLP,
    Bottleneck,
    ResidualBlock,
    ResNet,
    UNet2,
    cnn_spec,
    cnn_with_relu_spec,
)
from nnbridge.spec.shapes import CNN2Config, ResNetConfig, UNet2Config

from .registry import Case, entry

__all__: list[str] = []

#: ResNet-18's block counts (2, 2, 2, 2) with small channel counts: stage 3 -> 4 narrows, so
#: the fallback shortcut slices there, and widens (pads) at stage 1 -> 2.
SMALL_RESNET18 = ResNetConfig(stem_out_channels=4, stage1_out_channels=4,
                              stage2_out_channels=6, stage3_out_channels=8,
                              stage4_out_channels=5)


def model_case(s, model, input_shape) -> Case:
    """The linearisation of ``model`` at sampled parameters and input, in ``(params, x)``.

    The model's own parameters are replaced by operands drawn through the sampler, so that
    exact mode gets small integers and float modes the trial's dtype.
    """
    names = list(model.params)
    params = {n: s.array(v.shape) for n, v in model.params.items()}
    x = s.array(input_shape)

    def forward(*a):
        return model.forward(a[-1], params=dict(zip(names, a[:-1], strict=True)))

    def jvp(*t):
        return model.jvp(x, t[-1], dict(zip(names, t[:-1], strict=True)), params=params)

    def vjp(g):
        grads, grad_x = model.vjp(x, g, params=params)
        return tuple(grads[n] for n in names) + (grad_x,)

    return Case(tuple(params[n] for n in names) + (x,), forward=forward, jvp=jvp, vjp=vjp)


@entry("model.cnn2")
def _cnn2(s) -> Case:
    """CNN2 (conv, ReLU, pool, conv, ReLU, pool, flatten, linear) on a 1x8x8 image."""
    cfg = CNN2Config(c1=2, c2=3, out_dim=4)
    return model_case(s, CNN2(cfg, 1, 8, 8, dtype=s.dtype), (1, 8, 8))


@entry("model.mlp")
def _mlp(s) -> Case:
    """TorchLean's MLP (linear, ReLU, linear) with its example sizes I, H, O = 2, 3, 1."""
    return model_case(s, MLP(2, 3, 1, dtype=s.dtype), (2,))


@entry("model.cnn_spec")
def _cnn_spec(s) -> Case:
    """The seed's cnnSpec chain (no activations), stride-2 second conv."""
    return model_case(s, cnn_spec(2, 3, 9, 8, stride2=2, dtype=s.dtype), (2, 9, 8))


@entry("model.cnn_with_relu_spec")
def _cnn_relu_spec(s) -> Case:
    """The seed's cnnWithReluSpec chain, 3x2 kernels and overlapping first pool."""
    model = cnn_with_relu_spec(1, 2, 10, 8, k_w=2, pool_stride1=1, dtype=s.dtype)
    return model_case(s, model, (1, 10, 8))


@entry("model.unet2", exact=False)
def _unet2(s) -> Case:
    """UNet2 with baseC 2 on a 1x8x6 image (the eight obligations hold)."""
    return model_case(s, UNet2(UNet2Config(base_c=2), 1, 2, dtype=s.dtype), (1, 8, 6))


@entry("model.resnet18.small", exact=False, trials=2)
def _resnet(s) -> Case:
    """ResNet-18 (2 blocks per stage, fallback shortcuts) with 4..8 channels, 16x16 input."""
    return model_case(s, ResNet(SMALL_RESNET18, 3, 4, dtype=s.dtype), (3, 16, 16))


@entry("model.resnet18.small.projection", exact=False, trials=2)
def _resnet_projection(s) -> Case:
    """The same with 1x1 projection + BN shortcuts where the channel count changes."""
    cfg = replace(SMALL_RESNET18, use_projection_shortcuts=True)
    return model_case(s, ResNet(cfg, 3, 4, dtype=s.dtype), (3, 16, 16))


def _block_entry(name: str, in_c: int, out_c: int, kind: str, projection: bool) -> None:
    def build(s) -> Case:
        if kind == "bottleneck":
            block = Bottleneck(in_c, out_c, projection=projection, dtype=s.dtype)
        else:
            block = ResidualBlock(in_c, out_c, projection=projection, dtype=s.dtype)
        return model_case(s, block, (in_c, 6, 5))

    entry(name, exact=False)(build)


_block_entry("block.basic.pad", 3, 5, "basic", False)
_block_entry("block.basic.projection", 3, 5, "basic", True)
# Bottleneck width outC/4 = 4: with width 2, a ReLU can leave a 1x1 conv's output channel
# nearly constant over the image, BN's inv_std then nears 1/sqrt(eps) = 1e3 and rounding is
# amplified past the float tolerance (an ill-conditioned point, not a wrong rule).
_block_entry("block.bottleneck", 16, 16, "bottleneck", False)
_block_entry("block.bottleneck.pad", 8, 16, "bottleneck", False)
_block_entry("block.bottleneck.slice", 24, 16, "bottleneck", False)
_block_entry("block.bottleneck.projection", 8, 16, "bottleneck", True)
