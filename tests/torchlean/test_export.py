"""A PyTorch module to TorchLean's IR and back: exact op mapping, the user's input (not a
lifted parameter), every unsupported op or option named, and the round trip
module -> write_ir -> read_ir -> the NumPy spec equal to PyTorch."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nnbridge.spec.errors import UsageError  # noqa: E402

from nnbridge.graph.load import load_model  # noqa: E402
from nnbridge.torchlean import (  # noqa: E402
    compare_torch,
    load_ir,
    read_ir,
    read_weights,
    run_ir,
    write_ir,
)

MODELS = Path(__file__).with_name("torch_models.py")


def model(name):
    return load_model(f"{MODELS}:{name}")


def torch_output(module, x, batch=True):
    with torch.no_grad():
        t = torch.from_numpy(x.astype(np.float32))
        y = module.eval()(t[None] if batch else t)
    return y.double().numpy().reshape(-1)


@pytest.mark.parametrize("name, shape", [("example", (1, 3, 10, 10)), ("mixed", (1, 3, 10, 10)),
                                         ("expand", (1, 4, 5)), ("cnn2", (1, 1, 8, 8)),
                                         ("head", (1, 3, 9, 9))])
def test_round_trip_module_ir_spec_equals_torch(tmp_path, name, shape):
    module = model(name)
    written = write_ir(module, tmp_path / f"{name}.ir.json", shape)
    assert written.weights_path == tmp_path / f"{name}.weights.json"
    graph = read_ir(written.graph_path)  # the file TorchLean's importer accepts
    assert graph.output_mode == "any"
    ir = load_ir(written.graph_path)
    weights = read_weights(written.weights_path, ir)
    x = np.random.default_rng(7).standard_normal(shape[1:])
    comparison = compare_torch(ir, weights, x, module)
    assert comparison.agree, comparison
    assert 0 < comparison.worst_ratio < 0.5
    np.testing.assert_allclose(run_ir(ir, weights, x).reshape(-1), torch_output(module, x),
                               rtol=1e-4, atol=1e-5)


def test_the_reference_example_exports_as_the_reference_shows(tmp_path):
    written = write_ir(model("example"), tmp_path / "m.ir.json", (1, 3, 10, 10))
    data = json.loads(written.graph_path.read_text())
    assert data["format"] == "torchlean.ir.v1" and (data["input_id"], data["output_id"]) == (0, 5)
    expected = [("input", [], [3, 10, 10]), ("conv2d", [0], [4, 10, 10]),
                ("relu", [1], [4, 10, 10]), ("max_pool2d", [2], [4, 5, 5]),
                ("flatten", [3], [100]), ("linear", [4], [10])]
    assert [(n["kind"], n["parents"], n["shape"]) for n in data["nodes"]] == expected
    conv = data["nodes"][1]
    assert {k: conv[k] for k in ("inC", "outC", "kH", "kW", "stride", "padding")} == \
        {"inC": 3, "outC": 4, "kH": 3, "kW": 3, "stride": 1, "padding": 1}
    assert data["nodes"][3] | {"kH": 2, "kW": 2, "stride": 2} == data["nodes"][3]
    store = json.loads(written.weights_path.read_text())
    assert store["meta"]["format"] == "nnbridge.torchlean.weights.v1"
    assert sorted(store["params"]) == ["nodes.1.bias", "nodes.1.weight", "nodes.5.bias",
                                       "nodes.5.weight"]
    assert store["meta"]["nodes.1.weight"] == {"shape": [4, 3, 3, 3], "dtype": "torch.float32"}


def test_the_input_is_the_user_input_not_a_lifted_parameter(tmp_path):
    """torch.export lists parameters before the input; the graph's input is the user's."""
    ir = write_ir(model("mlp"), tmp_path / "mlp.ir.json", (1, 2)).ir
    assert ir.nodes[ir.input_id].kind == "input" and ir.input_shape == (2,)
    assert [n.kind for n in ir.nodes] == ["input", "linear", "relu", "linear"]


def test_expand_is_a_broadcast_never_exp(tmp_path):
    ir = write_ir(model("expand"), tmp_path / "e.ir.json", (1, 4, 5)).ir
    kinds = [n.kind for n in ir.nodes]
    assert "broadcast_to" in kinds and "exp" not in kinds and "matmul" in kinds


@pytest.mark.parametrize("name, shape, words", [
    ("dilated", (1, 3, 8, 8), "dilation=(2, 2)"),
    ("grouped", (1, 4, 8, 8), "groups=2"),
    ("ceil_pool", (1, 3, 7, 7), "ceil_mode=True"),
    ("same_padding", (1, 3, 8, 8), "padding='same'"),
    ("strided_unevenly", (1, 3, 8, 8), "stride=(1, 2)"),
    ("divides", (1, 4), "aten.div.Tensor"),
    ("adaptive", (1, 3, 8, 8), "output_size=(2, 2)"),
    ("log_softmax", (1, 4), "log_softmax"),
    ("sinh", (1, 4), "aten.sinh.default"),
    ("batch_softmax", (1, 4), "batch axis"),
    ("two_outputs", (1, 4), "returns 2 values"),
])
def test_every_unsupported_op_or_option_is_named(tmp_path, name, shape, words):
    with pytest.raises(UsageError) as info:
        write_ir(model(name), tmp_path / "x.ir.json", shape)
    assert info.value.rule == "unknown_op" and words in str(info.value), str(info.value)
    assert not (tmp_path / "x.ir.json").exists()


def test_the_error_says_where_the_op_sits(tmp_path):
    with pytest.raises(UsageError) as info:
        write_ir(model("dilated"), tmp_path / "x.ir.json", (1, 3, 8, 8))
    assert "Conv2d" in str(info.value)


@pytest.mark.parametrize("shape, rule", [((2, 3, 10, 10), "input_size"), ((1, 0, 3), "input_size"),
                                         (None, "input_size")])
def test_bad_example_shapes(tmp_path, shape, rule):
    with pytest.raises(UsageError) as info:
        write_ir(model("example"), tmp_path / "x.ir.json", shape)
    assert info.value.rule == rule


def test_a_graph_read_from_the_ir_writes_back_the_same_file(tmp_path):
    first = write_ir(model("mixed"), tmp_path / "m.ir.json", (1, 3, 10, 10))
    again = write_ir(read_ir(first.graph_path), tmp_path / "again.ir.json")
    assert again.weights_path is None
    assert json.loads(again.graph_path.read_text()) == json.loads(first.graph_path.read_text())


def test_a_graph_from_the_ir_at_another_size(tmp_path):
    """Re-inferred from a new input: the fields that echo a shape follow it (flatten's
    value_shape, the linear's leading axes); a size the IR rejects is named."""
    first = write_ir(model("example"), tmp_path / "m.ir.json", (1, 3, 10, 10))
    graph = read_ir(first.graph_path)
    bigger = write_ir(graph, tmp_path / "big.ir.json", (1, 3, 16, 16)).ir
    assert [n.shape for n in bigger.nodes] == [(3, 16, 16), (4, 16, 16), (4, 16, 16),
                                               (4, 8, 8), (256,), (10,)]
    assert bigger.nodes[4].fields["value_shape"] == (4, 8, 8)
    with pytest.raises(UsageError) as info:
        write_ir(graph, tmp_path / "tiny.ir.json", (1, 3, 1, 1))
    assert info.value.rule == "kernel_fits" and "node 3" in str(info.value)


def test_write_ir_of_a_traced_graph(tmp_path):
    """A graph traced from a module records no activation function: the writer names the
    node; without activations it writes the graph."""
    from nnbridge.graph import from_torch

    traced = from_torch(model("example"), spatial_dims=2, output="any")
    with pytest.raises(UsageError) as info:
        write_ir(traced, tmp_path / "t.ir.json", (1, 3, 10, 10))
    assert "does not record" in str(info.value) and info.value.rule == "unknown_op"
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(100, 10))
    written = write_ir(from_torch(plain, spatial_dims=2, output="any"), tmp_path / "p.ir.json",
                       (1, 3, 10, 10))
    assert [n.kind for n in written.ir.nodes] == ["input", "conv2d", "max_pool2d", "reshape",
                                                  "linear"]
