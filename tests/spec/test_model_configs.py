"""Every model config's well-formedness: TorchLean's ``WF``, checked before a model is built.

The conditions below are copied from TorchLean's source (``UNet2Config.WF``,
``CNN2Config.WF``, ``ResNetConfig.WF``), independently of the table in
:mod:`nnbridge.spec.models.configs`: each is violated in turn and must be refused, by
:func:`well_formed` and by the model's constructor, with rule ``config_wf`` naming the
field and its value. A table that forgot a condition would let one of them through.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest
import sympy
import z3
from hypothesis import given
from hypothesis import strategies as st
from nnbridge.spec import ShapeError
from nnbridge.spec.models import CNN2, ResNet, UNet2, check_unet2_obligations, well_formed
from nnbridge.spec.models.configs import CONFIG_RULES
from nnbridge.spec.shapes import CNN2Config, ResNetConfig, UNet2Config

#: TorchLean's WF, field -> Lean condition name (read from NN/Spec/Models/*.lean).
TORCHLEAN_WF = {
    UNet2Config: {"pool_kernel": "poolK_ne0", "pool_stride": "poolStride_ne0",
                  "conv_kernel": "convK_ne0", "up_kernel": "upK_ne0",
                  "head_kernel": "headK_ne0", "base_c": "baseC_pos"},
    CNN2Config: {"c1": "c1_ne0", "c2": "c2_ne0", "out_dim": "outDim_ne0", "k_h": "kH_ne0",
                 "k_w": "kW_ne0", "pool_kh": "poolKH_ne0", "pool_kw": "poolKW_ne0",
                 "pool_stride1": "poolStride1_ne0", "pool_stride2": "poolStride2_ne0"},
    ResNetConfig: {"stem_out_channels": "stemOut_ne0", "stem_kernel": "stemK_ne0",
                   "pool_kernel": "poolK_ne0", "pool_stride": "poolStride_ne0",
                   "stage1_out_channels": "c1_ne0", "stage2_out_channels": "c2_ne0",
                   "stage3_out_channels": "c3_ne0", "stage4_out_channels": "c4_ne0"},
}

#: Small configs a model can be built on quickly, and the builder.
SMALL = {
    UNet2Config: UNet2Config(base_c=2),
    CNN2Config: CNN2Config(c1=2, c2=3, out_dim=4),
    ResNetConfig: ResNetConfig(stem_out_channels=2, stage1_out_channels=2,
                               stage2_out_channels=2, stage3_out_channels=2,
                               stage4_out_channels=2, stage1_blocks=1, stage2_blocks=1,
                               stage3_blocks=1, stage4_blocks=1),
}
BUILD = {
    UNet2Config: lambda cfg: UNet2(cfg, 1, 1),
    CNN2Config: lambda cfg: CNN2(cfg, 1, 12, 12),
    ResNetConfig: lambda cfg: ResNet(cfg, 1, 2),
}

WF_CASES = [(cls, field) for cls, conditions in TORCHLEAN_WF.items() for field in conditions]


def _refused(call, rule: str) -> ShapeError:
    with pytest.raises(ShapeError) as info:
        call()
    assert info.value.rule == rule, str(info.value)
    return info.value


# --------------------------------------------------------------------------------------
# Good values
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(TORCHLEAN_WF), ids=lambda c: c.__name__)
def test_the_defaults_and_small_configs_are_well_formed(cls):
    assert well_formed(cls()) is None
    assert well_formed(SMALL[cls]) is None
    model = BUILD[cls](SMALL[cls])
    assert model.cfg == SMALL[cls]


def test_the_tables_hold_exactly_torchleans_conditions():
    for cls, conditions in TORCHLEAN_WF.items():
        table = {field: lean for field, lean, _ in CONFIG_RULES[cls].wf}
        assert table == conditions, cls.__name__


@pytest.mark.parametrize("cls, field", [
    (UNet2Config, "conv_padding"), (UNet2Config, "up_padding"), (UNet2Config, "head_padding"),
    (CNN2Config, "padding1"), (CNN2Config, "padding2"), (ResNetConfig, "stem_padding"),
])
def test_a_zero_that_wf_allows_is_accepted(cls, field):
    """Paddings may be 0: the check is not stricter than TorchLean's."""
    assert well_formed(replace(cls(), **{field: 0})) is None


@given(st.data())
def test_positive_fields_are_well_formed(data):
    cls = data.draw(st.sampled_from(list(TORCHLEAN_WF)))
    values = {f.name: data.draw(st.integers(1, 64), label=f.name) for f in fields(cls)
              if f.name != "use_projection_shortcuts"}
    assert well_formed(cls(**values)) is None


# --------------------------------------------------------------------------------------
# Each WF condition violated in turn (planted)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, field", WF_CASES,
                         ids=[f"{c.__name__}.{f}" for c, f in WF_CASES])
def test_each_wf_condition_violated_is_refused(cls, field):
    bad = replace(SMALL[cls], **{field: 0})
    error = _refused(lambda: well_formed(bad), "config_wf")
    message = str(error)
    assert f"{field}=0" in message and TORCHLEAN_WF[cls][field] in message
    assert f"{cls.__name__}.WF" in message
    built = _refused(lambda: BUILD[cls](bad), "config_wf")
    assert f"{field}=0" in str(built)


def test_unet2_with_base_c_zero_is_refused_by_name():
    error = _refused(lambda: UNet2(UNet2Config(base_c=0)), "config_wf")
    assert "base_c=0" in str(error) and "baseC > 0" in str(error)
    _refused(lambda: check_unet2_obligations(UNet2Config(base_c=0), 8, 8), "config_wf")


def test_every_failing_condition_is_named():
    bad = replace(SMALL[CNN2Config], c1=0, pool_kw=0)
    message = str(_refused(lambda: well_formed(bad), "config_wf"))
    assert "c1=0" in message and "pool_kw=0" in message and "c2=0" not in message


# --------------------------------------------------------------------------------------
# What a model needs beyond WF
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, field", [
    (UNet2Config, "conv_stride"), (UNet2Config, "up_stride"), (UNet2Config, "head_stride"),
    (CNN2Config, "stride1"), (CNN2Config, "stride2"), (ResNetConfig, "stem_stride"),
    (ResNetConfig, "stage1_blocks"), (ResNetConfig, "stage4_blocks"),
])
def test_strides_and_block_counts_outside_wf_must_be_at_least_one(cls, field):
    bad = replace(SMALL[cls], **{field: 0})
    error = _refused(lambda: well_formed(bad), "config_field")
    assert field in str(error)
    _refused(lambda: BUILD[cls](bad), "config_field")


# --------------------------------------------------------------------------------------
# Values no model can use
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, 1.5, 2.0, "3", None, -1])
@pytest.mark.parametrize("cls", list(TORCHLEAN_WF), ids=lambda c: c.__name__)
def test_the_config_refuses_non_integer_bool_and_negative_fields(cls, value):
    field = next(iter(TORCHLEAN_WF[cls]))
    _refused(lambda: cls(**{field: value}), "config_field")


def _slipped_in(cfg, **values):
    """``cfg`` with ``values`` set past its own checks (a planted bad field)."""
    for name, value in values.items():
        object.__setattr__(cfg, name, value)
    return cfg


@pytest.mark.parametrize("value, rule", [
    (True, "config_field"), (1.5, "config_field"), ("3", "config_field"),
    (np.int64(3), "config_field"), (-1, "config_field"), (2**60, "huge_size"),
])
@pytest.mark.parametrize("cls", list(TORCHLEAN_WF), ids=lambda c: c.__name__)
def test_well_formed_checks_every_field_itself(cls, value, rule):
    """A field that got past the config's own checks is still refused before a model."""
    field = next(iter(TORCHLEAN_WF[cls]))
    cfg = _slipped_in(replace(SMALL[cls]), **{field: value})
    error = _refused(lambda: well_formed(cfg), rule)
    assert field in str(error)
    _refused(lambda: BUILD[cls](cfg), rule)


@pytest.mark.parametrize("value", [sympy.Symbol("n"), sympy.Integer(3), z3.Int("n")],
                         ids=["sympy-symbol", "sympy-integer", "z3"])
@pytest.mark.parametrize("cls", list(TORCHLEAN_WF), ids=lambda c: c.__name__)
def test_symbolic_fields_serve_proofs_but_no_model(cls, value):
    field = next(iter(TORCHLEAN_WF[cls]))
    cfg = _slipped_in(replace(SMALL[cls]), **{field: value})
    error = _refused(lambda: well_formed(cfg), "config_field")
    assert field in str(error)
    _refused(lambda: BUILD[cls](cfg), "config_field")


def test_a_symbolic_config_is_allowed_for_the_proofs():
    """The config itself takes symbols (the proofs quantify over configs); only a model
    refuses them."""
    cfg = UNet2Config(base_c=sympy.Symbol("b"))
    _refused(lambda: UNet2(cfg), "config_field")


@pytest.mark.parametrize("cfg, build", [
    (UNet2Config(base_c=2**20), lambda cfg: UNet2(cfg, 1, 1)),
    (CNN2Config(c1=2**16, c2=2**16), lambda cfg: CNN2(cfg, 1, 8, 8)),
    (replace(SMALL[ResNetConfig], stage1_out_channels=2**14, stage2_out_channels=2**14),
     lambda cfg: ResNet(cfg)),
    (replace(SMALL[ResNetConfig], stage1_out_channels=2**13, stage2_out_channels=2**13,
             stage3_out_channels=2**13), lambda cfg: ResNet(cfg)),
])
def test_parameter_tables_too_large_to_allocate_are_refused(cfg, build):
    """Sizes below 2**48 whose parameters would not fit, one table (2**14 channels: 2.4e9
    elements in one 3x3 conv) or all together (2**13: 6e8 each, 3.6e9 in all), are refused
    before any allocation."""
    error = _refused(lambda: build(cfg), "too_large")
    assert "parameter" in str(error)


def test_a_non_config_is_refused():
    _refused(lambda: well_formed(object()), "config_type")
    _refused(lambda: well_formed({"base_c": 2}), "config_type")
    _refused(lambda: ResNet(UNet2Config()), "config_type")
    _refused(lambda: CNN2(ResNetConfig()), "config_type")


def test_a_bool_field_must_be_a_bool():
    _refused(lambda: ResNetConfig(use_projection_shortcuts=1), "config_field")
