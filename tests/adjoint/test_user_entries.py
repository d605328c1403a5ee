"""A user's module of entries: loading it, and ``nnbridge adjoint --entries`` on it (table,
JSON, JUnit, exit status 0 / 1 / 2)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from nnbridge.spec.errors import UsageError

from nnbridge.adjoint import load_entries, run_entry
from nnbridge.adjoint.registry import _REGISTRY
from nnbridge.cli import main

torch = pytest.importorskip("torch")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "adjoint" / "entries.py"

GOOD_AND_BAD = '''
import torch
from nnbridge.adjoint import entry, torch_entry
from nnbridge.adjoint.registry import Case


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return {factor} * g


torch_entry("{prefix}.double", Double.apply, (3, 4))


@entry("{prefix}.numpy_map")
def _map(s):
    x = s.array((3,))
    return Case((x,), forward=lambda x: 4 * x, jvp=lambda dx: 4 * dx,
                vjp=lambda g: (4 * g,))
'''


@pytest.fixture(autouse=True)
def clean_registry():
    """Entries loaded by a test leave the registry as it was."""
    before = dict(_REGISTRY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)
    torch.set_num_threads(threads)


def write(path: Path, factor: int = 2, prefix: str = "mine") -> Path:
    path.write_text(GOOD_AND_BAD.format(factor=factor, prefix=prefix))
    return path


def test_the_example_module_loads_and_passes():
    entries = load_entries(str(EXAMPLE))
    assert [e.name for e in entries] == [
        "examples.matmul", "examples.bias_add", "examples.softmax", "examples.layer_norm",
        "examples.conv_unfold", "examples.gather_rows", "examples.tanh", "examples.scale_rows"]
    for item in entries:
        results = run_entry(item, seed=0, trials=1)
        assert all(r.passed for r, _ in results), (item.name, results)


def test_a_file_loads_afresh_and_a_package_module_by_name(tmp_path, monkeypatch):
    path = write(tmp_path / "my_entries.py")
    first = load_entries(str(path))
    assert [e.name for e in first] == ["mine.double", "mine.numpy_map"]
    again = load_entries(str(path))  # executed again: its entries replace the first ones
    assert [e.name for e in again] == ["mine.double", "mine.numpy_map"]
    assert again[0] is not first[0] and _REGISTRY["mine.double"] is again[0]
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(package / "checks.py", prefix="pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [e.name for e in load_entries("pkg.checks")] == ["pkg.double", "pkg.numpy_map"]


@pytest.mark.parametrize("text, rule, words", [
    (None, "config_file", "no such file"),
    ("raise RuntimeError('import went wrong')", "user_code",
     "raised RuntimeError: import went wrong"),
    ("import sys\nsys.exit(3)", "user_code", "called sys.exit(3)"),
    ("x = 1", "user_code", "declares no adjoint entry"),
    ("from nnbridge.adjoint import torch_entry\ntorch_entry('bad', lambda x: x, (2, -1))",
     "param_value", "at least 0"),
    ("from nnbridge.adjoint import torch_entry\ntorch_entry('', lambda x: x, (2,))",
     "param_value", "name"),
])
def test_a_module_that_does_not_load_is_a_usage_error(tmp_path, text, rule, words):
    path = tmp_path / "entries.py"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError) as info:
        load_entries(str(path))
    assert info.value.rule == rule and words in str(info.value), str(info.value)


def test_names_that_are_no_module(tmp_path):
    for spec, rule in (("not a module", "param_value"), ("no_such_module_xyz", "user_code"),
                       ("", "param_value")):
        with pytest.raises(UsageError) as info:
            load_entries(spec)
        assert info.value.rule == rule


def test_two_modules_may_not_claim_one_name(tmp_path):
    load_entries(str(write(tmp_path / "a.py")))
    with pytest.raises(UsageError, match="already exists"):
        load_entries(str(write(tmp_path / "b.py")))


# ---------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------
def test_cli_entries_pass(tmp_path, capsys):
    path = write(tmp_path / "ok.py")
    js, xml = tmp_path / "a.json", tmp_path / "a.xml"
    assert main(["adjoint", "--entries", str(path), "--json", str(js),
                 "--junit", str(xml)]) == 0
    report = json.loads(js.read_text())
    assert report["passed"] is True and report["count"] == 2
    double = next(e for e in report["entries"] if e["name"] == "mine.double")
    assert double["mode"] == "exact" and double["worst_residual"] == 0.0
    modes = {c["mode"]: c for c in double["checks"]}
    assert set(modes) == {"contract", "exact", "float32", "float64", "fd"}
    assert modes["fd"]["applicable"] is False and modes["fd"]["passed"] is True
    suite = ET.parse(xml).getroot().find("testsuite")
    assert int(suite.get("failures")) == 0 and len(suite.findall("testcase/skipped")) == 1
    out = capsys.readouterr().out
    assert "2/2 entries pass" in out and "n/a" in out


def test_cli_entries_fail_and_filter(tmp_path, capsys):
    path = write(tmp_path / "bad.py", factor=3)
    js = tmp_path / "a.json"
    assert main(["adjoint", "--entries", str(path), "-k", "double", "--json", str(js),
                 "--trials", "1"]) == 1
    report = json.loads(js.read_text())
    assert [e["name"] for e in report["entries"]] == ["mine.double"]
    assert report["entries"][0]["passed"] is False
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("spec, rule", [("missing/entries.py", "config_file"),
                                        ("no_such_module_xyz", "user_code"),
                                        ("bad shapes", "param_value")])
def test_cli_bad_entries_exit_two_in_one_line(tmp_path, capsys, spec, rule):
    assert main(["adjoint", "--entries", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnbridge: error [{rule}] ") and err.count("\n") == 1, err


def test_cli_user_code_errors_exit_two(tmp_path, capsys):
    path = tmp_path / "raises.py"
    path.write_text(textwrap.dedent("""
        from nnbridge.adjoint import torch_entry
        torch_entry("x", lambda x: x, (2.5,))
    """))
    assert main(["adjoint", "--entries", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnbridge: error [param_value] torch_entry: input 0") and "Traceback" \
        not in err
