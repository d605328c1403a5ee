"""``nnbridge prove``: exit codes and the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

from nnbridge.cli import main


def test_prove_json(tmp_path):
    out = tmp_path / "proofs.json"
    assert main(["prove", "--family", "conv", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["passed"] is True and report["count"] == len(report["obligations"]) >= 4
    first = report["obligations"][0]
    assert {"name", "statement", "status", "passed", "seconds", "counterexample"} <= set(first)


def test_unknown_family_is_bad_input(capsys):
    assert main(["prove", "--family", "nope"]) == 2
    assert "no obligation family 'nope'" in capsys.readouterr().err


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "nnbridge.cli", "prove", "--family", "cnn2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "obligations hold" in done.stdout
