"""TorchLean's IR shape contracts (``torchlean.ir.v1``, §2 ``OpContracts``) against the
formulas they use, against TorchLean's current spec and against PyTorch.

``conv2d`` and the pools compute each spatial axis with
:func:`nnbridge.torchlean.contracts.window`: the IR rejects ``k = 0``, ``t = 0`` and
``n + 2p < k``, and gives ``W(n, k, t, p) = conv_out(n, k, t, p, semantics="lean-2026-07")``
(``slidingWindowOutDim``). Every term here is that function, or the graph nnbridge builds
from an IR file, read as Z3: what is proved is what the importer and ``torchlean check``
run. IR pooling kept ``W`` when TorchLean's spec pooling changed (c2be276), so the IR
accepts padding above ``k / 2`` where PyTorch and TorchLean's spec do not.
"""

from __future__ import annotations

import z3
from nnbridge.spec.errors import ShapeError
from nnbridge.spec.formulas import LEAN_2026_07
from nnbridge.spec.shapes import conv_out, pool_out

from nnbridge.torchlean.contracts import window

from .engine import Proof, Refutation, nats, obligation
from .terms import as_bool, torch_term


def _setup():
    (n, k, t, p), nat = nats("n k t p")
    accepts, size = window(n, k, t, p)
    return (n, k, t, p), nat, as_bool(accepts), size


def _confirm(formula):
    """Confirms a counterexample where the IR accepts and PyTorch raises or differs."""

    def confirm(v):
        accepts, size = window(v["n"], v["k"], v["t"], v["p"])
        try:
            torch = str(formula(v["n"], v["k"], v["t"], v["p"], semantics="torch"))
        except ShapeError as exc:
            torch = f"raises ({exc.rule.value})"
        return f"IR {size}, PyTorch {torch}" if accepts and torch != str(size) else None

    return confirm


@obligation("torchlean_ir")
def ir_window_is_sliding_window():
    """For all naturals n, k, t, p: where the IR's conv2d or pool accepts an axis (k >= 1,
    t >= 1, n + 2p >= k), its size W(n, k, t, p), nnbridge's conv_out with
    semantics="lean-2026-07", is (n + 2p - k)/t + 1 and at least 1 (an accepted layer never
    yields an empty axis); where it rejects, W is 0."""
    (n, k, t, p), nat, accepts, size = _setup()
    return Proof([n, k, t, p], nat, z3.And(
        z3.Implies(accepts, z3.And(size == (n + 2 * p - k) / t + 1, size >= 1)),
        z3.Implies(z3.Not(accepts), size == 0)), subjects=[size, accepts])


@obligation("torchlean_ir")
def ir_conv_equals_torch_where_both_accept():
    """For all naturals n, k, t, p: PyTorch accepts conv_out(n, k, t, p) (dilation 1)
    exactly where the IR's conv2d accepts the axis and n >= 1, and there the IR's size
    equals PyTorch's."""
    (n, k, t, p), nat, accepts, size = _setup()
    torch, torch_ok = torch_term(lambda: conv_out(n, k, t, p, semantics="torch"))
    return Proof([n, k, t, p], nat, {
        "accepts": torch_ok == z3.And(accepts, n >= 1),
        "size": z3.Implies(torch_ok, size == torch)}, subjects=[size, accepts, torch_ok])


@obligation("torchlean_ir")
def ir_conv_accepts_empty_axis():
    """Refuted: "the IR's conv2d accepts an axis only where PyTorch does". The least
    counterexample (in n, k, t, p order) is n = 0, k = 1, t = 1, p = 1: an empty axis that
    the padding covers, the IR gives 2, PyTorch raises."""
    (n, k, t, p), nat, accepts, size = _setup()
    _, torch_ok = torch_term(lambda: conv_out(n, k, t, p, semantics="torch"))
    return Refutation([n, k, t, p], nat, z3.Implies(accepts, torch_ok), _confirm(conv_out),
                      expect={"n": 0, "k": 1, "t": 1, "p": 1})


@obligation("torchlean_ir")
def ir_pool_is_current_spec_pool_where_padding_fits():
    """For all naturals n, k, t, p where the IR's pool accepts the axis: its size W equals
    TorchLean's current spec pool size (pool_out, semantics="lean-2026-07", c2be276)
    exactly when n >= 1 and p <= k/2; otherwise the spec's size is 0 and W is at least 1.
    So nnbridge's graph reads an IR pool as a pool node where p <= k/2 (the only sizes an
    accepted chain from n >= 1 reaches), and as the window W otherwise."""
    (n, k, t, p), nat, accepts, size = _setup()
    spec = pool_out(n, k, t, p, semantics=LEAN_2026_07)
    fits = z3.And(n >= 1, p <= k / 2)
    return Proof([n, k, t, p], nat + [accepts], z3.And(
        (size == spec) == fits, z3.Implies(z3.Not(fits), z3.And(spec == 0, size >= 1))),
        subjects=[size, spec])


@obligation("torchlean_ir")
def ir_pool_equals_torch_where_both_accept():
    """For all naturals n, k, t, p: PyTorch accepts max_pool's pool_out(n, k, t, p)
    (dilation 1, floor mode) exactly where the IR's pool accepts the axis, n >= 1 and
    2p <= k, and there the IR's size equals PyTorch's."""
    (n, k, t, p), nat, accepts, size = _setup()
    torch, torch_ok = torch_term(lambda: pool_out(n, k, t, p, semantics="torch"))
    return Proof([n, k, t, p], nat, {
        "accepts": torch_ok == z3.And(accepts, n >= 1, 2 * p <= k),
        "size": z3.Implies(torch_ok, size == torch)}, subjects=[size, accepts, torch_ok])


@obligation("torchlean_ir")
def ir_pool_accepts_padding_above_half_kernel():
    """Refuted: "on a non-empty axis the IR's pool accepts only where PyTorch does". The
    least counterexample is n = 1, k = 1, t = 1, p = 1: padding above k/2, which IR pooling
    still accepts (unchanged in c2be276): the IR gives 3, PyTorch raises."""
    (n, k, t, p), nat, accepts, size = _setup()
    _, torch_ok = torch_term(lambda: pool_out(n, k, t, p, semantics="torch"))
    return Refutation([n, k, t, p], nat + [n >= 1], z3.Implies(accepts, torch_ok),
                      _confirm(pool_out), expect={"n": 1, "k": 1, "t": 1, "p": 1})


#: The layer parameters the graph-form obligation covers, for every input size n.
_GRID = [(k, t, p) for k in range(1, 5) for t in range(1, 4) for p in range(0, 3)]


def _graph_claims(kind: str, n):
    """For each (k, t, p) of the grid: the graph nnbridge builds from a one-layer IR graph
    accepts n where the IR does and gives W there."""
    from nnbridge.graph.evaluate import trace
    from nnbridge.torchlean.ir import IRGraph, IRNode
    from nnbridge.torchlean.to_graph import to_graph

    claims = {}
    for k, t, p in _GRID:
        fields = {"kH": k, "kW": k, "stride": t, "padding": p}
        if kind == "conv2d":
            fields |= {"inC": 1, "outC": 2}
        layer = IRNode(1, kind, (0,), (1, 1, 1), fields)
        graph = to_graph(IRGraph((IRNode(0, "input", (), (1, 8, 8)), layer), 0, 1, "proof"))
        tr = trace(graph, 0, n)
        size = next(v for name, v in tr.stages if name == "n1")
        accepts, expected = window(n, k, t, p)
        valid = as_bool(tr.valid)
        claims[f"k{k}_t{t}_p{p}"] = z3.And(valid == as_bool(accepts),
                                           z3.Implies(valid, size == expected))
    return claims


@obligation("torchlean_ir")
def ir_graph_form_is_the_contract():
    """For all n >= 1, and every kernel 1..4, stride 1..3 and padding 0..2: the nnbridge
    graph that read_ir builds for an IR conv2d and for an IR max_pool2d_pad (require nodes
    and a conv or pool node in semantics "lean-2026-07") accepts the input size exactly
    where the IR's contract does, and there gives the IR's size W(n, k, t, p): the rule
    `torchlean check` proves is the IR's."""
    (n,), nat = nats("n")
    claims = {f"conv2d_{key}": c for key, c in _graph_claims("conv2d", n).items()}
    claims |= {f"pool_{key}": c for key, c in _graph_claims("max_pool2d_pad", n).items()}
    return Proof([n], nat + [n >= 1], claims)
