"""The IR-contract obligations can fail: a planted off-by-one in the window contract, or in
the graph read_ir builds, is refuted with a counterexample."""

import pytest
from nnbridge.proofs import torchlean_ir
from nnbridge.proofs.engine import REGISTRY, check
from nnbridge.spec.arith import reading_for

_REAL = torchlean_ir.window


def _off_by_one(n, k, t, p):
    """The window accepting only n + 2p > k: one size too strict."""
    accepts, size = _REAL(n, k, t, p)
    r = reading_for(n, k, t, p)
    return r.and_(accepts, r.lt(k, r.add(n, r.mul(2, p)))), size


@pytest.mark.parametrize("name", ["ir_window_is_sliding_window",
                                  "ir_conv_equals_torch_where_both_accept",
                                  "ir_graph_form_is_the_contract"])
def test_a_planted_off_by_one_is_refuted(monkeypatch, name):
    monkeypatch.setattr(torchlean_ir, "window", _off_by_one)
    verdict = check(REGISTRY[name])
    assert not verdict.passed and verdict.status == "refuted", verdict


def test_a_planted_graph_defect_is_refuted(monkeypatch):
    """The graph's require node stated as n + 2p > k instead of >=."""
    from nnbridge.torchlean import to_graph

    original = to_graph._Builder.window_fits

    def strict(self, n, parent):
        original(self, n, parent)
        for i, node in enumerate(self.nodes):
            if node.op == "require" and node.params.get("relation") == "ge":
                params = dict(node.params, b=node.params["b"] + 1)
                self.nodes[i] = type(node)(node.name, node.op, node.inputs, params, node.where)

    monkeypatch.setattr(to_graph._Builder, "window_fits", strict)
    verdict = check(REGISTRY["ir_graph_form_is_the_contract"])
    assert not verdict.passed and verdict.status == "refuted"
