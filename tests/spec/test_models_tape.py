"""Two derivations of every model's gradients: the hand-written vjp and the tape's sweep.

Each model writes its forward once (``graph``); :func:`record` reads it on a
:class:`~nnbridge.spec.tape.Tape` and the reverse sweep orders the layer backward rules by
the graph (fan-out at the skip and at the residual sum handled by accumulation), while the
models' ``vjp`` orders them by hand. Both must agree, and the tape's forward value must be
the array reading's. Planted defects (a wrong wiring on the tape, a wrong hand-written
backward) must make them disagree.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from nnbridge.spec import ShapeError
from nnbridge.spec.models import (
    CNN2,
    Bottleneck,
    Params,
    ResidualBlock,
    ResNet,
    UNet2,
    cnn_spec,
    cnn_with_relu_spec,
)
from nnbridge.spec.models.tape import TapeExecutor, record, tape_vjp
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


def _discrepancy(model, x, grad_y, **tape_options) -> float:
    """The largest difference between the hand-written vjp and the tape's, over every
    parameter gradient and the input gradient."""
    grads, grad_x = model.vjp(x, grad_y)
    tape_grads, tape_grad_x = tape_vjp(model, x, grad_y, **tape_options)
    assert list(grads) == list(tape_grads) == list(model.params)
    return max([float(np.max(np.abs(grad_x - tape_grad_x)))]
               + [float(np.max(np.abs(grads[k] - tape_grads[k]))) for k in grads])


@pytest.mark.parametrize("name", MODELS)
def test_hand_written_vjp_and_tape_agree(name):
    build, shape = MODELS[name]
    model = build()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)

    tape = Tape()
    ids, x_id, out = record(model, tape, x)
    y = model.forward(x)
    np.testing.assert_allclose(tape.value(out), y, rtol=1e-12, atol=1e-12)
    assert list(ids) == list(model.params) and tape.value(x_id) is x

    grad_y = rng.standard_normal(y.shape)
    grads, grad_x = model.vjp(x, grad_y)
    tape_grads, tape_grad_x = tape_vjp(model, x, grad_y)
    assert isinstance(grads, Params) and isinstance(tape_grads, Params)
    assert list(grads) == list(tape_grads) == list(model.params)
    np.testing.assert_allclose(grad_x, tape_grad_x, rtol=1e-10, atol=1e-12)
    for key in grads:
        np.testing.assert_allclose(grads[key], tape_grads[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


class _SkipLast(TapeExecutor):
    """A wrong tape reading: the concat puts the skip LAST."""

    def concat(self, a, b):
        return super().concat(b, a)


def test_the_comparison_sees_a_wrong_wiring_on_the_tape():
    """Recording UNet2 with the concat order swapped changes the gradients, and the
    comparison with the hand-written vjp sees it."""
    model, shape = MODELS["unet2"][0](), MODELS["unet2"][1]
    x = np.random.default_rng(1).standard_normal(shape)
    grad_y = np.ones((3,) + shape[1:])
    assert _discrepancy(model, x, grad_y) < 1e-9
    assert _discrepancy(model, x, grad_y, executor=_SkipLast) > 1e-3


def test_the_comparison_sees_a_wrong_hand_written_backward(monkeypatch):
    """UNet2's hand-written vjp with the concat's gradient halves swapped: the tape, which
    derives the backward from the one forward, disagrees."""
    from nnbridge.spec.models import unet as unet_module

    model, shape = MODELS["unet2"][0](), MODELS["unet2"][1]
    x = np.random.default_rng(2).standard_normal(shape)
    grad_y = np.random.default_rng(3).standard_normal((3,) + shape[1:])
    original = unet_module.concat_vjp
    monkeypatch.setattr(unet_module, "concat_vjp",
                        lambda a, b, g: original(a, b, g)[::-1])
    assert _discrepancy(model, x, grad_y) > 1e-3


def test_the_comparison_sees_a_block_backward_missing_its_shortcut(monkeypatch):
    """A residual block whose hand-written vjp drops the shortcut's input gradient."""
    from nnbridge.spec.models import resnet as resnet_module

    model, shape = MODELS["block.basic.slice"][0](), MODELS["block.basic.slice"][1]
    x = np.random.default_rng(4).standard_normal(shape)
    grad_y = np.random.default_rng(5).standard_normal((4,) + shape[1:])
    assert _discrepancy(model, x, grad_y) < 1e-9
    monkeypatch.setattr(resnet_module, "shortcut_vjp",
                        lambda x, out_channels, g: np.zeros_like(x))
    assert _discrepancy(model, x, grad_y) > 1e-3


def test_tape_recording_checks_the_unet2_obligations():
    model = MODELS["unet2"][0]()
    with pytest.raises(ShapeError, match="h_upH"):
        tape_vjp(model, np.zeros((2, 7, 6)), np.zeros((3, 7, 6)))


@pytest.mark.parametrize("call, rule", [
    (lambda m: record(m, Tape(), np.zeros((2, 8, 6), np.float32)), "dtype_mix"),
    (lambda m: record(m, Tape(), np.zeros((2, 8, 6)),
                      {k: v.astype(np.float32) for k, v in m.params.items()}), "dtype_mix"),
    (lambda m: tape_vjp(m, np.zeros((2, 8, 6)), np.zeros((3, 8, 6), np.float32)),
     "dtype_mix"),
    (lambda m: tape_vjp(m, np.zeros((2, 8, 6)), np.zeros((3, 8, 5))), "shape_match"),
    (lambda m: record(object(), Tape(), np.zeros((2, 8, 6))), "config_type"),
])
def test_tape_recording_checks_its_inputs_as_the_model_does(call, rule):
    with pytest.raises(ShapeError) as info:
        call(MODELS["unet2"][0]())
    assert info.value.rule == rule, str(info.value)
