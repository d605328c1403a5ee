"""The valid-size rule read from the structure equals the size-by-size scan's, and a cold
``nnbridge unet check`` loads only what it needs.

The structural derivation (``derive_rule(method="closed")``: a bisection for the size where
every layer runs, then one trace per residue class) must give the scan's verdicts on every
size of the window, hence the same rule, on every preset and on random descriptions; a wrong
period is declined by its own cross-checks or caught by the comparison, and refuted by Z3.
"""

import subprocess
import sys
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbridge.unet import (
    Conv,
    ConvTranspose,
    Level,
    Pool,
    Resize,
    UNetDescription,
    Upsample,
    build_preset,
    prove_rule,
    rule_for,
    trace,
)
from nnbridge.unet import rule as rule_module
from nnbridge.unet.rule import derive_rule

PRESET_VARIANTS = [
    ("ronneberger", {}),
    ("ronneberger", {"depth": "5"}),
    ("ronneberger", {"padding": "1"}),
    ("ronneberger", {"exact_pool": "false"}),
    ("monai", {}),
    ("monai", {"strides": "2,3"}),
    ("monai", {"num_res_units": "2"}),
    ("monai", {"norm": "batch", "training_batch": "1"}),
    ("monai", {"spatial_dims": "3", "strides": "2x2x1,2x2x1", "kernel_size": "3x3x1"}),
    ("smp", {}),
    ("smp", {"encoder_depth": "3"}),
    ("smp", {"version": "0.6"}),
]


def _window(desc, axis):
    hint = rule_module._hint(desc, axis)
    return hint, 4 * hint + 256


def assert_closed_equals_scan(desc):
    """Same verdicts (valid, every layer runs, single-element norms) on the whole window,
    and the same rule, on every axis."""
    for axis in range(desc.spatial_dims):
        hint, scan = _window(desc, axis)
        closed = rule_module._closed(desc, axis, scan, hint)
        assert closed is not None, (desc, axis)
        scanned = rule_module._scan(desc, axis, scan)
        for name, got, want in zip(("valid", "runs", "singles"), closed, scanned, strict=True):
            differ = [n for n in range(len(want)) if got[n] != want[n]]
            assert differ == [], (name, axis, differ[:5], desc)
        assert derive_rule(desc, axis, method="closed") == derive_rule(desc, axis,
                                                                     method="scan")


@pytest.mark.parametrize(("name", "params"), PRESET_VARIANTS)
def test_presets_closed_equals_scan(name, params):
    assert_closed_equals_scan(build_preset(name, params))


def test_torchlean_keeps_the_scan():
    desc = build_preset("torchlean-unet2")
    with pytest.raises(ValueError, match="no closed derivation"):
        derive_rule(desc, 0, method="closed")
    assert derive_rule(desc, 0) == derive_rule(desc, 0, method="scan")
    with pytest.raises(ValueError, match="method"):
        derive_rule(desc, 0, method="fast")


convs = st.lists(st.builds(Conv, kernel=st.integers(1, 5), stride=st.just(1),
                           padding=st.integers(0, 2), dilation=st.integers(1, 2),
                           norm=st.sampled_from([None, "instance", "batch"])), max_size=2)
downs = st.one_of(
    st.builds(Pool, kernel=st.integers(1, 3), stride=st.integers(1, 3),
              padding=st.integers(0, 1), ceil_mode=st.booleans(), exact=st.booleans(),
              op=st.sampled_from(["max", "avg"])),
    st.builds(Conv, kernel=st.integers(1, 4), stride=st.integers(1, 3),
              padding=st.integers(0, 1), norm=st.sampled_from([None, "instance"])),
)
ups = st.one_of(
    st.builds(ConvTranspose, kernel=st.integers(1, 4), stride=st.integers(1, 3),
              padding=st.integers(0, 1), output_padding=st.integers(0, 1)),
    st.builds(Upsample, scale=st.integers(1, 3)),
    st.builds(Resize),
    st.builds(Conv, kernel=st.integers(1, 3), stride=st.integers(1, 2),
              padding=st.integers(0, 1)),
)


@st.composite
def descriptions(draw):
    """Shape first: 1 or 2 levels of convs, a pool or strided conv down (ceil mode, exact
    tiling, padding), an up step of every kind, every skip, norms, a divisibility check."""
    levels = tuple(Level(convs=tuple(draw(convs)), down=(draw(downs),), up=(draw(ups),),
                         skip=draw(st.sampled_from(["concat", "crop", "add", "none"])),
                         dec_convs=tuple(draw(convs)))
                   for _ in range(draw(st.integers(1, 2))))
    return UNetDescription("random", levels, bottom=tuple(draw(convs)),
                           head=tuple(draw(convs)), spatial_dims=1,
                           output=draw(st.sampled_from(["same", "any"])),
                           multiple_of=draw(st.one_of(st.none(), st.integers(1, 4))),
                           training_batch=draw(st.sampled_from([None, 1, 2])))


@settings(max_examples=40)
@given(descriptions())
def test_random_descriptions_closed_equals_scan(desc):
    assert_closed_equals_scan(desc)


def test_random_descriptions_of_the_rule_tests_closed_equals_scan():
    """The strategy of test_random_descriptions.py itself (loaded from its file)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name("test_random_descriptions.py")
    spec = importlib.util.spec_from_file_location("_rule_test_descriptions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    @settings(max_examples=20)
    @given(module.descriptions())
    def check(desc):
        assert_closed_equals_scan(desc)

    check()


@pytest.mark.parametrize("name", ["ronneberger", "monai", "smp"])
def test_planted_wrong_period_is_caught(name):
    """Classes of a wrong period: the derivation declines (its own trace disagrees with
    an interval) or its verdicts differ from the scan's; never the scan's rule silently."""
    desc = build_preset(name)
    hint, scan = _window(desc, 0)
    scanned = rule_module._scan(desc, 0, scan)
    assert rule_module._closed(desc, 0, scan, hint) == scanned
    for wrong in (hint // 2, hint - 1, hint + 1, hint + hint // 2):
        assert rule_module._closed(desc, 0, scan, wrong) != scanned, wrong


def test_planted_wrong_period_differs_from_the_scan_and_is_refuted():
    """smp at half its period: the derivation declines (a class' trace at k = 1 disagrees
    with its interval) or differs from the scan; and a rule proposed from verdicts with a
    planted wrong class is refuted by Z3 with a counterexample."""
    desc = build_preset("smp")
    hint, scan = _window(desc, 0)
    scanned = rule_module._scan(desc, 0, scan)
    planted = rule_module._closed(desc, 0, scan, hint // 2)
    assert planted is None or planted != scanned
    ok, runs, singles = scanned
    wrong = list(ok)
    for n in range(hint, scan + 1, hint):  # every multiple of the period flipped
        wrong[n] = not wrong[n]
    bad = rule_module._propose(desc, 0, scan, hint, wrong, runs, singles)
    assert bad != derive_rule(desc, 0, method="scan")
    verdict = prove_rule(desc, 0, bad)
    assert verdict.status == "refuted"
    n = verdict.counterexample
    assert trace(desc, 0, n).valid != bad.contains(n)


def test_rule_for_derives_without_the_scan(monkeypatch):
    def no_scan(*args):
        raise AssertionError("scanned")

    monkeypatch.setattr(rule_module, "_CACHE", {})
    monkeypatch.setattr(rule_module, "_scan", no_scan)
    rule = rule_for(build_preset("ronneberger"), 0)
    assert rule.proved and rule.words() == "16k + 12, at least 188"
    with pytest.raises(AssertionError, match="scanned"):  # TorchLean's UNet2 keeps the scan
        rule_for(build_preset("torchlean-unet2"), 0)


def test_a_refuted_closed_rule_is_derived_again_by_the_scan(monkeypatch):
    """If the structural verdicts ever cost a proof, rule_for derives again by the scan."""
    desc = build_preset("ronneberger")
    real = rule_module._propose

    def planted(desc_, axis, scan, hint, ok, runs, singles):
        good = real(desc_, axis, scan, hint, ok, runs, singles)
        return replace(good, period=good.period * 2) if methods[-1] != "scan" else good

    methods = []
    real_derive = rule_module.derive_rule

    def spy(desc_, axis, scan=None, *, method="auto"):
        methods.append(method)
        return real_derive(desc_, axis, scan, method=method)

    monkeypatch.setattr(rule_module, "_CACHE", {})
    monkeypatch.setattr(rule_module, "_propose", planted)
    monkeypatch.setattr(rule_module, "derive_rule", spy)
    rule = rule_for(desc, 0)
    assert rule.proved and rule.period == 16 and methods[-1] == "scan" and "auto" in methods


# ---- cold start: the parser imports only the command that runs --------------------------
HEAVY = ("numpy", "z3", "sympy", "rich", "torch", "nnbridge.kernels", "nnbridge.adjoint",
         "nnbridge.proofs")


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             "print(' '.join(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    names = set(done.stdout.split())
    return {h for h in HEAVY if any(m == h or m.startswith(h + ".") for m in names)}


def test_building_the_unet_parser_imports_nothing_heavy():
    assert _loaded_after("from nnbridge.cli import build_parser, command_named\n"
                         "build_parser(command_named(['unet', 'check', '572x572']))") == set()
    # the probe sees imports: the whole parser (help, unknown commands) loads the kernels
    assert "nnbridge.kernels" in _loaded_after("from nnbridge.cli import build_parser\n"
                                               "build_parser()")


def test_unet_check_json_loads_no_solver_front_end_kernels_or_torch():
    loaded = _loaded_after(
        "from nnbridge.cli import main\n"
        "assert main(['unet', 'check', '572x572', '--preset', 'ronneberger', '--json']) == 0")
    assert "z3" in loaded  # the rule is proved
    assert not loaded & {"sympy", "rich", "torch", "nnbridge.kernels", "nnbridge.adjoint"}


def test_command_named():
    from nnbridge.cli import COMMANDS, build_parser, command_named

    assert command_named(["unet", "check", "5x5"]) == "unet"
    assert command_named(["--version"]) is None and command_named([]) is None
    assert command_named(["--", "prove"]) == "prove" and command_named(["--"]) is None
    assert command_named(["-h", "unet"]) is None  # the top-level help lists every command
    one = build_parser("unet")._subparsers._group_actions[0].choices
    every = build_parser(None)._subparsers._group_actions[0].choices
    assert list(one) == ["verify", "unet"]
    assert list(every) == ["verify", *COMMANDS]
    assert list(build_parser("nope")._subparsers._group_actions[0].choices) == list(every)


def test_unknown_command_lists_every_command(capsys):
    from nnbridge.cli import COMMANDS, main

    with pytest.raises(SystemExit) as exc:
        main(["nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert all(name in err for name in COMMANDS)
