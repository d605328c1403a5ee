"""``torchlean.ir.v1`` read as TorchLean's importer reads it: every rejection kind planted
in a file and caught with its rule, the node and the importer's check; never a traceback."""

import copy
import json

import pytest
from nnbridge.spec.errors import UsageError

from nnbridge.graph.core import Graph
from nnbridge.torchlean import IRError, load_ir, parse_ir, read_ir
from nnbridge.torchlean.contracts import broadcast_left

#: The reference's example (§1), accepted.
EXAMPLE = {"format": "torchlean.ir.v1", "input_id": 0, "output_id": 5, "nodes": [
    {"id": 0, "kind": "input", "parents": [], "shape": [3, 10, 10]},
    {"id": 1, "kind": "conv2d", "parents": [0], "shape": [4, 10, 10],
     "inC": 3, "outC": 4, "kH": 3, "kW": 3, "stride": 1, "padding": 1},
    {"id": 2, "kind": "relu", "parents": [1], "shape": [4, 10, 10]},
    {"id": 3, "kind": "max_pool2d", "parents": [2], "shape": [4, 5, 5], "kH": 2, "kW": 2,
     "stride": 2},
    {"id": 4, "kind": "flatten", "parents": [3], "shape": [100], "value_shape": [4, 5, 5]},
    {"id": 5, "kind": "linear", "parents": [4], "shape": [10]}]}


def planted(edit):
    data = copy.deepcopy(EXAMPLE)
    edit(data)
    return data


def node(data, i):
    return data["nodes"][i]


def test_the_reference_example_is_accepted():
    ir = parse_ir(EXAMPLE, "example")
    assert [n.kind for n in ir.nodes] == ["input", "conv2d", "relu", "max_pool2d", "flatten",
                                          "linear"]
    assert ir.input_shape == (3, 10, 10) and ir.output_shape == (10,)
    # unknown keys are ignored, as TorchLean ignores them; debug_target and eps too
    extra = planted(lambda d: node(d, 2).update(debug_target="relu", whatever=[1, 2]))
    assert parse_ir(extra).nodes[2].kind == "relu"
    assert parse_ir(planted(lambda d: d.pop("format"))).output_id == 5


# (edit, nnbridge rule, importer check, node)
REJECTIONS = [
    pytest.param(lambda d: d.update(format="torchlean.ir.v2"), "description_value", "format",
                 None, id="foreign-format"),
    pytest.param(lambda d: d.pop("output_id"), "description_value", "field", None,
                 id="missing-output_id"),
    pytest.param(lambda d: d.update(nodes={"0": 1}), "description_value", "field", None,
                 id="nodes-not-a-list"),
    pytest.param(lambda d: node(d, 1).pop("stride"), "description_value", "field", 1,
                 id="missing-field"),
    pytest.param(lambda d: node(d, 1).update(kH="3"), "description_value", "natural", 1,
                 id="string-natural"),
    pytest.param(lambda d: node(d, 1).update(padding=-1), "description_value", "natural", 1,
                 id="negative"),
    pytest.param(lambda d: node(d, 1).update(stride=True), "description_value", "natural", 1,
                 id="bool-natural"),
    pytest.param(lambda d: node(d, 1).update(stride=1.0), "description_value", "natural", 1,
                 id="float-natural"),
    pytest.param(lambda d: node(d, 2).update(shape=[4, 10, None]), "description_value",
                 "natural", 2, id="null-in-shape"),
    pytest.param(lambda d: node(d, 2).update(value_kind="list"), "description_value",
                 "value_kind", 2, id="value-kind"),
    pytest.param(lambda d: node(d, 2).update(kind="gelu"), "unknown_op", "kind", 2,
                 id="unknown-kind"),
    pytest.param(lambda d: node(d, 2).update(kind="exp_"), "unknown_op", "kind", 2,
                 id="no-prefix-matching"),
    pytest.param(lambda d: node(d, 2).update(id=7), "description_value", "id", 7,
                 id="id-not-index"),
    pytest.param(lambda d: node(d, 2).update(parents=[3]), "description_value", "parent", 2,
                 id="forward-parent"),
    pytest.param(lambda d: node(d, 2).update(parents=[9]), "description_value", "parent", 2,
                 id="parent-out-of-bounds"),
    pytest.param(lambda d: d.update(output_id=6), "description_value", "endpoint", None,
                 id="output-out-of-bounds"),
    pytest.param(lambda d: node(d, 2).update(parents=[1, 1]), "description_value", "arity", 2,
                 id="arity"),
    pytest.param(lambda d: node(d, 3).update(shape=[4, 4, 4]), "shape_match", "shape", 3,
                 id="declared-shape"),
    pytest.param(lambda d: node(d, 5).update(shape=[]), "rank", "contract", 5,
                 id="linear-scalar"),
    pytest.param(lambda d: node(d, 1).update(stride=0), "stride_positive", "contract", 1,
                 id="stride-zero"),
    pytest.param(lambda d: node(d, 1).update(kW=0), "kernel_positive", "contract", 1,
                 id="kernel-zero"),
    pytest.param(lambda d: node(d, 1).update(inC=2), "channels", "contract", 1,
                 id="channels"),
    pytest.param(lambda d: (node(d, 1).update(padding=0, kH=11),), "kernel_fits", "contract",
                 1, id="window-overhangs"),
    pytest.param(lambda d: node(d, 4).update(value_shape=[4, 25]), "shape_match", "contract", 4,
                 id="flatten-value-shape"),
]


@pytest.mark.parametrize("edit, rule, check, at", REJECTIONS)
def test_each_rejection_kind_names_its_rule_node_and_check(edit, rule, check, at):
    with pytest.raises(IRError) as info:
        parse_ir(planted(edit), "planted.ir.json")
    exc = info.value
    assert isinstance(exc, UsageError)
    assert (exc.rule, exc.check, exc.node) == (rule, check, at), str(exc)
    assert "planted.ir.json" in str(exc)
    if at is not None:
        assert f"node {at}" in str(exc)


def _graph(nodes, output_id=None):
    return {"input_id": 0, "output_id": len(nodes) - 1 if output_id is None else output_id,
            "nodes": [dict(n, id=i) for i, n in enumerate(nodes)]}


def _input(shape):
    return {"kind": "input", "parents": [], "shape": shape}


CONTRACTS = [  # (nodes after an input [2, 3, 4], rule) for the list contracts of §2
    ([{"kind": "permute", "parents": [0], "shape": [3, 2, 4], "perm": [1, 1, 2]}],
     "axis_count"),
    ([{"kind": "permute", "parents": [0], "shape": [3, 2], "perm": [1, 0]}], "axis_count"),
    ([{"kind": "reduce_sum", "parents": [0], "shape": [2, 3], "axis": 3}], "axis_count"),
    ([{"kind": "softmax", "parents": [0], "shape": [2, 3, 4], "axis": 3}], "axis_count"),
    ([{"kind": "broadcast_to", "parents": [0], "shape": [2, 3, 5], "from_shape": [2, 3, 4],
       "to_shape": [2, 3, 5]}], "shape_match"),
    ([{"kind": "reshape", "parents": [0], "shape": [25], "in_shape": [2, 3, 4],
       "out_shape": [25]}], "shape_match"),
    ([{"kind": "concat", "parents": [0, 0], "shape": [2, 6, 4], "axis": 3}], "axis_count"),
    ([{"kind": "transpose3d_last_two", "parents": [0], "shape": [2, 4, 3]},
      {"kind": "add", "parents": [0, 1], "shape": [2, 3, 4]}], "shape_match"),
    ([{"kind": "matmul", "parents": [0, 0], "shape": [2, 3, 4]}], "shape_match"),
    ([{"kind": "batch_norm2d_nchw_eval", "parents": [0], "shape": [2, 3, 4],
       "channels": 3}], "rank"),
    ([{"kind": "bernoulli_mask", "parents": [0], "shape": [2, 3, 4], "seed": 1}], "rank"),
    ([{"kind": "const", "parents": [], "shape": [2], "value_shape": [3]}], "shape_match"),
]


@pytest.mark.parametrize("nodes, rule", CONTRACTS)
def test_list_contracts_reject_with_their_rule(nodes, rule):
    with pytest.raises(IRError) as info:
        parse_ir(_graph([_input([2, 3, 4]), *nodes]))
    assert (info.value.rule, info.value.check) == (rule, "contract"), str(info.value)


def test_list_contracts_infer_what_the_reference_states():
    nodes = [_input([2, 3, 4]),
             {"kind": "permute", "parents": [0], "shape": [4, 2, 3], "perm": [2, 0, 1]},
             {"kind": "reduce_mean", "parents": [0], "shape": [2, 4], "axis": 1},
             {"kind": "concat", "parents": [0, 0], "shape": [2, 6, 4], "axis": 1},
             {"kind": "broadcast_to", "parents": [2], "shape": [2, 5, 4],
              "from_shape": [2, 4], "to_shape": [2, 5, 4]},
             {"kind": "transpose3d_last_two", "parents": [0], "shape": [2, 4, 3]},
             {"kind": "matmul", "parents": [0, 5], "shape": [2, 3, 3]},
             {"kind": "swap_first_two", "parents": [0], "shape": [3, 2, 4]},
             {"kind": "layernorm", "parents": [0], "shape": [2, 3, 4], "axis": 1},
             {"kind": "mse_loss", "parents": [0, 0], "shape": []},
             {"kind": "sum", "parents": [0], "shape": []},
             {"kind": "const", "parents": [], "shape": [2, 2]},
             {"kind": "rand_uniform", "parents": [], "shape": [7], "seed": 3},
             {"kind": "bernoulli_mask", "parents": [10], "shape": [2, 3], "seed": 3}]
    ir = parse_ir(_graph(nodes, output_id=1))
    assert [n.shape for n in ir.nodes][6] == (2, 3, 3)
    # B aligns from the left: [C] -> [N, C, H, W] holds, NumPy's right alignment does not
    assert broadcast_left([3], [2, 3, 5, 5]) and not broadcast_left([3, 2], [3, 5])
    assert broadcast_left([], [4]) and broadcast_left([1, 4], [3, 4])


def _attention(**change):
    mha = {"kind": "multihead_attention", "parents": [0, 0, 0], "value_kind": "tuple",
           "tuple_shapes": [[1, 5, 8], [1, 5, 5]], "embed_dim": 8, "num_heads": 1,
           "batch_first": True, "dropout_zero": True}
    getitem = {"kind": "tuple_getitem", "parents": [1], "shape": [1, 5, 8], "index": 0}
    for key, value in change.items():
        (getitem if key in ("index", "shape") else mha)[key] = value
    return _graph([_input([1, 5, 8]), mha, getitem,
                   {"kind": "relu", "parents": [2], "shape": [1, 5, 8]}])


def test_attention_lowers_to_ten_nodes_renumbered():
    ir = parse_ir(_attention())
    kinds = [n.kind for n in ir.nodes]
    assert kinds == ["input", "linear", "linear", "linear", "transpose3d_last_two", "matmul",
                     "const", "mul_elem", "softmax", "matmul", "linear", "relu"]
    assert ir.output_id == 11 and ir.nodes[11].parents == (10,)
    assert ir.nodes[11].label() == "node 11 (relu, id 3 in the file)"


@pytest.mark.parametrize("change, words", [
    ({"num_heads": 2}, "num_heads"), ({"batch_first": False}, "batch_first"),
    ({"dropout_zero": False}, "dropout_zero"), ({"parents": [0, 0]}, "three identical"),
    ({"embed_dim": 4}, "embed_dim"), ({"index": 1}, "index 1"), ({"shape": [1, 5, 5]}, "shape"),
    ({"kind": "relu"}, "only multihead_attention"),
])
def test_attention_conditions_are_checked(change, words):
    with pytest.raises(IRError) as info:
        parse_ir(_attention(**change))
    assert info.value.check == "tuple" and words in str(info.value), str(info.value)


def test_a_tuple_parent_and_a_tuple_output_are_rejected():
    data = _attention()
    data["nodes"][3]["parents"] = [1]
    with pytest.raises(IRError) as info:
        parse_ir(data)
    assert info.value.check == "parent" and "tuple" in str(info.value)
    data = _attention()
    data["output_id"] = 1
    with pytest.raises(IRError) as info:
        parse_ir(data)
    assert info.value.check == "endpoint"


@pytest.mark.parametrize("text, rule", [
    ("{not json", "config_file"),
    ("[1, 2]", "description_value"),
    ('{"input_id": 0, "output_id": 0, "nodes": [' + "[" * 100_000 + "]" * 100_000 + "]}",
     "config_file"),
    ('{"input_id": ' + "9" * 5000 + ', "output_id": 0, "nodes": []}', "config_file"),
    ('{"input_id": 281474976710657, "output_id": 0, "nodes": []}', "work_limit"),
    (b"\xff\xfe".decode("latin-1"), "config_file"),
])
def test_malformed_files_are_one_clear_error(tmp_path, text, rule):
    path = tmp_path / "bad.ir.json"
    path.write_text(text, encoding="latin-1" if "\xff" in text else "utf-8")
    with pytest.raises(UsageError) as info:
        load_ir(path)
    assert info.value.rule == rule, str(info.value)


def test_size_and_node_limits(tmp_path, monkeypatch):
    from nnbridge.torchlean import ir as ir_module

    path = tmp_path / "big.ir.json"
    path.write_text(json.dumps(EXAMPLE))
    monkeypatch.setattr(ir_module, "MAX_IR_BYTES", 100)
    with pytest.raises(UsageError) as info:
        load_ir(path)
    assert info.value.rule == "work_limit" and "bytes" in str(info.value)
    monkeypatch.undo()
    many = _graph([_input([2])] + [{"kind": "relu", "parents": [i], "shape": [2]}
                                   for i in range(20_000)])
    with pytest.raises(IRError) as info:
        parse_ir(many)
    assert info.value.rule == "work_limit" and info.value.check == "limit"
    with pytest.raises(UsageError) as info:
        load_ir(tmp_path / "missing.json")
    assert info.value.rule == "config_file"


def test_read_ir_gives_the_network_graph_and_its_proved_rule(tmp_path):
    from nnbridge.unet.rule import rule_for

    path = tmp_path / "example.ir.json"
    path.write_text(json.dumps(EXAMPLE))
    graph = read_ir(path)
    assert isinstance(graph, Graph) and graph.output_mode == "any" and graph.channels == 3
    conv = graph.node("n1")
    assert conv.op == "conv" and conv.params["semantics"] == "lean-2026-07"
    rules = [rule_for(graph, axis) for axis in range(2)]
    # the flatten fixes the pooled size at 5: the input is 10 or 11 on each axis
    assert [(r.proved, r.exceptions, r.residues) for r in rules] == [(True, (10, 11), ())] * 2


def test_a_padded_pool_above_half_the_kernel_keeps_the_ir_window(tmp_path):
    """The IR accepts a pool with padding above k/2 (PyTorch does not): its graph node is
    the window W, not TorchLean's spec pool (which gives 0 there)."""
    data = _graph([_input([1, 4, 4]),
                   {"kind": "max_pool2d_pad", "parents": [0], "shape": [1, 6, 6], "kH": 1,
                    "kW": 1, "stride": 1, "padding": 1}])
    ir = parse_ir(data)
    from nnbridge.torchlean.to_graph import to_graph

    graph = to_graph(ir)
    assert graph.node("n1").op == "conv" and graph.node("n1").params["torchlean"]["kind"] == \
        "max_pool2d_pad"
    from nnbridge.graph.evaluate import evaluate

    assert [d.value for d in evaluate(graph, (4, 4)).shapes["n1"]] == [1, 1, 6, 6]


@pytest.mark.parametrize("shape", [[5], [], [2, 7], [2, 3, 4, 5]])
def test_inputs_of_other_ranks_have_a_graph_form(shape):
    from nnbridge.graph.evaluate import evaluate
    from nnbridge.torchlean.to_graph import to_graph

    graph = to_graph(parse_ir(_graph([_input(shape), {"kind": "relu", "parents": [0],
                                                      "shape": shape}])))
    sizes = tuple(shape[1:]) if len(shape) >= 2 else ((shape or [1])[0],)
    out = evaluate(graph, sizes).shapes[graph.output]
    assert [d.value for d in out] == [1, *shape]
