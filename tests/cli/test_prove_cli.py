"""``nnbridge prove``: exit codes and the JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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
    assert "known: " in err and ", cnn2, conv, " in err and err.count("\n") == 1


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


def test_json_names_the_solver_of_each_verdict(tmp_path):
    out = tmp_path / "proofs.json"
    assert main(["prove", "--family", "cnn2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    for ob in report["obligations"]:
        assert ob["solver"] == "z3" and ob["statement"] and ob["status"] == "proved"
        assert ob["queries"] and all(q["z3"] in ("sat", "unsat") for q in ob["queries"])
    closed = next(o for o in report["obligations"] if o["name"] == "cnn2_feat_h_closed_form")
    assert "1 for H < 4, else floor(H/4)" in closed["statement"]


def test_smtlib_writes_every_query_and_cvc5_agrees(tmp_path, capsys):
    pytest.importorskip("cvc5")
    folder, out = tmp_path / "smt", tmp_path / "proofs.json"
    assert main(["prove", "--family", "conv", "--smtlib", str(folder), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    queries = [q for ob in report["obligations"] for q in ob["queries"]]
    assert all(ob["solver"] == "z3+cvc5" for ob in report["obligations"])
    assert queries and all(q["cvc5"] == q["z3"] for q in queries)
    assert len(list(folder.glob("*.smt2"))) == len(queries)
    assert (folder / "conv_phantom_cell.claim.smt2").read_text().splitlines()[1] \
        == "(set-logic ALL)"
    printed = capsys.readouterr().out
    assert f"Z3 and cvc5 agree on {len(queries)}/{len(queries)} queries" in printed


@pytest.mark.parametrize("bad", ["/proc/nnbridge/smt", "FILE"])
def test_unwritable_smtlib_folder_fails_before_any_proof(bad, tmp_path, capsys, monkeypatch):
    import nnbridge.proofs.engine as engine

    def no_proof(*args, **kwargs):
        raise AssertionError("a proof ran before the folder was checked")

    monkeypatch.setattr(engine, "check", no_proof)
    if bad == "FILE":
        bad = str(tmp_path / "a-file")
        (tmp_path / "a-file").write_text("x")
    assert main(["prove", "--smtlib", bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnbridge: error [output_path] cannot write '{bad}'")
    assert err.count("\n") == 1


def test_mutation_sample_reports_the_kill_rate(tmp_path, capsys):
    out = tmp_path / "mutation.json"
    assert main(["prove", "--mutation", "--mutation-sample", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["mutants"] == 2 and report["killed"] + report["equivalent"] == 2
    assert report["baseline"]["killed"] is False and report["passed"] is True
    assert {"key", "location", "killed_by", "semantics"} <= set(report["results"][0])
    assert "mutants killed" in capsys.readouterr().out


@pytest.mark.parametrize("argv, rule", [
    (["prove", "--mutation-sample", "3"], "cli_usage"),
    (["prove", "--mutation", "--mutation-sample", "x"], "cli_usage"),
    (["prove", "--mutation", "--mutation-sample", "0"], "param_value"),
    (["prove", "--mutation", "--family", "conv"], "cli_usage"),
])
def test_bad_mutation_options_are_bad_input(argv, rule, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nnbridge: error [{rule}]") and err.count("\n") == 1
