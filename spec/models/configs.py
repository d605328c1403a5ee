"""TorchLean's well-formedness (``WF``) of the model configs, checked before a model is built.

TorchLean keeps each config a plain record and states its ``WF`` separately: the nonzero
facts the layer specs need (``UNet2Config.WF``, ``CNN2Config.WF``, ``ResNetConfig.WF``).
:func:`well_formed` checks exactly those conditions, by their Lean names, and raises a
:class:`~nnbridge.spec.errors.ShapeError` with rule ``config_wf`` naming every failing field
and its value. A model also needs what ``WF`` leaves to the types or to PyTorch; those are
checked first, with rule ``config_field`` (or ``huge_size``):

* every field a concrete Python ``int`` (a config may hold Z3 or SymPy terms for the proofs,
  a model cannot run on them), at most 2**48;
* the strides ``WF`` does not cover at least 1 (TorchLean's Nat division reads stride 0 as a
  phantom size 1; PyTorch refuses it, so no input could run);
* ResNet: every stage has at least one block (a stage is a first block plus the rest).

>>> well_formed(UNet2Config(base_c=0))
Traceback (most recent call last):
...
nnbridge.spec.errors.ShapeError: UNet2: the configuration is not well formed: UNet2Config.WF \
fails at base_c=0 (baseC_pos: baseC > 0)
"""

from __future__ import annotations

from dataclasses import fields

from ..errors import Rule, ShapeError
from ..formulas import MAX_SIZE
from ..shapes import CNN2Config, ResNetConfig, UNet2Config

__all__ = ["CONFIG_RULES", "ConfigRules", "well_formed"]


class ConfigRules:
    """What one config type must satisfy before a model is built on it.

    Parameters
    ----------
    owner : str
        The model's name, used in messages (``"UNet2"``).
    wf : tuple of (field, Lean condition, statement)
        TorchLean's ``WF``: each field nonzero.
    strides : tuple of str
        Fields outside ``WF`` that must still be at least 1.
    at_least_one : tuple of (field, reason)
        Further fields at least 1, with the reason.
    """

    def __init__(self, owner: str, wf, strides=(), at_least_one=()):
        self.owner, self.wf = owner, tuple(wf)
        self.strides, self.at_least_one = tuple(strides), tuple(at_least_one)


#: The rules of each config type, TorchLean's ``WF`` read from its source (the seed's
#: version): ``UNet2Config.WF`` has no ``upStride`` condition, ``ResNetConfig.WF`` no stem
#: stride or block counts.
CONFIG_RULES: dict[type, ConfigRules] = {
    UNet2Config: ConfigRules(
        "UNet2",
        wf=(("pool_kernel", "poolK_ne0", "poolKernel != 0"),
            ("pool_stride", "poolStride_ne0", "poolStride != 0"),
            ("conv_kernel", "convK_ne0", "convKernel != 0"),
            ("up_kernel", "upK_ne0", "upKernel != 0"),
            ("head_kernel", "headK_ne0", "headKernel != 0"),
            ("base_c", "baseC_pos", "baseC > 0")),
        strides=("conv_stride", "up_stride", "head_stride")),
    CNN2Config: ConfigRules(
        "CNN2",
        wf=(("c1", "c1_ne0", "c1 != 0"),
            ("c2", "c2_ne0", "c2 != 0"),
            ("out_dim", "outDim_ne0", "outDim != 0"),
            ("k_h", "kH_ne0", "kH != 0"),
            ("k_w", "kW_ne0", "kW != 0"),
            ("pool_kh", "poolKH_ne0", "poolKH != 0"),
            ("pool_kw", "poolKW_ne0", "poolKW != 0"),
            ("pool_stride1", "poolStride1_ne0", "poolStride1 != 0"),
            ("pool_stride2", "poolStride2_ne0", "poolStride2 != 0")),
        strides=("stride1", "stride2")),
    ResNetConfig: ConfigRules(
        "ResNet",
        wf=(("stem_out_channels", "stemOut_ne0", "stemOutChannels != 0"),
            ("stem_kernel", "stemK_ne0", "stemKernel != 0"),
            ("pool_kernel", "poolK_ne0", "poolKernel != 0"),
            ("pool_stride", "poolStride_ne0", "poolStride != 0"),
            ("stage1_out_channels", "c1_ne0", "stage1OutChannels != 0"),
            ("stage2_out_channels", "c2_ne0", "stage2OutChannels != 0"),
            ("stage3_out_channels", "c3_ne0", "stage3OutChannels != 0"),
            ("stage4_out_channels", "c4_ne0", "stage4OutChannels != 0")),
        strides=("stem_stride",),
        at_least_one=tuple((f"stage{i}_blocks", "a stage is a first block plus the rest")
                           for i in range(1, 5))),
}


def _concrete_fields(cfg, owner: str) -> None:
    """Every int field a concrete integer in ``0..2**48``; bool fields bools."""
    name = type(cfg).__name__
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        if f.type in (bool, "bool"):
            if not isinstance(value, bool):
                raise ShapeError(Rule.CONFIG_FIELD, op=owner, name=f"{name}.{f.name}",
                                 detail=f"must be a bool, got {value!r}")
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ShapeError(
                Rule.CONFIG_FIELD, op=owner, name=f"{name}.{f.name}",
                detail=f"a model needs a concrete Python int, got {value!r} "
                       f"({type(value).__name__})")
        if value < 0:
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name=f"{name}.{f.name}",
                             detail=f"must be at least 0, got {f.name}={value}")
        if value > MAX_SIZE:
            raise ShapeError(Rule.HUGE_SIZE, op=owner, name=f"{name}.{f.name}", value=value)


def well_formed(cfg, owner: str | None = None) -> None:
    """Check ``cfg`` for a model: concrete fields, TorchLean's ``WF``, then the model's needs.

    Returns ``None`` or raises a :class:`ShapeError`: rule ``config_type`` for an object that
    is not a model config, ``config_field`` or ``huge_size`` for a field no model can use,
    ``config_wf`` naming every failing ``WF`` condition with its field and value.

    Parameters
    ----------
    cfg : UNet2Config, CNN2Config or ResNetConfig
    owner : str, optional
        The name used in messages; the config's model by default.
    """
    rules = CONFIG_RULES.get(type(cfg))
    if rules is None:
        known = ", ".join(t.__name__ for t in CONFIG_RULES)
        raise ShapeError(Rule.CONFIG_TYPE, op=owner or "well_formed",
                         expected=f"one of {known}", got=type(cfg).__name__)
    owner = owner or rules.owner
    _concrete_fields(cfg, owner)
    name = type(cfg).__name__
    failing = [f"{field}={getattr(cfg, field)} ({lean}: {statement})"
               for field, lean, statement in rules.wf if getattr(cfg, field) == 0]
    if failing:
        raise ShapeError(Rule.CONFIG_WF, op=owner,
                         detail=f"{name}.WF fails at " + "; ".join(failing))
    for field in rules.strides:
        if getattr(cfg, field) < 1:
            raise ShapeError(
                Rule.CONFIG_FIELD, op=owner, name=f"{name}.{field}",
                detail=f"must be at least 1, got {field}={getattr(cfg, field)} (PyTorch "
                       "refuses stride 0; TorchLean's Nat division would read it as a "
                       "phantom size 1)")
    for field, reason in rules.at_least_one:
        if getattr(cfg, field) < 1:
            raise ShapeError(Rule.CONFIG_FIELD, op=owner, name=f"{name}.{field}",
                             detail=f"must be at least 1 ({reason}), got "
                                    f"{field}={getattr(cfg, field)}")
