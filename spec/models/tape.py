"""The models recorded on a :class:`~nnbridge.spec.tape.Tape`: a second derivation of
their gradients.

:func:`record` writes a model's forward as tape nodes (the tape's conv and pool nodes and the
basic-op nodes of :mod:`nnbridge.spec.tape_basic`); :func:`tape_vjp` then gets every
gradient from the tape's reverse sweep. The models' hand-written ``vjp`` orders the layer
backward rules by hand; the tape orders them by its graph; the tests require both to agree.
"""

from __future__ import annotations

import numpy as np

from .. import tape_basic  # noqa: F401  (registers the basic-op nodes)
from ..errors import ShapeError
from ..tape import Tape
from .cnn import _ConvPoolNet
from .resnet import Block, ResidualBlock, ResNet
from .unet import CONV_LAYERS, UNet2, check_unet2_obligations

__all__ = ["record", "tape_vjp"]


def _record_cnn(t: Tape, m: _ConvPoolNet, ids: dict, x: int) -> int:
    c = m.cfg
    h = x
    for i, (stride, padding, pool_stride) in enumerate(
            ((c.stride1, c.padding1, c.pool_stride1), (c.stride2, c.padding2, c.pool_stride2)),
            start=1):
        h = t.conv(ids[f"conv{i}.weight"], ids[f"conv{i}.bias"], h, stride=stride,
                   padding=padding)
        if m.relu:
            h = t.relu(h)
        h = t.max_pool(h, kernel=(c.pool_kh, c.pool_kw), stride=pool_stride, padding=0)
    return t.linear(ids["head.weight"], ids["head.bias"], t.flatten(h))


def _record_unet(t: Tape, m: UNet2, ids: dict, x: int) -> int:
    c = m.cfg
    check_unet2_obligations(c, *t.value(x).shape[1:])

    def block(name, h):
        return t.relu(t.conv(ids[f"{name}.weight"], ids[f"{name}.bias"], h,
                             stride=c.conv_stride, padding=c.conv_padding))

    names = [name for name, _, _ in CONV_LAYERS]
    skip = block(names[1], block(names[0], x))
    low = t.max_pool(skip, kernel=c.pool_kernel, stride=c.pool_stride, padding=0)
    low = block(names[3], block(names[2], low))
    up = t.conv_transpose(ids["up.weight"], ids["up.bias"], low, stride=c.up_stride,
                          padding=c.up_padding)
    h = block(names[5], block(names[4], t.concat(skip, up)))
    return t.conv(ids["head.weight"], ids["head.bias"], h, stride=c.head_stride,
                  padding=c.head_padding)


def _record_block(t: Tape, b: Block, ids: dict, x: int) -> int:
    q, h = b.prefix, x
    for i, (_, _, _, pad) in enumerate(b.units, start=1):
        h = t.conv(ids[f"{q}conv{i}.weight"], ids[f"{q}conv{i}.bias"], h, stride=1, padding=pad)
        h = t.batch_norm(ids[f"{q}bn{i}.weight"], ids[f"{q}bn{i}.bias"], h)
        if i < len(b.units):
            h = t.relu(h)
    if b.projection:
        s = t.conv(ids[f"{q}shortcut.weight"], ids[f"{q}shortcut.bias"], x)
        s = t.batch_norm(ids[f"{q}shortcut_bn.weight"], ids[f"{q}shortcut_bn.bias"], s)
    else:
        s = t.shortcut(x, out_channels=b.out_c)
    return t.relu(t.add(h, s))


def _record_resnet(t: Tape, m: ResNet, ids: dict, x: int) -> int:
    c = m.cfg
    m.spatial(*t.value(x).shape[1:])
    h = t.conv(ids["stem.weight"], ids["stem.bias"], x, stride=c.stem_stride,
               padding=c.stem_padding)
    h = t.relu(t.batch_norm(ids["bn.weight"], ids["bn.bias"], h))
    h = t.max_pool(h, kernel=c.pool_kernel, stride=c.pool_stride, padding=0)
    for block in m.blocks:
        h = _record_block(t, block, ids, h)
    return t.linear(ids["fc.weight"], ids["fc.bias"], t.global_avg_pool(h))


def record(model, tape: Tape, x: np.ndarray, params: dict | None = None):
    """Record ``model``'s forward at ``x`` on ``tape``.

    Returns
    -------
    (param_ids, x_id, out_id) : the leaf ids of the parameters (by name) and of ``x``, and the
    output node's id.
    """
    params = model._params(params)
    x = model._check_input("x", x)
    ids = {name: tape.leaf(value, name) for name, value in params.items()}
    x_id = tape.leaf(x, "x")
    if isinstance(model, _ConvPoolNet):
        out = _record_cnn(tape, model, ids, x_id)
    elif isinstance(model, UNet2):
        out = _record_unet(tape, model, ids, x_id)
    elif isinstance(model, ResNet):
        out = _record_resnet(tape, model, ids, x_id)
    elif isinstance(model, ResidualBlock):
        out = _record_block(tape, model.block, ids, x_id)
    else:
        raise ShapeError(f"record: no tape recording for {type(model).__name__}",
                         rule="config_type")
    return ids, x_id, out


def tape_vjp(model, x, grad_y, params=None):
    """``(grads, grad_x)`` from the tape's reverse sweep, shaped like ``model.vjp``'s."""
    tape = Tape()
    ids, x_id, out = record(model, tape, x, params)
    grads = tape.backward(out, grad_y)
    zero = {name: np.zeros_like(tape.value(i)) for name, i in ids.items()}
    by_name = {name: grads.get(i, zero[name]) for name, i in ids.items()}
    return by_name, grads.get(x_id, np.zeros_like(tape.value(x_id)))
