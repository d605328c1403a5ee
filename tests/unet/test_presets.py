"""Presets give the known answers, and each proved rule agrees with every obligation for
all n <= 4096."""

import pytest

from nnbridge.unet import build_preset, check, require_valid, rule_for, trace
from nnbridge.unet.rule import derive_rule, prove_rule

N = 4096

CASES = [
    ("torchlean-unet2", {}),
    ("torchlean-unet2", {"semantics": "torch"}),
    ("torchlean-unet2", {"pool_kernel": "3", "pool_stride": "3", "up_kernel": "3",
                         "up_stride": "3"}),
    ("ronneberger", {}),
    ("ronneberger", {"exact_pool": "false"}),
    ("ronneberger", {"padding": "1", "depth": "3"}),
    ("monai", {}),
    ("monai", {"strides": "2,3,2", "num_res_units": "2", "kernel_size": "5"}),
    ("monai", {"spatial_dims": "3", "strides": "2x2x1,2,2", "kernel_size": "3x3x1"}),
    ("monai", {"norm": "batch", "training_batch": "1", "strides": "2,2,3"}),
    ("smp", {}),
    ("smp", {"encoder_depth": "3"}),
    ("smp", {"version": "0.6"}),
]


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{p}" for n, p in CASES])
def test_rule_agrees_with_every_obligation_up_to_4096(name, params):
    desc = build_preset(name, params)
    for axis in range(desc.spatial_dims):
        rule = rule_for(desc, axis)
        assert rule.proved, rule
        disagree = [n for n in range(1, N + 1) if trace(desc, axis, n).valid != rule.contains(n)]
        assert disagree == []


def test_known_answers():
    result = check("ronneberger", "572x572")
    assert result.valid and require_valid("ronneberger", (572, 572)) == (388, 388)
    assert not check("ronneberger", "573x572").valid
    smp = rule_for(build_preset("smp"), 0)
    assert (smp.period, smp.residues, smp.threshold, smp.exceptions) == (32, (0,), 1, ())
    assert smp.words() == "a multiple of 32"
    unet2 = rule_for(build_preset("torchlean-unet2"), 0)
    assert [n for n in range(1, 40) if unet2.contains(n)] == list(range(2, 40, 2))
    monai = rule_for(build_preset("monai"), 0)
    assert monai.words() == "a multiple of 16" and monai.singles == {"down3": (16,),
                                                                     "bottom_conv1": (16,)}
    ron = rule_for(build_preset("ronneberger"), 0)
    assert ron.words() == "16k + 12, at least 188" and ron.contains(572)


def test_torchlean_obligation_names_are_unet2s():
    names = [o.name for a in check("torchlean-unet2", "6x8").axes for o in a.trace.obligations]
    assert names == ["h_convH", "h_convH_down", "h_upH", "h_outH",
                     "h_convW", "h_convW_down", "h_upW", "h_outW"]


def test_nearest_sizes_and_message():
    result = check("ronneberger", "573x572")
    h = result.axes[0]
    assert (h.nearest_below, h.nearest_above) == (572, 588)
    assert result.axes[1].nearest_below == result.axes[1].nearest_above == 572
    msg = result.message()
    assert "down0_exact" in msg and "572 (crop 1)" in msg and "588 (pad 15)" in msg
    with pytest.raises(Exception) as info:
        require_valid("ronneberger", "573x572")
    assert str(info.value) == msg


def test_instance_norm_joint_condition():
    assert not check("monai", "16x16").valid  # the bottom sees 1x1: instance norm raises
    assert check("monai", "16x32").valid
    r = check("monai", "16x15")
    assert [(a.nearest_below, a.nearest_above) for a in r.axes] == [(16, 16), (None, 32)]
    r = check("monai", "16x16")
    assert [a.nearest_above for a in r.axes] == [32, 32]


def test_batch_norm_constrains_only_in_training_with_a_batch_of_1():
    for batch, valid in (("0", True), ("1", False), ("4", True)):
        desc = build_preset("monai", {"norm": "batch", "training_batch": batch})
        result = check(desc, "16x16")
        assert result.valid is valid
        if not valid:
            assert "batch norm in training, batch of 1" in result.message()
            assert rule_for(desc, 0).singles  # the sizes where a norm sees one element
    assert check(build_preset("monai", {"norm": "none", "training_batch": "1"}), "16x16").valid


def test_planted_wrong_rules_are_refuted_with_a_counterexample():
    from dataclasses import replace

    for name in ("ronneberger", "monai", "smp", "torchlean-unet2"):
        desc = build_preset(name)
        good = derive_rule(desc, 0)
        wrong = [
            replace(good, threshold=good.at_or_above(good.threshold) + 1),  # off by one
            replace(good, period=good.period * 2),  # wrong period
            replace(good, residues=tuple(sorted({*good.residues, (good.residues[0] + 1)
                                                 % good.period}))) if good.period > 1
            else replace(good, exceptions=(), threshold=good.threshold + 5),
        ]
        for bad in wrong:
            verdict = prove_rule(desc, 0, bad)
            assert verdict.status == "refuted", (name, bad)
            n = verdict.counterexample
            assert n >= 1 and trace(desc, 0, n).valid != bad.contains(n)
        assert prove_rule(desc, 0, good).status == "proved"


def test_solver_unknown_is_a_failure(monkeypatch):
    import z3

    monkeypatch.setattr(z3.Solver, "check", lambda self, *a: z3.unknown)
    desc = build_preset("smp")
    verdict = prove_rule(desc, 0, derive_rule(desc, 0))
    assert verdict.status == "unknown" and not verdict.proved


def test_closed_forms_are_proved():
    from nnbridge.unet.closed import closed_forms

    forms = closed_forms(build_preset("monai"), 0)
    assert [(c.stage, c.closed, c.status) for c in forms] == [
        ("bottom_conv1", "ceiling(n/16)", "proved"), ("up0", "16*ceiling(n/16)", "proved")]
    forms = closed_forms(build_preset("torchlean-unet2"), 0)
    assert all(c.status == "proved" for c in forms)


def test_require_valid_shape_error_for_a_misfit_usage_error_for_bad_input():
    from nnbridge.spec.errors import NNBridgeError, ShapeError, UsageError

    with pytest.raises(ShapeError) as info:
        require_valid("ronneberger", (573, 572))
    assert info.value.rule == "unet_size" and not isinstance(info.value, UsageError)
    for shape in [(0, 572), (572,), "572x", "\uff15\uff17\uff12x572", (572.0, 572), (True, 572),
                  (2**48 + 1, 572), (10**5000, 572), None, {"H": 572}]:
        with pytest.raises(UsageError) as info:
            require_valid("ronneberger", shape)
        assert info.value.rule == "input_size" and len(str(info.value)) < 300
    for description in ("nope", 42, None, object()):
        with pytest.raises(NNBridgeError) as info:
            require_valid(description, (572, 572))
        assert info.value.rule in ("unknown_name", "description_value")


@pytest.mark.parametrize(("name", "params", "rule"), [
    ("ronneberger", {"depth": 10**6}, "work_limit"),
    ("ronneberger", {"depth": 17}, "work_limit"),
    ("ronneberger", {"depth": 2.5}, "param_value"),
    ("ronneberger", {"depth": True}, "param_value"),
    ("ronneberger", {"exact_pool": "sometimes"}, "param_value"),
    ("monai", {"num_res_units": 17}, "work_limit"),
    ("monai", {"strides": (2,) * 16}, "work_limit"),
    ("monai", {"strides": "2," * 100}, "work_limit"),
    ("monai", {"strides": ((2, 2, 2, 2),)}, "param_value"),
    ("monai", {"channels": (0, 0, 0, 0)}, "param_value"),
    ("monai", {"channels": 5}, "param_value"),
    ("monai", {"norm": 3}, "param_value"),
    ("smp", {"encoder_depth": "\u0665"}, "param_value"),
    ("smp", {1: 2}, "unknown_name"),
    ("smp", [("encoder_depth", 3)], "param_value"),
    (["smp"], None, "unknown_name"),
])
def test_preset_parameters_are_checked_given_as_text_or_values(name, params, rule):
    from nnbridge.spec.errors import UsageError

    with pytest.raises(UsageError) as info:
        build_preset(name, params)
    assert info.value.rule == rule


def test_python_values_build_the_same_network_as_text():
    assert build_preset("monai", {"strides": (2, 3), "kernel_size": (3, 3)}) == build_preset(
        "monai", {"strides": "2,3", "kernel_size": "3x3"})
    assert build_preset("ronneberger", {"depth": 3, "exact_pool": False}) == build_preset(
        "ronneberger", {"depth": "3", "exact_pool": "false"})


def test_rule_work_is_bounded_before_deriving():
    """period x layers above MAX_RULE_WORK is refused at once (it took minutes before)."""
    from nnbridge.spec.errors import UsageError

    from nnbridge.unet.explain import MAX_RULE_WORK, check_work

    big = build_preset("monai", {"strides": ",".join(["2"] * 14), "num_res_units": "16"})
    with pytest.raises(UsageError) as info:
        check(big, (2**14, 2**14))
    assert info.value.rule == "work_limit" and str(MAX_RULE_WORK) in str(info.value)
    check_work(build_preset("monai"))  # the defaults are far below the limit
    check_work(build_preset("ronneberger", {"depth": "10"}))
