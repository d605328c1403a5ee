"""TorchLean's state-dict JSON: fixtures written with torch in the documented formats
(TorchLean.MLP with I,H,O = 2,3,1; TorchLean.CNN2 with Cin=1, C=2, 8x8; the generic
adapter's file), read into nnbridge's spec models with torch's outputs, written back and
read by torch with nnbridge's outputs; every malformed file names the key at fault."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnbridge.spec.errors import UsageError  # noqa: E402
from nnbridge.spec.models import CNN2, MLP  # noqa: E402
from nnbridge.spec.shapes import CNN2Config  # noqa: E402

from nnbridge.graph.load import load_model  # noqa: E402
from nnbridge.torchlean import load, load_state_dict, save, save_state_dict  # noqa: E402

MODELS = Path(__file__).with_name("torch_models.py")


def model(name):
    return load_model(f"{MODELS}:{name}")


def adapter_file(module, path, *, meta=None, prefix=""):
    """The generic adapter (Export/StateDict.lean): tolist() values, per-key shape and
    dtype in meta, sort_keys, allow_nan=False."""
    sd = {prefix + k: v for k, v in module.state_dict().items()}
    payload = {"params": {k: v.tolist() for k, v in sd.items()},
               "meta": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sd.items()}}
    payload["meta"].update(meta or {})
    path.write_text(json.dumps(payload, sort_keys=True, allow_nan=False))
    return path


def mlp_file(module, path, keys="layers"):
    """TorchLean.MLP: layers.* (with pytorch_keys) or fc1/fc2."""
    sd = module.state_dict()
    if keys == "fc":
        sd = {k.replace("layers.0", "fc1").replace("layers.2", "fc2"): v for k, v in sd.items()}
    meta = {"format": "TorchLean.MLP", "dtype": "float32"}
    if keys == "layers":
        meta["pytorch_keys"] = "layers.*"
    path.write_text(json.dumps({"params": {k: v.tolist() for k, v in sd.items()},
                                "meta": meta}, allow_nan=False))
    return path


def torch_out(module, x):
    with torch.no_grad():
        return module.double()(torch.from_numpy(x)).numpy()


X_MLP = np.array([0.3, -1.2])
X_CNN = np.random.default_rng(5).standard_normal((1, 8, 8))


@pytest.mark.parametrize("keys", ["layers", "fc"])
def test_torch_mlp_json_spec_gives_torchs_outputs(tmp_path, keys):
    module = model("mlp")
    spec = load(mlp_file(module, tmp_path / "mlp.json", keys))
    assert isinstance(spec, MLP) and (spec.in_dim, spec.hidden, spec.out_dim) == (2, 3, 1)
    assert list(spec.params) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for x in (X_MLP, -X_MLP, np.array([2.0, 0.5])):
        np.testing.assert_allclose(spec.forward(x), torch_out(module, x), rtol=1e-12)


def test_torch_cnn2_json_spec_gives_torchs_outputs(tmp_path):
    module = model("cnn2")
    path = tmp_path / "cnn2.json"
    sd = module.state_dict()
    path.write_text(json.dumps({"params": {k: v.tolist() for k, v in sd.items()},
                                "meta": {"format": "TorchLean.CNN2", "dtype": "float32"}}))
    spec = load(path)
    assert isinstance(spec, CNN2) and spec.input_shape == (1, 8, 8) and spec.feat_size == 8
    assert list(spec.params)[-2:] == ["fc.weight", "fc.bias"]
    np.testing.assert_allclose(spec.forward(X_CNN), torch_out(module, X_CNN[None])[0],
                               rtol=1e-12)


@pytest.mark.parametrize("name, x", [("mlp", X_MLP), ("cnn2", X_CNN)])
def test_the_generic_adapters_file_is_recognised_by_its_keys(tmp_path, name, x):
    module = model(name)
    path = adapter_file(module, tmp_path / "sd.json")
    spec = load(path)
    batch = x[None] if name == "cnn2" else x
    np.testing.assert_allclose(spec.forward(x).reshape(-1),
                               torch_out(module, batch).reshape(-1), rtol=1e-12)
    tensors = load_state_dict(path)
    assert set(tensors) == set(module.state_dict())
    assert all(tensors[k].shape == tuple(v.shape) for k, v in module.state_dict().items())


def test_nnbridge_mlp_json_torch_gives_nnbridges_outputs(tmp_path):
    spec = MLP(2, 3, 1, seed=11)
    for keys in ("fc", "layers"):
        path = save(spec, tmp_path / f"mlp_{keys}.json", keys=keys)
        data = json.loads(path.read_text())
        assert data["meta"]["format"] == "TorchLean.MLP"
        params = {k.replace("fc1", "layers.0").replace("fc2", "layers.2"):
                  torch.tensor(v, dtype=torch.float64) for k, v in data["params"].items()}
        module = model("mlp").double()
        module.load_state_dict(params)
        np.testing.assert_allclose(torch_out(module, X_MLP), spec.forward(X_MLP), rtol=1e-12)
        assert load(path).forward(X_MLP) == pytest.approx(spec.forward(X_MLP), rel=1e-15)


@pytest.mark.parametrize("head", ["head", "fc"])
def test_nnbridge_cnn2_json_torch_gives_nnbridges_outputs(tmp_path, head):
    cfg = CNN2Config(c1=2, c2=2, out_dim=2)
    spec = CNN2(cfg, 1, 8, 8, seed=12, head=head)
    path = save(spec, tmp_path / "cnn2.json")
    data = json.loads(path.read_text())
    assert data["meta"]["format"] == "TorchLean.CNN2"
    assert sorted(data["params"]) == sorted(["conv1.weight", "conv1.bias", "conv2.weight",
                                             "conv2.bias", "fc.weight", "fc.bias"])
    module = model("cnn2").double()
    module.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                           for k, v in data["params"].items()})
    np.testing.assert_allclose(torch_out(module, X_CNN[None])[0], spec.forward(X_CNN),
                               rtol=1e-12)


def test_a_cnn2_that_is_not_torchleans_is_refused_then_written_generic(tmp_path):
    spec = CNN2(CNN2Config(c1=2, c2=3, out_dim=4), 1, 8, 8)
    with pytest.raises(UsageError) as info:
        save(spec, tmp_path / "x.json")
    assert "save_state_dict" in str(info.value)
    path = save_state_dict(spec.params, tmp_path / "generic.json")
    tensors = load_state_dict(path)
    assert all(np.array_equal(tensors[k], v) for k, v in spec.params.items())


def test_other_top_level_keys_win_over_params(tmp_path):
    """TorchLean's reader merges the other top-level keys in, and they win."""
    module = model("mlp")
    data = json.loads(mlp_file(module, tmp_path / "m.json", "fc").read_text())
    data["fc2.bias"] = [5.0]
    (tmp_path / "m.json").write_text(json.dumps(data))
    assert load(tmp_path / "m.json").params["fc2.bias"].tolist() == [5.0]


def _mlp_data(module):
    sd = module.state_dict()
    return {"params": {k.replace("layers.0", "fc1").replace("layers.2", "fc2"): v.tolist()
                       for k, v in sd.items()}, "meta": {"format": "TorchLean.MLP"}}


BAD_MLP = [  # (edit of params, the key named, words)
    (lambda p: p.pop("fc2.bias"), "fc2.bias", "missing key"),
    (lambda p: p.update(extra=[1.0]), "extra", "not a parameter"),
    (lambda p: p.update({"fc1.bias": [[0.1], [0.2], [0.3]]}), "fc1.bias", "a number"),
    (lambda p: p.update({"fc1.bias": [0.1, 0.2]}), "fc1.bias", "2 entries"),
    (lambda p: p.update({"fc2.weight": [[1.0, 2.0]]}), "fc2.weight", "2 entries"),
    (lambda p: p.update({"fc1.bias": [0.1, True, 0.3]}), "fc1.bias", "a boolean"),
    (lambda p: p.update({"fc1.bias": [0.1, None, 0.3]}), "fc1.bias", "null"),
    (lambda p: p.update({"fc1.bias": [0.1, "0.2", 0.3]}), "fc1.bias", "a string"),
    (lambda p: p.update({"fc1.bias": 0.5}), "fc1.bias", "should be a list of 3"),
    (lambda p: p.update({"fc2.bias": ["__BIG__"]}), "fc2.bias", "infinity"),
]


@pytest.mark.parametrize("edit, key, words", BAD_MLP)
def test_a_bad_state_dict_names_the_key(tmp_path, edit, key, words):
    data = _mlp_data(model("mlp"))
    edit(data["params"])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data).replace('"__BIG__"', "1e400"))  # a float that overflows
    with pytest.raises(UsageError) as info:
        load(path)
    assert repr(key) in str(info.value) and words in str(info.value), str(info.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json_and_name_the_key(tmp_path, constant):
    data = _mlp_data(model("mlp"))
    data["params"]["fc2.bias"] = ["__C__"]
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(data).replace('"__C__"', constant))
    with pytest.raises(UsageError) as info:
        load(path)
    assert "'fc2.bias'" in str(info.value) and constant in str(info.value)


def test_the_cnn2_shapes_are_checked_by_key(tmp_path):
    sd = model("cnn2").state_dict()
    params = {k: v.tolist() for k, v in sd.items()}
    params["fc.weight"] = [row + [0.0] for row in params["fc.weight"]]  # F = 9, not C*H2*W2
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"params": params, "meta": {"format": "TorchLean.CNN2"}}))
    with pytest.raises(UsageError) as info:
        load(path)
    assert "'fc.weight'" in str(info.value)


def test_a_cnn2_input_size_given(tmp_path):
    """F = C * H2 * W2 = 2 * 3 * 3 = 18: the default guess is 12x12; another size that
    gives 18 features is taken when stated, and one that does not is refused by key."""
    spec = CNN2(CNN2Config(c1=2, c2=2, out_dim=2), 1, 12, 12, seed=3)
    path = save(spec, tmp_path / "c12.json")
    assert load(path).input_shape == (1, 12, 12)
    assert load(path, in_shape=(1, 13, 14)).input_shape == (1, 13, 14)
    with pytest.raises(UsageError) as info:
        load(path, in_shape=(1, 8, 8))
    assert "'fc.weight'" in str(info.value)


@pytest.mark.parametrize("content, rule", [("[]", "config_file"), ("{", "config_file"),
                                           ('{"w": [1.0]}', "description_value")])
def test_files_that_are_no_state_dict(tmp_path, content, rule):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(UsageError) as info:
        load(path)
    assert info.value.rule == rule, str(info.value)


def test_saving_refuses_nan(tmp_path):
    with pytest.raises(UsageError) as info:
        save_state_dict({"w": np.array([1.0, np.nan])}, tmp_path / "n.json")
    assert "'w'" in str(info.value) and not (tmp_path / "n.json").exists()
