"""Fuzzed command lines and config files: every outcome is exit 0/1 with a correct result, or
exit 2 with one line naming a rule; never a traceback, another exit status, or a hang.

The command line runs in-process (``nnbridge.cli.main(argv)``). ``prove``, ``adjoint`` and
``kernels`` get bad values only (at least one per command line), and their work is replaced
by a stub that fails the test if it runs: a bad value must be refused before any proof,
adjoint check or kernel search starts. ``unet check`` and ``unet rule`` run in full, with
parameters drawn small enough to stay cheap, and with hostile ones (thousands of digits,
fullwidth digits, huge lists, deep nesting in files).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import NNBridgeError, Rule, ShapeError, UsageError

from nnbridge.cli import main

RULES = {rule.value for rule in Rule}
ONE_LINE = re.compile(r"nnbridge: error \[(?P<rule>[a-z0-9_]+)\] [^\n]*\n")
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


class Outcome:
    def __init__(self, code, out: str, err: str):
        self.code, self.out, self.err = code, out, err


def invoke(argv: list[str], capsys, *, record: bool = True) -> Outcome:
    """Run ``nnbridge argv`` and check the contract: 0/1, or 2 with one line naming a rule;
    ``record`` the outcome as a Hypothesis event (the statistics show the mix)."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2, printed by us)
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, (argv, err)
    assert code in (0, 1, 2), (argv, code, err)
    if code == 2:
        match = ONE_LINE.fullmatch(err)
        assert match, (argv, err)
        assert match["rule"] in RULES, (argv, err)
        if record:
            event(f"exit 2 [{match['rule']}]")
    elif record:
        event(f"exit {code}")
    return Outcome(code, out, err)


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Proofs, adjoint checks and kernel searches fail the test if they run."""
    import nnbridge.kernels.implementation as implementation
    import nnbridge.kernels.verify as kernels_verify
    import nnbridge.proofs.engine as engine

    import nnbridge.adjoint.check as adjoint_check

    def ran(*args, **kwargs):
        raise AssertionError("heavy work ran on a command line with a bad value")

    for module, name in ((engine, "check"), (adjoint_check, "check_adjoint"),
                         (adjoint_check, "check_jvp"), (implementation, "check_implementation"),
                         (kernels_verify, "verify_kernels")):
        monkeypatch.setattr(module, name, ran)


# --------------------------------------------------------------------------------------
# Strategies: values first (good ones cheap, bad ones hostile), then command lines
# --------------------------------------------------------------------------------------
huge_digits = st.integers(20, 6000).map(lambda n: "9" * n)
unicode_digits = st.sampled_from(["\uff15\uff17\uff12", "\u0665", "\u00b2", "\u0663\u0660",
                                  "\U0001d7d9", "1_000", "0x10", "1e3", "\u2212" + "5"])
garbage = st.text(max_size=12)
ints_text = st.one_of(st.integers(-3, 6).map(str), huge_digits, unicode_digits, garbage,
                      st.integers(2**31, 2**80).map(str))
UNWRITABLE = ["/proc/nnbridge-fuzz.json", "/proc/a/b/c.xml", "/", ".", "", "x\x00.json",
              "/sys/nnbridge-fuzz.json"]
unwritable = st.sampled_from(UNWRITABLE)


def bad_int_text(minimum: int, maximum: int):
    """Text that is not an ASCII integer in ``minimum..maximum``."""
    return st.one_of(huge_digits, unicode_digits, st.integers(maximum + 1, 2**80).map(str),
                     st.integers(-2**80, minimum - 1).map(str),
                     garbage.filter(lambda t: not re.fullmatch(r"\s*[+-]?[0-9]+\s*", t)))
unknown_option = st.sampled_from(["--bogus", "--jsn", "-z", "--param", "--", "---"])


def with_bad(good: dict, bad: dict):
    """A command line from options: each good or bad, at least one bad."""
    names = sorted(set(good) | set(bad))

    @st.composite
    def build(draw):
        chosen = {}
        for name in names:
            picks = ["skip"] + ["good"] * (name in good) + ["bad"] * (name in bad)
            pick = draw(st.sampled_from(picks))
            if pick != "skip":
                chosen[name] = draw(bad[name] if pick == "bad" else good[name]), pick
        if not any(pick == "bad" for _, pick in chosen.values()):
            name = draw(st.sampled_from(sorted(bad)))
            chosen[name] = draw(bad[name]), "bad"
        pairs = [[name] if value is None else [name, value]
                 for name, (value, _) in chosen.items()]
        # options in any order, each with its own value (never a value read as a path)
        return [word for pair in draw(st.permutations(pairs)) for word in pair]

    return build()


def _not_a_family(text: str) -> bool:
    return text not in ("cnn2", "conv", "conv_transpose", "pool", "preservation", "resnet",
                        "round_trip", "unet2")


prove_argv = with_bad(
    good={"--family": st.sampled_from(["conv", "pool"])},
    bad={"--family": garbage.filter(_not_a_family), "--json": unwritable,
         "--bogus": st.none()})

adjoint_argv = with_bad(
    good={"--seed": st.integers(0, 2**32 - 1).map(str), "--trials": st.integers(1, 5).map(str),
          "-k": st.just("zz-no-such-entry")},
    bad={"--seed": bad_int_text(0, 2**32 - 1), "--trials": bad_int_text(1, 1000),
         "--json": unwritable, "--junit": unwritable, "--zap": st.none()})

kernel_good = {"--ranks": st.sampled_from(["1", "2", "1,2,3"]),
               "--modes": st.sampled_from(["exact", "float", "exact,float"]),
               "--examples": st.integers(1, 50).map(str)}
kernel_bad = {"--ranks": st.one_of(garbage.filter(lambda t: not re.fullmatch(
                  r"\s*[123]\s*(,\s*[123]\s*)*", t)), st.just("4")),
              "--modes": garbage.filter(lambda t: t.strip() not in ("exact", "float")),
              "--examples": bad_int_text(1, 10_000),
              "--json": unwritable, "--vjp": st.sampled_from(["no_colon", "/nope.py:f"])}


@st.composite
def kernels_argv(draw):
    if draw(st.integers(0, 3)) == 2:  # verify takes no options: anything after is bad
        return ["kernels", "verify", *draw(st.lists(unknown_option | garbage, min_size=1,
                                                    max_size=3))]
    op = draw(st.sampled_from(["conv", "conv_transpose", "max_pool", "avg_pool"] * 3
                              + ["pool", "CONV", ""]))
    target = draw(st.sampled_from(["json:dumps"] * 6 + ["no_colon", ":f", "json:",
                                                        "/nope/x.py:f", "json:no_such_name",
                                                        "json:__doc__"]))
    options = draw(with_bad(kernel_good, kernel_bad)) if target == "json:dumps" and op in (
        "conv", "conv_transpose", "max_pool", "avg_pool") else draw(
        st.lists(st.sampled_from(["--ranks", "2"]), max_size=2))
    return ["kernels", "check", op, target, *options]


# --------------------------------------------------------------------------------------
# prove, adjoint, kernels: bad values only, refused before any work
# --------------------------------------------------------------------------------------
@FUZZ
@given(argv=prove_argv)
def test_fuzz_prove(argv, capsys, no_heavy_work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = invoke(["prove", *argv], capsys)
    assert outcome.code == 2


@FUZZ
@given(argv=adjoint_argv)
def test_fuzz_adjoint(argv, capsys, no_heavy_work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # whatever a command line writes stays out of the checkout
    outcome = invoke(["adjoint", *argv], capsys)
    if outcome.code != 2:  # every value fine and -k matching nothing: an empty run fails
        assert outcome.code == 1 and "0/0 entries pass" in outcome.out


@FUZZ
@given(argv=kernels_argv())
def test_fuzz_kernels(argv, capsys, no_heavy_work, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke(argv, capsys).code == 2


# --------------------------------------------------------------------------------------
# unet check / unet rule: run in full
# --------------------------------------------------------------------------------------
small = st.integers(0, 5).map(str)
size = st.integers(1, 700).map(str)
good_shapes = st.one_of(st.lists(size, min_size=2, max_size=2).map("x".join),
                        st.lists(st.sampled_from(["16", "32", "64", "572", "24", "188"]),
                                 min_size=2, max_size=2).map("x".join))


def mostly(good, bad, tenths: int = 6):
    """``good`` in about ``tenths``/10 of the draws, else ``bad`` (shrinking towards good)."""
    return st.integers(0, 9).flatmap(lambda k: good if k < tenths else bad)


shapes = mostly(good_shapes, st.one_of(
    st.lists(size, min_size=1, max_size=4).map("x".join),
    st.lists(ints_text, min_size=1, max_size=3).map("x".join),
    garbage, huge_digits, unicode_digits.map(lambda d: f"{d}x64")))
PARAMS = {
    "ronneberger": {"depth": small, "padding": small,
                    "exact_pool": st.sampled_from(["true", "false", "maybe", "1"])},
    "monai": {"strides": st.lists(st.sampled_from(["1", "2", "3", "2x1", "0"]), min_size=1,
                                  max_size=5).map(",".join),
              "channels": st.lists(small, min_size=1, max_size=6).map(",".join),
              "kernel_size": st.sampled_from(["1", "3", "5", "4", "3x3", "3x3x1"]),
              "num_res_units": small, "norm": st.sampled_from(["instance", "batch", "none",
                                                               "group"]),
              "spatial_dims": st.sampled_from(["1", "2", "3", "0", "4"]),
              "training_batch": st.sampled_from(["0", "1", "2"])},
    "smp": {"encoder_depth": small, "version": st.sampled_from(["0.4", "0.6", "0.5"])},
    "torchlean-unet2": {"pool_stride": small, "conv_padding": small,
                        "semantics": st.sampled_from(["lean", "torch", "coq"])},
}


@st.composite
def params_for(draw, preset: str):
    table = PARAMS.get(preset, {})
    items = []
    for key in draw(st.lists(st.sampled_from(sorted(table) or ["x"]), max_size=3,
                             unique=True)):
        value = draw(st.one_of(table[key], table[key], table[key], table[key], ints_text,
                               garbage)) if key in table else "1"
        items.append(f"{key}={value}")
    if draw(st.integers(0, 5)) == 3:
        items.append(draw(st.sampled_from(["colour=red", "depth", "=3", "depth=1=2"])))
    return [word for item in items for word in ("--param", item)]


@st.composite
def unet_argv(draw):
    preset = draw(st.sampled_from([*PARAMS] * 4 + ["nope", ""]))
    network = ["--preset", preset] if preset or draw(st.booleans()) else []
    command = draw(st.sampled_from(["check", "rule"]))
    argv = ["unet", command]
    if command == "check":
        argv.append(draw(shapes))
    argv += network + draw(params_for(preset))
    if draw(st.booleans()):
        argv.append("--json")
    if command == "rule":
        argv.append("--no-closed-form")
    return argv


def _assert_unet_result(argv: list[str], outcome: Outcome) -> None:
    """Exit 0/1: the verdict printed agrees with the exit status."""
    if outcome.code == 2:
        return
    if "--json" in argv:
        data = json.loads(outcome.out)
        if argv[1] == "check":
            assert data["valid"] is (outcome.code == 0)
            shape = argv[2]
            assert [str(n) for n in data["shape"]] == [p.strip().lstrip("+").lstrip("0")
                                                       or "0" for p in
                                                       shape.lower().split("x")]
        else:
            assert data["proved"] is (outcome.code == 0)
    elif argv[1] == "check":
        assert ("VALID" in outcome.out) and (("INVALID" in outcome.out) is (outcome.code == 1))


@FUZZ
@given(argv=unet_argv())
def test_fuzz_unet(argv, capsys):
    try:
        outcome = invoke(argv, capsys)
    except ValueError as exc:  # a shape of > 4300 digits must never reach int()
        raise AssertionError(f"{argv}: {exc}") from exc
    _assert_unet_result(argv, outcome)


# --------------------------------------------------------------------------------------
# Config files: generated JSON and TOML, random keys, nesting, huge ints, wrong types
# --------------------------------------------------------------------------------------
class Huge:
    """An integer literal of thousands of digits, written as text (never built as an int)."""

    def __init__(self, digits: int):
        self.text = "9" * digits

    def __repr__(self):
        return f"Huge({len(self.text)})"


class Deep:
    """A list nested ``depth`` deep, written as text (a Python object that deep would
    overflow Hypothesis' own printing of the example)."""

    def __init__(self, depth: int):
        self.text = "[" * depth + "1" + "]" * depth

    def __repr__(self):
        return f"Deep({len(self.text) // 2})"


KEYS = ["levels", "level", "depth", "convs", "down", "up", "dec_convs", "skip", "kernel",
        "stride", "padding", "dilation", "type", "head", "bottom", "spatial_dims", "output",
        "scale", "multiple_of", "name", "exact", "ceil_mode", "norm", "training_batch",
        "output_padding", "op"]
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 8), st.integers(-2**70, 2**70),
    st.integers(1000, 9000).map(Huge), st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["conv", "max_pool", "avg_pool", "conv_transpose", "upsample", "resize",
                     "crop", "concat", "same", "any", "instance", "batch"]))
trees = st.recursive(
    leaves, lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(min_size=1, max_size=5), children, max_size=5),
    max_leaves=25)


@st.composite
def layer(draw):
    kind = draw(st.sampled_from(["conv", "max_pool", "avg_pool", "conv_transpose",
                                 "upsample", "resize", None]))
    if kind in ("upsample", "resize") and draw(st.booleans()):
        return {"type": kind}
    body = {} if kind is None else {"type": kind}
    for key in draw(st.lists(st.sampled_from(["kernel", "stride", "padding", "scale",
                                              "norm"]), max_size=2, unique=True)):
        body[key] = draw(st.one_of(*[st.integers(1, 3)] * 6, leaves))
    return body


@st.composite
def descriptions(draw):
    """Mostly description-shaped (so that some are valid), with hostile parts mixed in."""
    level = {name: draw(st.lists(layer(), max_size=2)) for name in
             draw(st.lists(st.sampled_from(["convs", "down", "up", "dec_convs"]),
                           max_size=4, unique=True))}
    if draw(st.booleans()):
        level["skip"] = draw(st.one_of(*[st.sampled_from(["concat", "crop", "add", "none"])] * 3,
                                       leaves))
    data = {"levels": [level] * draw(st.integers(1, 3))}
    if draw(st.booleans()):
        data = {"level": level, "depth": draw(st.integers(0, 20) | leaves)}
    if draw(st.booleans()):
        data["output"] = draw(st.sampled_from(["any", "same"]))
    if draw(st.integers(0, 3)) == 2:
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True)):
            data[key] = draw(trees)
    if draw(st.integers(0, 5)) == 3:  # deep nesting somewhere
        data[draw(st.sampled_from(["name", "levels", "head"]))] = Deep(
            draw(st.sampled_from([33, 100, 1000, 5000])))
    return data


def to_json(value) -> str:
    if isinstance(value, (Huge, Deep)):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def toml_value(value) -> str:
    if isinstance(value, (Huge, Deep)):
        return value.text
    if value is None:
        return '"none"'  # TOML has no null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}"
                           for k, v in value.items()) + "}"


def to_toml(data: dict) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in data.items())


@FUZZ
@given(data=descriptions() | trees, suffix=st.sampled_from([".json", ".toml"]),
       shape=st.sampled_from(["64x64", "572x572", "7", "64x64x8"]))
def test_fuzz_config_files(data, suffix, shape, capsys, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / f"unet{suffix}"
    text = to_json(data) if suffix == ".json" or not isinstance(data, dict) else to_toml(data)
    path.write_text(text)
    for argv in (["unet", "check", shape, "--config", str(path), "--json"],
                 ["unet", "rule", "--config", str(path), "--no-closed-form", "--json"]):
        outcome = invoke(argv, capsys)
        _assert_unet_result(argv, outcome)
        if outcome.code == 2:
            assert str(path) in outcome.err or "[input_size]" in outcome.err \
                or "[rule_period]" in outcome.err or "[work_limit]" in outcome.err


# --------------------------------------------------------------------------------------
# The Python API: check and require_valid with bad shapes
# --------------------------------------------------------------------------------------
bad_scalars = st.one_of(
    st.integers(-2**70, 0), st.integers(2**48 + 1, 2**200), st.just(10**5000),
    st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=8),
    st.sampled_from([b"64", [64], (64,), {"H": 64}, 64j, object()]))
good_pairs = st.tuples(st.integers(1, 700), st.integers(1, 700))
api_shapes = mostly(good_pairs | good_shapes, st.one_of(
    st.lists(st.integers(1, 700) | bad_scalars, max_size=5).map(tuple),
    st.lists(st.integers(1, 700) | bad_scalars, max_size=5),
    bad_scalars, shapes))
networks = st.sampled_from(["smp", "ronneberger", "monai", "torchlean-unet2"] * 3
                           + ["nope", 3, None, ("smp",)])


@FUZZ
@given(network=networks, shape=api_shapes)
def test_fuzz_python_api(network, shape):
    from nnbridge.unet import check, require_valid

    try:
        result = check(network, shape)
    except UsageError as exc:  # a malformed shape or description: bad input
        assert exc.rule in ("input_size", "unknown_name", "description_value")
        assert len(str(exc)) < 500
        event(f"UsageError [{exc.rule}]")
    except ShapeError as exc:  # only the rule's own limits (none for the presets)
        raise AssertionError(f"{network!r} {shape!r}: {exc}") from exc
    else:
        event("valid" if result.valid else "invalid")
        assert isinstance(result.valid, bool)
        assert all(isinstance(n, int) and n >= 1 for n in result.shape)
        try:
            output = require_valid(network, shape)
        except NNBridgeError as exc:
            assert not result.valid and isinstance(exc, ShapeError)
            assert exc.rule == "unet_size"
        else:
            assert result.valid and len(output) == len(result.shape)


def test_the_examples_are_valid_inputs(capsys):
    examples = Path(__file__).resolve().parents[2] / "examples" / "unet"
    for path in sorted(examples.iterdir()):
        shape = "8x8x6" if "3d" in path.name else "572x572"
        assert invoke(["unet", "check", shape, "--config", str(path)], capsys,
                      record=False).code == 0
