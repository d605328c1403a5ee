"""Descriptions from TOML/JSON: the examples, bad keys and values, and a fuzzed parser."""

import json
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import NNBridgeError, ShapeError, UsageError

from nnbridge.unet import build_preset, check, from_dict, load, rule_for, trace
from nnbridge.unet.description import (
    MAX_FILE_BYTES,
    MAX_LAYERS,
    MAX_LEVELS,
    MAX_NESTING,
    Conv,
    Fixed,
    Level,
    PadToSkip,
    Pool,
    Residual,
    UNetDescription,
    Upsample,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "unet"


def test_toml_example_is_the_ronneberger_preset():
    desc = load(EXAMPLES / "ronneberger.toml")
    preset = build_preset("ronneberger")
    for n in range(150, 700):
        assert trace(desc, 0, n).valid == trace(preset, 0, n).valid
    assert check(desc, "572x572").valid


def test_json_example_anisotropic():
    desc = load(EXAMPLES / "anisotropic3d.json")
    assert [rule_for(desc, a).words() for a in range(3)] == [
        "a multiple of 4", "a multiple of 4", "even"]
    assert check(desc, (8, 8, 6)).valid
    assert not check(desc, (8, 8, 5)).valid
    assert not check(desc, (4, 4, 2)).valid  # the instance norm at the bottom sees 1x1x1


POOL = {"type": "max_pool", "kernel": 2}


@pytest.mark.parametrize(("data", "rule"), [
    ({"levels": [{"convz": []}]}, "unknown_key"),
    ({"levels": [{}], "colour": 1}, "unknown_key"),
    ({"levels": [{}], 7: 1}, "unknown_key"),
    ({"levels": [{"down": [{"type": "max_pool", "kernal": 2}]}]}, "unknown_key"),
    ({"levels": [{"down": [{"type": "pool"}]}]}, "unknown_name"),
    ({"levels": [{"down": [{"type": ["max_pool"]}]}]}, "unknown_name"),
    ({"levels": [{"down": [{"type": "upsample"}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": 0}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": -3}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": 2.5}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": True}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": [[3, 3], [3, 3]]}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": 10**5000}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": [3, 3, 3]}]}]}, "axis_count"),
    ({"levels": [{"convs": [{"kernel": [3, 3, 3, 3]}]}]}, "axis_count"),
    ({"levels": [{"skip": "glue"}]}, "description_value"),
    ({"levels": [{"skip": ["concat"]}]}, "description_value"),
    ({"levels": []}, "description_value"),
    ({"levels": "four"}, "description_value"),
    ({"level": {}, "depth": 0}, "description_value"),
    ({"level": {}, "depth": 10**5000}, "work_limit"),
    ({"level": {}, "depth": MAX_LEVELS + 1}, "work_limit"),
    ({"levels": [{}] * (MAX_LEVELS + 1)}, "work_limit"),
    ({"levels": [{"convs": [{}] * (MAX_LAYERS + 1)}]}, "work_limit"),
    ({"levels": [{}], "head": [{}] * (MAX_LAYERS + 1)}, "work_limit"),
    ({"spatial_dims": 4, "levels": [{}]}, "description_value"),
    ({"spatial_dims": [2], "levels": [{}]}, "description_value"),
    ({"training_batch": 0, "levels": [{}]}, "description_value"),
    ({"training_batch": True, "levels": [{}]}, "description_value"),
    ({"training_batch": "1", "levels": [{}]}, "description_value"),
    ([1, 2], "description_value"),
])
def test_bad_descriptions_name_the_problem(data, rule):
    with pytest.raises(NNBridgeError) as info:
        from_dict(data)
    assert info.value.rule == rule
    # usage rules come as UsageError, shape rules (axis counts) as ShapeError
    assert isinstance(info.value, UsageError if info.value.rule.usage else ShapeError)
    assert len(str(info.value)) < 400  # values are shown short, never a 5000-digit int


@pytest.mark.parametrize("where", ["down", "up"])
def test_a_layer_without_a_type_is_refused_where_several_types_fit(where):
    """A conv in ``down`` without ``"type"`` used to be read silently as a max pool."""
    level = {"down": [POOL], "up": [{"type": "conv_transpose", "kernel": 2, "stride": 2}]}
    level[where] = [{"kernel": 3, "stride": 2, "padding": 1}]
    with pytest.raises(UsageError) as info:
        from_dict({"levels": [level]})
    assert info.value.rule == "description_value"
    message = str(info.value)
    assert f"levels[0].{where}[0]" in message and 'explicit "type"' in message
    allowed = "max_pool, avg_pool, conv" if where == "down" else "conv_transpose, upsample"
    assert allowed in message
    level[where][0]["type"] = "conv"
    assert from_dict({"levels": [level]}).levels[0].down[0].kind == (
        "conv" if where == "down" else "pool")


def test_a_conv_list_needs_no_type():
    desc = from_dict({"levels": [{"convs": [{"kernel": 3}], "down": [POOL],
                                  "up": [{"type": "upsample"}]}], "head": [{"kernel": 1}]})
    assert desc.levels[0].convs[0].kind == desc.head[0].kind == "conv"


def test_deep_nesting_is_refused_by_name():
    data = {"levels": [{"convs": [{"kernel": 3}]}], "name": "x"}
    deep = [1]
    for _ in range(5000):  # would overflow a recursive walk
        deep = [deep]
    with pytest.raises(UsageError) as info:
        from_dict({**data, "name": deep})
    assert info.value.rule == "work_limit" and f"limit of {MAX_NESTING}" in str(info.value)
    looped: list = []
    looped.append(looped)  # a list that contains itself: refused, not walked forever
    with pytest.raises(UsageError):
        from_dict({**data, "name": looped})


def test_malformed_files(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[level\nconvs = ")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{\"levels\": [")
    for path, rule in ((bad_toml, "config_file"), (bad_json, "config_file"),
                       (tmp_path / "missing.toml", "config_file"), (tmp_path, "config_file")):
        with pytest.raises(UsageError) as info:
            load(path)
        assert info.value.rule == rule and str(path) in str(info.value)


@pytest.mark.parametrize(("name", "text", "rule", "words"), [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "work_limit", f"limit of {MAX_NESTING}"),
    ("deep_ok_for_json.json", '{"levels": ' + "[" * 500 + "]" * 500 + "}", "work_limit",
     f"limit of {MAX_NESTING}"),
    ("deep.toml", "a = " + "[" * 5000 + "]" * 5000, "work_limit", f"limit of {MAX_NESTING}"),
    ("deep_inline.toml", "a = " + "{b = " * 40 + "1" + "}" * 40, "work_limit",
     f"limit of {MAX_NESTING}"),
    ("digits.json", '{"levels": [{"convs": [{"kernel": ' + "9" * 5000 + "}]}]}",
     "config_file", "more than 4300 digits"),
    ("digits.toml", "depth = " + "9" * 5000, "config_file", "more than 4300 digits"),
    ("big.json", '{"levels": [{}], "name": "' + "x" * MAX_FILE_BYTES + '"}', "config_file",
     f"limit of {MAX_FILE_BYTES} bytes"),
    ("latin1.toml", "name = \"caf\xe9\"", "config_file", "not UTF-8"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 30 else "")
def test_hostile_files_are_refused_by_name(tmp_path, name, text, rule, words):
    path = tmp_path / name
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(UsageError) as info:
        load(path)
    assert info.value.rule == rule and words in str(info.value), str(info.value)
    assert str(path) in str(info.value)


def test_a_huge_file_is_not_read_whole(tmp_path, monkeypatch):
    """At most MAX_FILE_BYTES + 1 bytes are read, whatever the file's size."""
    import builtins

    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # a sparse 4 GiB file: no disk used
        handle.truncate(4 * 2**30)
    asked = []
    real_open = builtins.open

    class Spy:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def read(self, size=-1):
            asked.append(size)
            return self.handle.read(size)

    def spying_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return Spy(handle) if str(file) == str(path) else handle

    monkeypatch.setattr(builtins, "open", spying_open)
    with pytest.raises(UsageError) as info:
        load(path)
    assert info.value.rule == "config_file" and asked == [MAX_FILE_BYTES + 1]


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe.toml"
    os.mkfifo(path)
    with pytest.raises(UsageError) as info:
        load(path)
    assert info.value.rule == "config_file" and "not a regular file" in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**60) | st.floats(allow_nan=True)
    | st.text(max_size=8) | st.sampled_from(["conv", "max_pool", "crop", "same", "upsample"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(["levels", "level", "depth", "convs", "down", "up",
                                       "skip", "kernel", "stride", "padding", "type", "head",
                                       "bottom", "spatial_dims", "output", "scale",
                                       "multiple_of", "name", "exact", "ceil_mode"]) | st.text(
                          max_size=5), children, max_size=5),
    max_leaves=20)


@settings(max_examples=200)
@given(json_values)
def test_parser_fuzz_only_shape_errors(data):
    try:
        desc = from_dict(data)
    except NNBridgeError as exc:
        assert str(exc) and exc.rule
        return
    for n in (1, 7, 64):  # whatever parses must also evaluate without a traceback
        trace(desc, 0, n)


@settings(max_examples=100)
@given(st.text(max_size=60))
def test_file_fuzz_only_shape_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz")
    for name in ("x.toml", "x.json"):
        (path / name).write_text(text)
        try:
            load(path / name)
        except NNBridgeError as exc:
            assert exc.rule in ("config_file", "description_value", "unknown_key",
                                "unknown_name", "axis_count", "work_limit")


def test_json_round_trip():
    data = json.loads((EXAMPLES / "anisotropic3d.json").read_text())
    assert from_dict(data) == load(EXAMPLES / "anisotropic3d.json")


def test_training_batch_from_a_file_constrains_batch_norms():
    data = {"training_batch": 1, "levels": [
        {"convs": [{"kernel": 3, "padding": 1, "norm": "batch"}],
         "down": [{"type": "max_pool", "kernel": 2}],
         "up": [{"type": "conv_transpose", "kernel": 2, "stride": 2}]}],
        "bottom": [{"kernel": 3, "padding": 1, "norm": "batch"}]}
    desc = from_dict(data)
    assert desc.training_batch == 1
    assert not check(desc, (2, 2)).valid  # the bottom's batch norm sees 1x1
    assert check(desc, (2, 4)).valid
    assert check(from_dict({**data, "training_batch": 2}), (2, 2)).valid


# --------------------------------------------------------------------------------------
# The format's reference, docs/unet.md: every example in it is read here.
# --------------------------------------------------------------------------------------
# The page marks its fenced code blocks by their info string:
#   ```toml / ```json   a complete description: it must parse (from_dict);
#   ```toml fragment    a piece of a description: it must be valid TOML;
#   ```toml invalid     a complete description that is refused; the ```text block right
#                       after it is the line `nnbridge unet check 64x64 --config bad.toml`
#                       prints for it, which must match to the character.
# Any other block (plain ``` output, indented commands) is prose and not read.
DOC = Path(__file__).resolve().parents[2] / "docs" / "unet.md"
_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.M | re.S)


def _doc_blocks() -> list[tuple[int, str, str]]:
    """(line number, info string, body) of each fenced block in docs/unet.md."""
    text = DOC.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1).strip(), m.group(2))
            for m in _FENCE.finditer(text)]


def _marked(*infos):
    return [pytest.param(body, id=f"line{line}") for line, info, body in _doc_blocks()
            if info in infos]


def test_the_doc_marks_its_examples():
    infos = [info for _, info, _ in _doc_blocks()]
    assert infos.count("toml") >= 15 and "json" in infos and "toml fragment" in infos
    assert infos.count("toml invalid") >= 8
    # an invalid example is followed by the line the command prints
    for i, info in enumerate(infos):
        if info == "toml invalid":
            assert infos[i + 1] == "text"
    unknown = set(infos) - {"", "toml", "json", "toml fragment", "toml invalid", "text"}
    assert not unknown, f"unmarked code blocks in docs/unet.md: {unknown}"


@pytest.mark.parametrize("body", _marked("toml", "json"))
def test_doc_complete_examples_parse(body):
    data = json.loads(body) if body.lstrip().startswith("{") else tomllib.loads(body)
    desc = from_dict(data)
    assert desc.levels


@pytest.mark.parametrize("body", _marked("toml fragment"))
def test_doc_fragments_are_toml(body):
    assert tomllib.loads(body)


@pytest.mark.parametrize("line", [pytest.param(line, id=f"line{line}")
                                  for line, info, _ in _doc_blocks() if info == "toml invalid"])
def test_doc_invalid_examples_print_what_the_doc_shows(line, tmp_path, monkeypatch, capsys):
    from nnbridge.cli import main

    blocks = _doc_blocks()
    k = next(i for i, (at, _, _) in enumerate(blocks) if at == line)
    (tmp_path / "bad.toml").write_text(blocks[k][2], encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NNBridgeError):
        from_dict(tomllib.loads(blocks[k][2]))
    assert main(["unet", "check", "64x64", "--config", "bad.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == blocks[k + 1][2].strip()


def test_attention_residual_example():
    desc = load(EXAMPLES / "attention_residual.toml")
    top, second = desc.levels
    assert top.gate and second.gate and desc.spatial_dims == 2
    assert [layer.kind for layer in top.up] == ["conv_transpose", "pad_to_skip"]
    assert top.convs[0] == Residual(convs=(Conv(3, padding=1, norm="instance"),) * 2,
                                    shortcut=Conv(1))
    assert second.down[0].strides() == (2,) and desc.bottom[0].shortcut is None
    assert desc.bottom[0].norm == "instance"
    assert desc.period_hint(0) == desc.period_hint(1) == 4  # the pool's 2, the unit's 2
    kinds = [layer.kind for layer in desc.layers()]
    assert kinds.count("residual") == 4 and kinds.count("conv") == 14


# --------------------------------------------------------------------------------------
# The layer kinds beyond convolutions and pools
# --------------------------------------------------------------------------------------
DOWN_UP = {"down": [POOL], "up": [{"type": "upsample"}]}


def _refused(data, rule="description_value"):
    with pytest.raises(NNBridgeError) as info:
        from_dict(data)
    assert info.value.rule == rule, str(info.value)
    return str(info.value)


def test_pad_to_skip():
    desc = from_dict({"levels": [{"down": [POOL], "up": [
        {"type": "conv_transpose", "kernel": 2, "stride": 2}, {"type": "pad_to_skip"}]}]})
    pad = desc.levels[0].up[1]
    assert pad == PadToSkip() and pad.norm is None and pad.kind == "pad_to_skip"
    assert pad.strides() == () and pad.label(0) == "pad to the skip's size"
    assert pad.apply(6, 0, target=7) == 7  # diff 1: 0 before, 1 after
    assert PadToSkip(norm="instance").norm == "instance"
    assert "unknown key(s) 'size'" in _refused(
        {"levels": [{"down": [POOL], "up": [{"type": "pad_to_skip", "size": 3}]}]},
        "unknown_key")
    message = _refused({"levels": [{"convs": [{"type": "pad_to_skip"}]}]})
    assert "levels[0].convs[0]: a pad_to_skip layer cannot stand here" in message
    _refused({"levels": [{"down": [{"type": "pad_to_skip"}]}]})
    _refused({"levels": [{"down": [POOL], "up": [{"type": "pad_to_skip", "norm": "layer"}]}]})
    with pytest.raises(UsageError):
        Level(convs=(PadToSkip(),))


def test_attention_gate():
    level = {"convs": [{"kernel": 3, "padding": 1}], **DOWN_UP}
    assert from_dict({"levels": [level]}).levels[0].gate is False
    desc = from_dict({"levels": [{**level, "gate": True}]})
    assert desc.levels[0].gate is True and desc.levels[0].skip == "concat"
    assert from_dict({"levels": [{**level, "gate": True, "skip": "crop"}]}).levels[0].gate
    for bad in (1, "true", None, [True]):
        assert "gate must be true or false" in _refused({"levels": [{**level, "gate": bad}]})
    message = _refused({"levels": [{**level, "gate": True, "skip": "none"}]})
    assert message.startswith("levels[0]: ") and "skip = 'none'" in message
    with pytest.raises(UsageError):
        Level(gate=1)
    assert Level(gate=True) != Level()


RESIDUAL = {"type": "residual",
            "convs": [{"kernel": 3, "stride": 2, "padding": 1}, {"kernel": 3, "padding": 1}],
            "shortcut": {"kernel": 3, "stride": 2, "padding": 1}}


def test_residual_unit_from_toml():
    # the unit of the format's reference; TOML wants an inline table on one line
    down = ('down = [{type = "residual", convs = [{kernel = 3, stride = 2, padding = 1}, '
            '{kernel = 3, padding = 1}], shortcut = {kernel = 3, stride = 2, padding = 1}}]')
    text = f"""
    [[levels]]
    convs = [{{ type = "residual", convs = [{{ kernel = 3, padding = 1 }}] }}]
    {down}
    up = [{{ type = "conv_transpose", kernel = 2, stride = 2 }}]
    dec_convs = [{{ type = "residual", convs = {{ type = "conv", kernel = 1 }}, norm = "batch" }}]
    """
    desc = from_dict(tomllib.loads(text))
    level = desc.levels[0]
    unit = level.down[0]
    assert unit == Residual(convs=(Conv(3, 2, 1), Conv(3, 1, 1)), shortcut=Conv(3, 2, 1))
    assert unit.kind == "residual" and unit.norm is None and unit.strides() == (2,)
    assert unit.label(0) == "residual unit (2 convs)"
    assert level.convs[0].shortcut is None and level.convs[0].label(1) == "residual unit (1 conv)"
    assert level.dec_convs[0] == Residual(convs=(Conv(1),), norm="batch")
    # the nested convs come right after their unit; the period counts the unit once
    kinds = [layer.kind for layer in desc.layers()]
    assert kinds == ["residual", "conv", "residual", "conv", "conv", "conv", "conv_transpose",
                     "residual", "conv"]
    assert [layer.kind for layer in desc.layers(nested=False)] == [
        "residual", "residual", "conv_transpose", "residual"]
    assert desc.period_hint(0) == 2


def test_residual_unit_strides_per_axis():
    unit = Residual(convs=(Conv(3, (2, 2, 1), 1), Conv(3, 2, 1)))
    assert unit.strides() == ((4, 4, 2),)
    desc = UNetDescription(levels=(Level(down=(unit,), up=(Upsample((4, 4, 2)),)),),
                           spatial_dims=3)
    assert [desc.period_hint(a) for a in range(3)] == [4, 4, 2]
    with pytest.raises(ShapeError) as info:  # one number of axes per unit
        Residual(convs=(Conv((3, 3)), Conv((3, 3, 1))))
    assert info.value.rule == "axis_count"
    with pytest.raises(ShapeError) as info:  # the unit's convs are checked against the network
        UNetDescription(levels=(Level(convs=(Residual(convs=(Conv((3, 3, 3)),)),)),))
    assert info.value.rule == "axis_count" and "conv kernel=[3, 3, 3]" in str(info.value)


@pytest.mark.parametrize(("unit", "rule", "words"), [
    ({"convs": [{"kernel": 3}, {"kernel": 0}]}, "description_value",
     "levels[0].convs[0].convs[1]: conv: kernel must be in 1.."),
    ({"convs": [{"kernel": 3}, {"kernal": 3}]}, "unknown_key",
     "levels[0].convs[0].convs[1] (conv): unknown key(s) 'kernal'"),
    ({"convs": [{"type": "max_pool"}]}, "description_value",
     "levels[0].convs[0].convs[0]: a max_pool layer cannot stand here; this list takes conv"),
    ({"convs": [{"type": "residual", "convs": [{}]}]}, "description_value",
     "levels[0].convs[0].convs[0]: a residual layer cannot stand here"),
    ({"convs": [{}], "shortcut": {"stride": -1}}, "description_value",
     "levels[0].convs[0].shortcut: conv: stride must be in 1.."),
    ({"convs": [{}], "shortcut": [{"kernel": 1}]}, "description_value",
     "levels[0].convs[0].shortcut: a layer is a table/object"),
    ({"convs": [{}], "shortcut": {"type": "upsample"}}, "description_value",
     "levels[0].convs[0].shortcut: a upsample layer cannot stand here"),
    ({"convs": [{}], "identity": True}, "unknown_key",
     "levels[0].convs[0] (residual): unknown key(s) 'identity'; allowed: convs, norm, shortcut"),
    ({"convs": []}, "description_value", "levels[0].convs[0]: residual: a residual unit needs"),
    ({}, "description_value", "at least one conv"),
    ({"convs": 3}, "description_value", "levels[0].convs[0].convs: expected a list of layers"),
    ({"convs": [{}], "norm": "group"}, "description_value", "residual: norm must be one of"),
    ({"convs": [{"kernel": [3, 3, 3]}]}, "axis_count", "per-axis values have [3] axes"),
    ({"convs": [{}] * (MAX_LAYERS + 1)}, "work_limit", "levels[0].convs[0].convs"),
])
def test_residual_unit_errors_name_their_path(unit, rule, words):
    message = _refused({"levels": [{"convs": [{"type": "residual", **unit}]}]}, rule)
    assert words in message, message


def test_residual_unit_placement():
    assert from_dict({"levels": [{"down": [RESIDUAL], "up": [{"type": "upsample"}]}],
                      "bottom": [RESIDUAL], "head": [RESIDUAL]}).head[0].kind == "residual"
    message = _refused({"levels": [{"down": [POOL], "up": [RESIDUAL]}]})
    assert "levels[0].up[0]: a residual layer cannot stand here" in message
    untyped = {k: v for k, v in RESIDUAL.items() if k != "type"}
    assert 'explicit "type"' in _refused({"levels": [{"down": [untyped]}]})
    # without a type, a block list reads a conv, which has no key "convs"
    assert "(conv): unknown key(s) 'convs', 'shortcut'" in _refused(
        {"levels": [{"convs": [untyped]}]}, "unknown_key")
    for bad in (Residual(convs=(Conv(),)),):
        with pytest.raises(UsageError):
            Level(up=(bad,))
    with pytest.raises(UsageError):
        Residual(convs=(Pool(),))
    with pytest.raises(UsageError):
        Residual(convs=(Conv(),), shortcut=Pool())
    assert Residual(convs=Conv()).convs == (Conv(),)  # one conv: a list of one


def test_residual_unit_from_json_with_a_null_shortcut():
    data = json.loads('{"levels": [{"convs": [{"type": "residual", "convs": [{"kernel": 3, '
                      '"padding": 1}], "shortcut": null}]}]}')
    assert from_dict(data).levels[0].convs[0] == Residual(convs=(Conv(3, 1, 1),))


def test_fixed_size_block():
    desc = from_dict({"spatial_dims": 3, "levels": [{**DOWN_UP}],
                      "bottom": [{"type": "fixed", "size": [6, 6, 4]}]})
    block = desc.bottom[0]
    assert block == Fixed((6, 6, 4)) and block.kind == "fixed" and block.norm is None
    assert block.strides() == () and block.label(2) == "fixed size 4"
    assert block.apply(6, 0) == 6
    assert from_dict({"levels": [{"convs": [{"type": "fixed", "size": 8}]}]}).levels[0].convs[
        0].label(0) == "fixed size 8"
    assert "size is required" in _refused({"levels": [{"convs": [{"type": "fixed"}]}]})
    assert "size must be in 1.." in _refused({"levels": [{"convs": [{"type": "fixed",
                                                                      "size": 0}]}]})
    _refused({"levels": [{"convs": [{"type": "fixed", "size": 4, "stride": 1}]}]}, "unknown_key")
    _refused({"levels": [{"dec_convs": [{"type": "fixed", "size": [4, 4, 4]}]}]}, "axis_count")
    message = _refused({"levels": [{"down": [{"type": "fixed", "size": 4}]}]})
    assert "levels[0].down[0]: a fixed layer cannot stand here" in message
    _refused({"levels": [{"down": [POOL], "up": [{"type": "fixed", "size": 4}]}]})
    with pytest.raises(UsageError):
        Level(down=(Fixed(4),))
    with pytest.raises(UsageError):
        Fixed()


def test_block_lists_take_the_new_kinds_in_python():
    unit = Residual(convs=(Conv(3, 1, 1),))
    level = Level(convs=(unit, Fixed(8)), dec_convs=(Fixed(8), Conv(1)), down=(unit,),
                  up=(Upsample(), PadToSkip()))
    desc = UNetDescription(levels=(level,), bottom=(unit, Fixed(4)), head=(unit,))
    assert [layer.kind for layer in desc.layers(nested=False)].count("fixed") == 3
    with pytest.raises(UsageError):
        UNetDescription(levels=(level,), head=(Pool(),))


@pytest.mark.parametrize("kind", ["upsample", "resize", "pad_to_skip"])
def test_up_layers_refuse_an_unknown_norm(kind):
    _refused({"levels": [{"down": [POOL], "up": [{"type": kind, "norm": "layer"}]}]})


new_kinds = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 8) | st.sampled_from(
        ["conv", "residual", "fixed", "pad_to_skip", "max_pool", "instance", "none", "crop"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["levels", "convs", "down", "up", "dec_convs", "bottom",
                                       "head", "type", "shortcut", "size", "kernel", "stride",
                                       "gate", "skip", "norm", "spatial_dims"]), children,
                      max_size=4),
    max_leaves=16)


@settings(max_examples=200)
@given(new_kinds)
def test_parser_fuzz_new_kinds_refuse_by_rule(data):
    """Residual units, fixed blocks, pads and gates: parsed or refused by rule, no traceback."""
    try:
        from_dict(data)
    except NNBridgeError as exc:
        assert str(exc) and exc.rule in ("description_value", "unknown_key", "unknown_name",
                                         "axis_count", "work_limit")
