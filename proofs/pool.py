"""Pooling: Lean's padded pool formula against PyTorch's, ceil_mode, and the divergences."""

from __future__ import annotations

import z3
from nnbridge.spec.domains import pool_agreement
from nnbridge.spec.shapes import conv_out, pool_out

from .engine import Proof, Refutation, nats, needed_and_enough, obligation
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
    return Proof(xs, hyps, z3.And(accepted == inside, z3.Implies(inside, lean == torch)),
                 subjects=[lean, torch, accepted])


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
    # Lean's value is the constant 1 already (the reading decides x/0 = 0): only PyTorch's
    # acceptance is a term to vary.
    return Proof([n, k, p], nat, z3.And(lean == 1, z3.Not(accepted)), subjects=[accepted])


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
        (ceil_out == floor_out + 1) == extra), subjects=[ceil_out, floor_out, ceil_ok])


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


@obligation("pool")
def pool_floor_mode_is_conv_size():
    """For all n, k, s, d >= 1 and p >= 0: PyTorch's pool (floor mode, dilation d) accepts
    exactly where conv_out with the same arguments does and 2p <= k (padding at most half
    the kernel), and there both give the same size."""
    (n, k, s, p, d), nat = nats("n k s p d")
    pooled, ok = torch_term(lambda: pool_out(n, k, s, p, d, semantics="torch"))
    conv, conv_ok = torch_term(lambda: conv_out(n, k, s, p, d, semantics="torch"))
    # Both sizes come out as one Z3 term while the two formulas agree, so "size" is an
    # identity of terms, which is the point (a change to either formula breaks it); only
    # the acceptance is a subject to vary.
    return Proof([n, k, s, p, d], nat + [n >= 1, k >= 1, s >= 1, d >= 1],
                 {"accepts": ok == z3.And(conv_ok, 2 * p <= k), "size": pooled == conv},
                 subjects=[ok])


@obligation("pool")
def pool_torch_preconditions():
    """For all integers n, k, s, p, d (of any sign): PyTorch accepts pool_out(n, k, s, p, d)
    (floor mode) exactly when k >= 1, s >= 1, d >= 1, p >= 0, n >= 1, 2p <= k and the output
    is at least 1, n + 2p >= d*(k - 1) + 1."""
    n, k, s, p, d = z3.Ints("n k s p d")
    _, ok = torch_term(lambda: pool_out(n, k, s, p, d, semantics="torch"))
    rules = {"kernel >= 1": k >= 1, "stride >= 1": s >= 1, "dilation >= 1": d >= 1,
             "padding >= 0": p >= 0, "input >= 1": n >= 1, "padding <= kernel/2": 2 * p <= k,
             "output >= 1": n + 2 * p >= d * (k - 1) + 1}
    return Proof([n, k, s, p, d], [], needed_and_enough(ok, rules), subjects=[ok])


@obligation("pool")
def pool_avg3d_needs_the_kernel():
    """For all integers n, k, s, p, d: PyTorch's avg_pool3d accepts an axis exactly when the
    max pool accepts it and n >= k (each input axis at least the kernel, padding not
    counted); max pooling in 3-D and average pooling in 2-D accept exactly as in 1-D."""
    n, k, s, p, d = z3.Ints("n k s p d")

    def accepted(op, rank):
        return torch_term(lambda: pool_out(n, k, s, p, d, op=op, rank=rank,
                                           semantics="torch"))[1]

    avg3, plain = accepted("avg", 3), accepted("max", 1)
    return Proof([n, k, s, p, d], [], {
        "avg_pool3d needs n >= k": z3.Implies(avg3, n >= k),
        "avg_pool3d needs the pool's rules": z3.Implies(avg3, plain),
        "and they suffice": z3.Implies(plain, z3.Implies(n >= k, avg3)),
        "max_pool3d is the plain rule": accepted("max", 3) == plain,
        "avg_pool2d is the plain rule": accepted("avg", 2) == plain,
    }, subjects=[avg3])
