"""Transposed convolution: Lean's left-to-right Nat formula against PyTorch's."""

from __future__ import annotations

import z3
from nnbridge.spec.domains import conv_transpose_agreement
from nnbridge.spec.shapes import conv_transpose_out

from .engine import Proof, Refutation, nats, needed_and_enough, obligation
from .terms import as_bool, compare_ints, torch_term


def _setup():
    (n, s, p, k), nat = nats("n s p k")
    lean = conv_transpose_out(n, k, s, p)
    torch, accepted = torch_term(lambda: conv_transpose_out(n, k, s, p, semantics="torch"))
    return (n, s, p, k), nat + [n >= 1, k >= 1, s >= 1], lean, torch, accepted


def _confirm(v):
    args = (v["n"], v["k"], v["s"], v["p"])
    return compare_ints(lambda: conv_transpose_out(*args),
                        lambda: conv_transpose_out(*args, semantics="torch"))


@obligation("conv_transpose")
def conv_transpose_lean_equals_torch_on_domain(domain=conv_transpose_agreement):
    """For all n, k, s >= 1 and p >= 0 (output_padding 0, dilation 1): PyTorch accepts
    conv_transpose_out(n, k, s, p) and agrees with Lean's (n - 1)*s - 2p + k exactly when
    (n - 1)*s >= 2p, i.e. when Lean's truncated subtraction does not truncate."""
    # ``domain`` is the samplers' predicate, nnbridge.spec.domains.conv_transpose_agreement,
    # itself; a test passes a planted wrong one to see this very obligation refuted.
    xs, hyps, lean, torch, accepted = _setup()
    n, s, p, k = xs
    inside = as_bool(domain(n, k, s, p))
    return Proof(xs, hyps, z3.And(accepted, lean == torch) == inside,
                 subjects=[lean, torch, accepted])


@obligation("conv_transpose")
def conv_transpose_least_divergence():
    """Refuted: "PyTorch accepts conv_transpose_out and agrees with Lean". The least
    counterexample (in n, s, p, k order) is conv_transpose_out(1, 1, 1, 1): Lean gives 1,
    PyTorch's output (n-1)*s - 2p + k = -1 is too small and it raises."""
    xs, hyps, lean, torch, accepted = _setup()
    return Refutation(xs, hyps, z3.And(accepted, lean == torch), _confirm,
                      expect={"n": 1, "s": 1, "p": 1, "k": 1})


@obligation("conv_transpose")
def conv_transpose_both_run_but_differ():
    """Refuted where both semantics give a size: the least counterexample with PyTorch
    accepting is conv_transpose_out(1, 3, 1, 1): Lean 3 ((0*1 - 2) truncates to 0, then
    + 3), PyTorch 1. Later TorchLean versions reorder the formula to (n - 1)*s + k - 2p."""
    xs, hyps, lean, torch, accepted = _setup()
    return Refutation(xs, hyps + [accepted], lean == torch, _confirm,
                      expect={"n": 1, "s": 1, "p": 1, "k": 3})


@obligation("conv_transpose")
def conv_transpose_reordered_formula_agrees():
    """For all n, k, s >= 1, p >= 0 where PyTorch accepts: the reordered Lean formula
    (n - 1)*s + k - 2p (in Nat) equals PyTorch's output."""
    xs, hyps, lean, torch, accepted = _setup()
    n, s, p, k = xs
    reordered = z3.If((n - 1) * s + k >= 2 * p, (n - 1) * s + k - 2 * p, 0)
    return Proof(xs, hyps + [accepted], reordered == torch, subjects=[torch])


@obligation("conv_transpose")
def conv_transpose_output_padding_and_dilation():
    """For all n, k, s, d >= 1 and p, a >= 0 (a the output_padding): PyTorch accepts
    conv_transpose_out(n, k, s, p, a, d) exactly when a < s or a < d and the size is at
    least 1, and the size is a more than with dilation 1, output_padding 0 and a kernel of
    the dilated reach d*(k - 1) + 1."""
    (n, k, s, p, a, d), nat = nats("n k s p a d")
    full, ok = torch_term(lambda: conv_transpose_out(n, k, s, p, a, d, semantics="torch"))
    base, _ = torch_term(lambda: conv_transpose_out(n, d * (k - 1) + 1, s, p,
                                                    semantics="torch"))
    return Proof([n, k, s, p, a, d], nat + [n >= 1, k >= 1, s >= 1, d >= 1],
                 {"size": full == base + a,
                  "accepts": ok == z3.And(z3.Or(a < s, a < d), base + a >= 1)},
                 subjects=[full, ok])


@obligation("conv_transpose")
def conv_transpose_torch_preconditions():
    """For all integers n, k, s, p, a, d (of any sign; a the output_padding): PyTorch accepts
    conv_transpose_out(n, k, s, p, a, d) exactly when k >= 1, s >= 1, d >= 1, p >= 0,
    a >= 0, n >= 1, a < s or a < d, and its size is at least 1."""
    n, k, s, p, a, d = z3.Ints("n k s p a d")
    size, ok = torch_term(lambda: conv_transpose_out(n, k, s, p, a, d, semantics="torch"))
    rules = {"kernel >= 1": k >= 1, "stride >= 1": s >= 1, "dilation >= 1": d >= 1,
             "padding >= 0": p >= 0, "output_padding >= 0": a >= 0, "input >= 1": n >= 1,
             "output_padding < stride or dilation": z3.Or(a < s, a < d), "output >= 1": size >= 1}
    return Proof([n, k, s, p, a, d], [], needed_and_enough(ok, rules), subjects=[ok])
