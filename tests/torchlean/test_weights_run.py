"""The weight store beside an IR graph (keys named when missing, extra or misshapen), the
graph run with the NumPy spec, and the derived float32 bound: tight enough to catch a
planted defect, never vacuous."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnbridge.spec.errors import UsageError  # noqa: E402

from nnbridge.graph.load import load_model  # noqa: E402
from nnbridge.torchlean import compare_torch, load_ir, read_weights, run_ir, write_ir  # noqa: E402

MODELS = Path(__file__).with_name("torch_models.py")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    module = load_model(f"{MODELS}:example")
    written = write_ir(module, folder / "m.ir.json", (1, 3, 10, 10))
    return module, written, load_ir(written.graph_path)


def _store(written):
    return json.loads(written.weights_path.read_text())


@pytest.mark.parametrize("edit, key, words", [
    (lambda d: d["params"].pop("nodes.1.bias"), "nodes.1.bias", "missing key"),
    (lambda d: d["params"].update({"nodes.2.weight": [1.0]}), "nodes.2.weight", "no node"),
    (lambda d: d["params"].update({"nodes.5.bias": [0.0] * 9}), "nodes.5.bias", "9 entries"),
    (lambda d: d["params"]["nodes.1.weight"][0][0][0].__setitem__(0, None), "nodes.1.weight",
     "null"),
    (lambda d: d["params"].update({"nodes.5.weight": d["params"]["nodes.5.weight"][0]}),
     "nodes.5.weight", "100 entries at level 0, not 10"),
])
def test_a_bad_weight_store_names_the_key(tmp_path, exported, edit, key, words):
    _, written, ir = exported
    data = _store(written)
    edit(data)
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UsageError) as info:
        read_weights(path, ir)
    assert repr(key) in str(info.value) and words in str(info.value), str(info.value)


def test_the_bound_catches_a_planted_defect(exported):
    """A kernel entry off by 1e-3 (above the float32 bound of this graph, far below the
    values) makes the spec and PyTorch disagree; the exact store agrees."""
    module, written, ir = exported
    weights = read_weights(written.weights_path, ir)
    x = np.random.default_rng(3).standard_normal((3, 10, 10))
    good = compare_torch(ir, weights, x, module)
    assert good.agree and good.max_bound < 1e-4
    planted = dict(weights)
    planted["nodes.1.weight"] = weights["nodes.1.weight"].copy()
    planted["nodes.1.weight"][0, 0, 1, 1] += 1e-3
    bad = compare_torch(ir, planted, x, module)
    assert not bad.agree and bad.worst_ratio > 1


def test_run_checks_its_input(exported):
    _, written, ir = exported
    weights = read_weights(written.weights_path, ir)
    with pytest.raises(UsageError) as info:
        run_ir(ir, weights, np.zeros((1, 3, 10, 10)))
    assert info.value.rule == "shape_match"
    with pytest.raises(UsageError) as info:
        run_ir(ir, weights, np.zeros((3, 10, 10), dtype=np.int64))
    assert "float" in str(info.value)


def test_attention_runs_with_its_scale_filled_in():
    """An IR attention (lowered to 10 nodes) runs with the spec; its scale is 1/sqrt(E)."""
    from nnbridge.torchlean import parse_ir

    nodes = [{"kind": "input", "parents": [], "shape": [1, 3, 4]},
             {"kind": "multihead_attention", "parents": [0, 0, 0], "value_kind": "tuple",
              "tuple_shapes": [[1, 3, 4]], "embed_dim": 4, "num_heads": 1,
              "batch_first": True, "dropout_zero": True},
             {"kind": "tuple_getitem", "parents": [1], "shape": [1, 3, 4], "index": 0}]
    ir = parse_ir({"input_id": 0, "output_id": 2,
                   "nodes": [dict(n, id=i) for i, n in enumerate(nodes)]})
    rng = np.random.default_rng(0)
    w = {f"nodes.{i}.{p}": rng.standard_normal((4, 4) if p == "weight" else 4)
         for i in (1, 2, 3, 10) for p in ("weight", "bias")}
    x = rng.standard_normal((1, 3, 4))
    mha = torch.nn.MultiheadAttention(4, 1, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate(
            [w[f"nodes.{i}.weight"] for i in (1, 2, 3)])))
        mha.in_proj_bias.copy_(torch.from_numpy(np.concatenate(
            [w[f"nodes.{i}.bias"] for i in (1, 2, 3)])))
        mha.out_proj.weight.copy_(torch.from_numpy(w["nodes.10.weight"]))
        mha.out_proj.bias.copy_(torch.from_numpy(w["nodes.10.bias"]))
        t = torch.from_numpy(x)
        expected = mha(t, t, t, need_weights=False)[0].numpy()
    np.testing.assert_allclose(run_ir(ir, w, x), expected, rtol=1e-10, atol=1e-12)
