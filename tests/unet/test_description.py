"""Descriptions from TOML/JSON: the examples, bad keys and values, and a fuzzed parser."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import ShapeError

from nnbridge.unet import build_preset, check, from_dict, load, rule_for, trace

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


@pytest.mark.parametrize(("data", "rule"), [
    ({"levels": [{"convz": []}]}, "unknown_key"),
    ({"levels": [{}], "colour": 1}, "unknown_key"),
    ({"levels": [{"down": [{"type": "max_pool", "kernal": 2}]}]}, "unknown_key"),
    ({"levels": [{"down": [{"type": "pool"}]}]}, "unknown_key"),
    ({"levels": [{"convs": [{"kernel": 0}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": -3}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": 2.5}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": True}]}]}, "description_value"),
    ({"levels": [{"convs": [{"kernel": [3, 3, 3]}]}]}, "axis_count"),
    ({"levels": [{"skip": "glue"}]}, "description_value"),
    ({"levels": []}, "description_value"),
    ({"levels": "four"}, "description_value"),
    ({"level": {}, "depth": 0}, "description_value"),
    ({"spatial_dims": 4, "levels": [{}]}, "description_value"),
    ({"training_batch": 0, "levels": [{}]}, "description_value"),
    ({"training_batch": True, "levels": [{}]}, "description_value"),
    ({"training_batch": "1", "levels": [{}]}, "description_value"),
    ([1, 2], "description_value"),
])
def test_bad_descriptions_name_the_problem(data, rule):
    with pytest.raises(ShapeError) as info:
        from_dict(data)
    assert info.value.rule == rule


def test_malformed_files(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[level\nconvs = ")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{\"levels\": [")
    for path, rule in ((bad_toml, "config_file"), (bad_json, "config_file"),
                       (tmp_path / "missing.toml", "config_file")):
        with pytest.raises(ShapeError) as info:
            load(path)
        assert info.value.rule == rule and str(path) in str(info.value)


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
    except ShapeError as exc:
        assert str(exc)
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
        except ShapeError:
            pass


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
