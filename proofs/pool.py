"""Pooling: Lean's padded pool formula against PyTorch's, ceil_mode, and the divergences."""

from __future__ import annotations

import z3
from nnbridge.spec.domains import pool_agreement
from nnbridge.spec.shapes import pool_out

from .engine import Proof, Refutation, nats, obligation
from .terms import as_bool, compare_ints, torch_term


def _setup():
    (n, k, s, p), nat = nats("n k s p")
    lean = pool_out(n, k, s, p)
    torch, accepted = torch_term(lambda: pool_out(n, k, s, p, semantics="torch"))
    return (n, k, s, p), nat + [n >= 1, k >= 1, s >= 1], lean, torch, accepted


def _confirm(v):
    return compare_ints(lambda: pool_out(v["n"], v["k"], v["s"], v["p"]),
                        lambda: pool_out(v["n"], v["k"], v["s"], v["p"], semantics="torch"))


@obligation("pool")
def pool_lean_equals_torch_on_domain(domain=pool_agreement):
    """For all n, k, s >= 1 and p >= 0 (dilation 1, floor mode): PyTorch accepts
    pool_out(n, k, s, p) exactly when n + 2p >= k and 2p <= k, and there Lean's
    (n + 2p - k)/s + 1 equals PyTorch's."""
    # ``domain`` is the samplers' predicate, nnbridge.spec.domains.pool_agreement, itself;
    # a test passes a planted wrong one to see this very obligation refuted.
    xs, hyps, lean, torch, accepted = _setup()
    inside = as_bool(domain(*xs))
    return Proof(xs, hyps, z3.And(accepted == inside, z3.Implies(inside, lean == torch)))


@obligation("pool")
def pool_least_divergence():
    """Refuted: "PyTorch accepts pool_out and agrees with Lean" over n, k, s >= 1, p >= 0.
    The least counterexample is pool_out(1, 1, 1, 1), padding above kernel // 2: Lean gives
    3, PyTorch raises ("pad should be at most half of kernel size")."""
    xs, hyps, lean, torch, accepted = _setup()
    return Refutation(xs, hyps, z3.And(accepted, lean == torch), _confirm,
                      expect={"n": 1, "k": 1, "s": 1, "p": 1})


@obligation("pool")
def pool_overhang_divergence():
    """Refuted with PyTorch's padding limit met (2p <= k): the least counterexample is
    pool_out(1, 2, 1, 0), the window overhangs the input: Lean gives 1, PyTorch raises
    (output size 0)."""
    xs, hyps, lean, torch, accepted = _setup()
    n, k, s, p = xs
    return Refutation(xs, hyps + [2 * p <= k], z3.And(accepted, lean == torch), _confirm,
                      expect={"n": 1, "k": 2, "s": 1, "p": 0})


@obligation("pool")
def pool_stride_zero():
    """For all n, k, p: Lean's pool_out(n, k, 0, p) is 1, PyTorch raises."""
    (n, k, p), nat = nats("n k p")
    lean = pool_out(n, k, 0, p)
    _, accepted = torch_term(lambda: pool_out(n, k, 0, p, semantics="torch"))
    return Proof([n, k, p], nat, z3.And(lean == 1, z3.Not(accepted)))


@obligation("pool")
def pool_ceil_mode_adds_at_most_one():
    """For all n, k, s >= 1, p >= 0 where PyTorch accepts floor mode: ceil_mode is accepted
    too and gives the floor-mode size or one more; one more exactly when the stride does not
    divide n + 2p - k and the extra window starts before the right padding,
    floor_out * s < n + p."""
    xs, hyps, lean, floor_out, accepted = _setup()
    n, k, s, p = xs
    ceil_out, ceil_ok = torch_term(lambda: pool_out(n, k, s, p, ceil_mode=True,
                                                    semantics="torch"))
    extra = z3.And((n + 2 * p - k) % s != 0, floor_out * s < n + p)
    return Proof(xs, hyps + [accepted], z3.And(
        ceil_ok, z3.Or(ceil_out == floor_out, ceil_out == floor_out + 1),
        (ceil_out == floor_out + 1) == extra))


@obligation("pool")
def pool_ceil_mode_unpadded_drop():
    """Refuted: "without padding, ceil_mode never drops its rounded-up window". The least
    counterexample is n=2, k=1, s=2 (kernel below the stride): the rounded-up window would
    start at 2 = n, so PyTorch drops it and ceil mode gives 1, like floor mode."""
    (n, k, s), nat = nats("n k s")
    hyps = nat + [n >= 1, k >= 1, s >= 1, n >= k]
    rounded = (n - k + s - 1) / s + 1
    ceil_out, ok = torch_term(lambda: pool_out(n, k, s, 0, ceil_mode=True, semantics="torch"))

    def confirm(v):
        got = pool_out(v["n"], v["k"], v["s"], 0, ceil_mode=True, semantics="torch")
        up = -(-(v["n"] - v["k"]) // v["s"]) + 1
        return f"rounded up {up}, PyTorch keeps {got}" if got != up else None

    return Refutation([n, k, s], hyps, z3.And(ok, ceil_out == rounded), confirm,
                      expect={"n": 2, "k": 1, "s": 2})
