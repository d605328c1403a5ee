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
    err = capsys.readouterr().err
    assert err.startswith("nnbridge: error [unknown_name] unknown obligation family 'nope'")
    assert "known: cnn2, conv" in err and err.count("\n") == 1


def test_unwritable_json_fails_before_any_proof(capsys, monkeypatch):
    """``--json /proc/x`` is refused at once: not one obligation is checked first."""
    import nnbridge.proofs.engine as engine

    def no_proof(*args, **kwargs):
        raise AssertionError("a proof ran before the output path was checked")

    monkeypatch.setattr(engine, "check", no_proof)
    assert main(["prove", "--json", "/proc/nnbridge/x.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnbridge: error [output_path] cannot write '/proc/nnbridge/x.json'")
    assert err.count("\n") == 1


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "nnbridge.cli", "prove", "--family", "cnn2"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "obligations hold" in done.stdout
