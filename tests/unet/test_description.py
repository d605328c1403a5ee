"""Descriptions from TOML/JSON: the examples, bad keys and values, and a fuzzed parser."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import NNBridgeError, ShapeError, UsageError

from nnbridge.unet import build_preset, check, from_dict, load, rule_for, trace
from nnbridge.unet.description import MAX_FILE_BYTES, MAX_LAYERS, MAX_LEVELS, MAX_NESTING

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
