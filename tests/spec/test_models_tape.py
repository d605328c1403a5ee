"""Two derivations of every model's gradients: the hand-written vjp and the tape's sweep.

The models' ``vjp`` orders the layer backward rules by hand; :func:`tape_vjp` records the
forward on a :class:`~nnbridge.spec.tape.Tape` and lets the reverse sweep order them by the
graph (fan-out at the skip and at the residual sum handled by accumulation). Both must agree,
and the tape's forward value must be the model's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from nnbridge.spec import ShapeError
from nnbridge.spec.models import (
    CNN2,
    Bottleneck,
    ResidualBlock,
    ResNet,
    UNet2,
    cnn_spec,
    cnn_with_relu_spec,
)
from nnbridge.spec.models.tape import record, tape_vjp
from nnbridge.spec.shapes import CNN2Config, ResNetConfig, UNet2Config
from nnbridge.spec.tape import Tape

SMALL_RESNET = ResNetConfig(stem_out_channels=4, stage1_out_channels=4, stage2_out_channels=6,
                            stage3_out_channels=8, stage4_out_channels=5)

MODELS = {
    "cnn2": (lambda: CNN2(CNN2Config(c1=2, c2=3, out_dim=4), 2, 10, 9, seed=1), (2, 10, 9)),
    "cnn_spec": (lambda: cnn_spec(1, 3, 9, 8, stride2=2, seed=2), (1, 9, 8)),
    "cnn_with_relu_spec": (lambda: cnn_with_relu_spec(1, 2, 10, 8, k_w=2, seed=3), (1, 10, 8)),
    "unet2": (lambda: UNet2(UNet2Config(base_c=2), 2, 3, seed=4), (2, 8, 6)),
    "unet2.k5": (lambda: UNet2(UNet2Config(base_c=2, conv_kernel=5, conv_padding=2, up_kernel=3,
                                           up_stride=2, up_padding=0), 1, 1, seed=5), (1, 7, 9)),
    "resnet18.small": (lambda: ResNet(SMALL_RESNET, 3, 4, seed=6), (3, 16, 16)),
    "resnet18.small.projection": (
        lambda: ResNet(replace(SMALL_RESNET, use_projection_shortcuts=True), 3, 4, seed=7),
        (3, 16, 12)),
    "block.basic.slice": (lambda: ResidualBlock(6, 4, seed=8), (6, 5, 5)),
    "bottleneck.pad": (lambda: Bottleneck(8, 16, seed=9), (8, 6, 5)),
    "bottleneck.projection": (lambda: Bottleneck(8, 16, projection=True, seed=10), (8, 6, 5)),
}


@pytest.mark.parametrize("name", MODELS)
def test_hand_written_vjp_and_tape_agree(name):
    build, shape = MODELS[name]
    model = build()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)

    tape = Tape()
    _, _, out = record(model, tape, x)
    y = model.forward(x)
    np.testing.assert_allclose(tape.value(out), y, rtol=1e-12, atol=1e-12)

    grad_y = rng.standard_normal(y.shape)
    grads, grad_x = model.vjp(x, grad_y)
    tape_grads, tape_grad_x = tape_vjp(model, x, grad_y)
    assert set(grads) == set(tape_grads) == set(model.params)
    np.testing.assert_allclose(grad_x, tape_grad_x, rtol=1e-10, atol=1e-12)
    for key in grads:
        np.testing.assert_allclose(grads[key], tape_grads[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


def test_the_comparison_sees_a_wrong_wiring():
    """Recording UNet2 with the concat order swapped (skip LAST) changes the gradients."""
    from nnbridge.spec import tape as tape_module

    model, shape = MODELS["unet2"][0](), MODELS["unet2"][1]
    x = np.random.default_rng(1).standard_normal(shape)
    grad_y = np.ones((3,) + shape[1:])
    right, _ = tape_vjp(model, x, grad_y)
    original = tape_module.NODE_TYPES["concat"]
    try:
        tape_module.register_node(
            "concat", forward=lambda a, b: np.concatenate([b, a]),
            vjp=lambda a, b, g: (g[b.shape[0]:], g[: b.shape[0]]))
        wrong, _ = tape_vjp(model, x, grad_y)
    finally:
        tape_module.NODE_TYPES["concat"] = original
    assert not np.allclose(wrong["up1_1.weight"], right["up1_1.weight"])
    assert np.allclose(tape_vjp(model, x, grad_y)[0]["up1_1.weight"], right["up1_1.weight"])


def test_tape_recording_checks_the_unet2_obligations():
    model = MODELS["unet2"][0]()
    with pytest.raises(ShapeError, match="h_upH"):
        tape_vjp(model, np.zeros((2, 7, 6)), np.zeros((3, 7, 6)))
