"""``nnbridge unet check`` / ``rule``: exit codes, the JSON schema, bad input without a
traceback."""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbridge.cli import main


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_valid_and_invalid_exit_codes(capsys):
    code, out, _ = run(["unet", "check", "572x572", "--preset", "ronneberger"], capsys)
    assert code == 0 and "388x388" in out
    code, out, _ = run(["unet", "check", "573x572", "--preset", "ronneberger"], capsys)
    assert code == 1 and "down0_exact" in out and "588 (pad 15)" in out


def test_json_schema(capsys):
    code, out, _ = run(["unet", "check", "573x572", "--preset", "smp", "--json"], capsys)
    data = json.loads(out)
    assert code == 1 and data["valid"] is False
    h, w = data["axes"]
    assert (h["size"], h["valid"], h["nearest_below"], h["nearest_above"]) == (573, False, 544,
                                                                               576)
    assert (w["size"], w["nearest_below"], w["nearest_above"]) == (572, 544, 576)
    assert h["rule"]["words"] == "a multiple of 32" and h["rule"]["proof"] == "proved"
    for ob in h["obligations"]:
        assert set(ob) >= {"name", "holds", "values"} and isinstance(ob["holds"], bool)
    assert h["obligations"][0] == {**h["obligations"][0], "name": "input_divisible",
                                   "holds": False}


def test_params_and_rule(capsys):
    code, out, _ = run(["unet", "check", "24x24", "--preset", "monai", "--param",
                        "strides=2,3", "--param", "num_res_units=2", "--json"], capsys)
    assert code == 0 and json.loads(out)["valid"]
    code, out, _ = run(["unet", "rule", "--preset", "torchlean-unet2", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["proved"]
    assert [a["words"] for a in data["axes"]] == ["even", "even"]
    code, out, _ = run(["unet", "rule", "--preset", "smp", "--no-closed-form"], capsys)
    assert code == 0 and "a multiple of 32" in out


def test_config_file(capsys, tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples" / "unet" / "ronneberger.toml"
    code, out, _ = run(["unet", "check", "572x572", "--config", str(example)], capsys)
    assert code == 0


BAD_INPUT = [
    (["unet", "check", "-5x572", "--preset", "ronneberger"], "cli_usage"),
    (["unet", "check", "0x572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "0", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "572.5x572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "abcx572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "\uff15\uff17\uff12x\uff15\uff17\uff12", "--preset", "ronneberger"],
     "input_size"),
    (["unet", "check", "\u0665\u0667\u0662x572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", f"{2**60}x572", "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "572x" + "9" * 5000, "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "572x" + "9" * 150, "--preset", "ronneberger"], "input_size"),
    (["unet", "check", "572x572", "--preset", "nope"], "unknown_name"),
    (["unet", "check", "572x572"], "cli_usage"),
    (["unet", "check", "572x572", "--preset", "smp", "--config", "x.toml"], "cli_usage"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "strides=2,0"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "kernel_size=4"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "colour=red"],
     "unknown_name"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "strides"], "param_syntax"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "=2"], "param_syntax"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "strides=2",
      "--param", "strides=2"], "param_syntax"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "channels=0,0,0,0"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "channels=4,0"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "num_res_units=1000"],
     "work_limit"),
    (["unet", "check", "572x572", "--preset", "monai", "--param",
      "strides=" + ",".join(["1"] * 100_000)], "work_limit"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "strides=" + "9" * 5000],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "monai", "--param", "spatial_dims=0"],
     "description_value"),
    (["unet", "check", "572x572", "--preset", "ronneberger", "--param", "depth=1048576"],
     "work_limit"),
    (["unet", "check", "572x572", "--preset", "ronneberger", "--param", "depth=0"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "ronneberger", "--param", "depth=\uff14"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "ronneberger", "--param", "depth=1_0"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "ronneberger", "--param", "exact_pool=maybe"],
     "param_value"),
    (["unet", "check", "572x572", "--preset", "smp", "--param", "encoder_depth=9"],
     "param_value"),
    (["unet", "check", "572x572", "--config", "/nonexistent.toml"], "config_file"),
    (["unet", "check", "572x572", "--config", "/"], "config_file"),
    (["unet", "rule", "--preset", "smp", "--param", "version=0.5"], "param_value"),
    (["unet", "rule", "--preset", "monai", "--param", "strides=" + ",".join(["2"] * 14),
      "--param", "num_res_units=16"], "work_limit"),
    (["unet", "check", "64x64", "--preset", "monai", "--param", "strides=1000,1000"],
     "rule_period"),
    (["unet", "check", "64x64", "--preset", "smp", "--bogus"], "cli_usage"),
    (["unet"], "cli_usage"),
    (["unet", "verify"], "cli_usage"),
]


@pytest.mark.parametrize(("argv", "rule"), BAD_INPUT,
                         ids=[" ".join(a)[:60] for a, _ in BAD_INPUT])
def test_bad_input_exits_2_with_one_line(argv, rule, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert "Traceback" not in out + err
    assert err.count("\n") == 1 and err.startswith(f"nnbridge: error [{rule}] "), err
    assert len(err) < 600  # a 5000-digit value is named by its length, not repeated


def test_malformed_config_files_exit_2(capsys, tmp_path):
    cases = {"bad.toml": "[level\n", "bad.json": "{", "keys.json": '{"levels": [{"convz": []}]}',
             "values.toml": "depth = 2\n[level]\nconvs = [{kernel = -1}]\n",
             "untyped_down.json": '{"levels": [{"down": [{"kernel": 3, "stride": 2}]}]}',
             "deep.json": "[" * 100_000 + "]" * 100_000,
             "digits.toml": "depth = " + "9" * 5000}
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        code, out, err = run(["unet", "check", "64x64", "--config", str(path)], capsys)
        assert code == 2 and "Traceback" not in err and str(path) in err
        assert err.count("\n") == 1


@settings(max_examples=100)
@given(st.text(max_size=20) | st.sampled_from(["\u00b9x5", "\u0663x5", "+64x64", "64X64"]))
def test_fuzzed_shapes_never_traceback(text):
    from nnbridge.spec.errors import UsageError

    from nnbridge.unet import check

    try:
        result = check("smp", text)
    except UsageError as exc:
        assert exc.rule == "input_size"
    else:  # accepted: two ASCII-digit sizes, each a positive int
        assert len(result.shape) == 2 and all(n >= 1 for n in result.shape)
        assert all(part.strip().lstrip("+").isascii() for part in text.lower().split("x"))


def test_well_formed_sizes_that_do_not_fit_exit_1(capsys):
    """Exit 1 only for a well-formed input that does not fit; 2 for malformed input."""
    assert run(["unet", "check", "1x1", "--preset", "ronneberger"], capsys)[0] == 1
    assert run(["unet", "check", f"{2**48}x572", "--preset", "ronneberger"], capsys)[0] == 1
    assert run(["unet", "check", f"{2**48 + 1}x572", "--preset", "ronneberger"], capsys)[0] == 2


def test_subprocess_no_traceback():
    proc = subprocess.run([sys.executable, "-m", "nnbridge.cli", "unet", "check", "-1x5",
                           "--preset", "smp"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "nnbridge.cli", "unet", "check", "64x64",
                           "--preset", "smp", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["valid"] is True
