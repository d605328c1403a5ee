"""``nnbridge torchlean export|check|run``: exit codes 0/1/2, ``--json``, bad input as one
line without a traceback."""

import json
from pathlib import Path

import numpy as np
import pytest

from nnbridge.cli import main

pytest.importorskip("torch")

MODELS = str(Path(__file__).with_name("torch_models.py"))


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    graph = folder / "m.ir.json"
    assert main(["torchlean", "export", f"{MODELS}:example", "--example-shape", "1,3,10,10",
                 "-o", str(graph)]) == 0
    x = folder / "x.npy"
    np.save(x, np.random.default_rng(0).standard_normal((3, 10, 10)).astype(np.float32))
    return folder, graph, folder / "m.weights.json", x


def test_export_writes_the_graph_and_the_store(files, capsys):
    folder, graph, weights, _ = files
    assert graph.exists() and weights.exists()
    code, out, _ = run(["torchlean", "export", f"{MODELS}:mlp", "--example-shape", "1,2", "-o",
                        str(folder / "mlp.ir.json"), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["input_shape"] == [2] and data["nodes"] == 4
    assert data["weights"].endswith("mlp.weights.json")


def test_export_names_what_the_ir_cannot_express(files, capsys):
    folder = files[0]
    code, _, err = run(["torchlean", "export", f"{MODELS}:dilated", "--example-shape",
                        "1,3,8,8", "-o", str(folder / "d.ir.json")], capsys)
    assert code == 2 and "[unknown_op]" in err and "dilation" in err and "Traceback" not in err
    code, _, err = run(["torchlean", "export", f"{MODELS}:example", "--example-shape",
                        "1,3,x", "-o", str(folder / "d.ir.json")], capsys)
    assert code == 2 and "example-shape" in err


def test_check_prints_the_proved_valid_sizes(files, capsys):
    _, graph, _, _ = files
    code, out, _ = run(["torchlean", "check", str(graph)], capsys)
    assert code == 0 and "VALID" in out and "only 10, 11" in out and "proved" in out
    code, out, _ = run(["torchlean", "check", str(graph), "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["valid_sizes"] == {"H": "only 10, 11",
                                                                 "W": "only 10, 11"}


def test_check_says_any_when_nothing_constrains_a_size(tmp_path, capsys):
    graph = tmp_path / "c.ir.json"
    graph.write_text(json.dumps({"input_id": 0, "output_id": 1, "nodes": [
        {"id": 0, "kind": "input", "parents": [], "shape": [3, 8, 8]},
        {"id": 1, "kind": "relu", "parents": [0], "shape": [3, 8, 8]}]}))
    code, out, _ = run(["torchlean", "check", str(graph), "--json"], capsys)
    assert code == 0 and json.loads(out)["valid_sizes"] == {"H": "any", "W": "any"}


def test_check_rejects_with_exit_1_and_bad_input_with_2(tmp_path, files, capsys):
    _, graph, _, _ = files
    data = json.loads(graph.read_text())
    data["nodes"][3]["shape"] = [4, 4, 4]
    bad = tmp_path / "bad.ir.json"
    bad.write_text(json.dumps(data))
    code, out, _ = run(["torchlean", "check", str(bad)], capsys)
    assert code == 1 and "INVALID" in out and "[shape_match]" in out and "node 3" in out
    code, out, _ = run(["torchlean", "check", str(bad), "--json"], capsys)
    assert code == 1 and json.loads(out)["check"] == "shape"
    (tmp_path / "nojson").write_text("{")
    code, _, err = run(["torchlean", "check", str(tmp_path / "nojson")], capsys)
    assert code == 2 and "[config_file]" in err


def test_run_with_torch_agrees(files, capsys):
    _, graph, weights, x = files
    code, out, _ = run(["torchlean", "run", str(graph), "--weights", str(weights), "--input",
                        str(x), "--torch", f"{MODELS}:example"], capsys)
    assert code == 0 and "AGREES" in out
    code, out, _ = run(["torchlean", "run", str(graph), "--weights", str(weights), "--input",
                        str(x), "--torch", f"{MODELS}:example", "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["output_shape"] == [10] and data["torch"]["agree"]
    assert len(data["output"]) == 10


def test_run_disagrees_with_another_module_with_exit_1(files, capsys):
    """A store from one seed against a module from another: caught."""
    folder, graph, weights, x = files
    other = folder / "other.py"
    other.write_text("import torch\nfrom torch import nn\n\ndef make():\n"
                     "    torch.manual_seed(99)\n"
                     "    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),"
                     " nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(100, 10))\n")
    code, out, _ = run(["torchlean", "run", str(graph), "--weights", str(weights), "--input",
                        str(x), "--torch", f"{other}:make"], capsys)
    assert code == 1 and "DISAGREES" in out


@pytest.mark.parametrize("make_input, words", [
    (lambda p: np.save(p, np.zeros((1, 3, 10, 10), np.float32)), "shape"),
    (lambda p: np.save(p, np.zeros((3, 10, 10), np.int32)), "float32 or float64"),
    (lambda p: p.write_text("not numpy"), "not a .npy array"),
])
def test_run_refuses_bad_inputs_with_exit_2(tmp_path, files, capsys, make_input, words):
    _, graph, weights, _ = files
    path = tmp_path / "x.npy"
    make_input(path)
    code, _, err = run(["torchlean", "run", str(graph), "--weights", str(weights), "--input",
                        str(path)], capsys)
    assert code == 2 and words in err and "Traceback" not in err
