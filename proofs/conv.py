"""Convolution: where TorchLean's Nat formula and PyTorch agree, and where they part."""

from __future__ import annotations

import z3
from nnbridge.spec.domains import conv_agreement
from nnbridge.spec.shapes import conv_out

from .engine import Proof, Refutation, nats, needed_and_enough, obligation
from .terms import as_bool, compare_ints, torch_term


def _setup():
    (n, k, s, p), nat = nats("n k s p")
    lean = conv_out(n, k, s, p)
    torch, accepted = torch_term(lambda: conv_out(n, k, s, p, semantics="torch"))
    return (n, k, s, p), nat + [n >= 1, k >= 1, s >= 1], lean, torch, accepted


def _confirm(v):
    return compare_ints(lambda: conv_out(v["n"], v["k"], v["s"], v["p"]),
                        lambda: conv_out(v["n"], v["k"], v["s"], v["p"], semantics="torch"))


@obligation("conv")
def conv_lean_equals_torch_on_domain(domain=conv_agreement):
    """For all n, k, s >= 1 and p >= 0 (dilation 1): PyTorch accepts conv_out(n, k, s, p)
    exactly when n + 2p >= k, and there Lean's Nat formula (n + 2p - k)/s + 1 equals
    PyTorch's floor((n + 2p - k)/s) + 1."""
    # ``domain`` is the samplers' predicate, nnbridge.spec.domains.conv_agreement, itself;
    # a test passes a planted wrong one to see this very obligation refuted.
    xs, hyps, lean, torch, accepted = _setup()
    inside = as_bool(domain(*xs))
    return Proof(xs, hyps, z3.And(accepted == inside, z3.Implies(inside, lean == torch)),
                 subjects=[lean, torch, accepted])


@obligation("conv")
def conv_least_divergence():
    """Refuted: "PyTorch accepts conv_out and agrees with Lean" over n, k, s >= 1, p >= 0.
    The least counterexample (in n, k, s, p order) is conv_out(1, 2, 1, 0): n + 2p < k,
    Lean gives 1 (a phantom cell), PyTorch raises."""
    xs, hyps, lean, torch, accepted = _setup()
    return Refutation(xs, hyps, z3.And(accepted, lean == torch), _confirm,
                      expect={"n": 1, "k": 2, "s": 1, "p": 0})


@obligation("conv")
def conv_phantom_cell():
    """For all n, k, s >= 1, p >= 0 with n + 2p < k: Lean's conv_out is 1 and PyTorch raises
    ("Kernel size can't be greater than actual input size")."""
    xs, hyps, lean, torch, accepted = _setup()
    outside = z3.Not(as_bool(conv_agreement(*xs)))
    return Proof(xs, hyps + [outside], z3.And(lean == 1, z3.Not(accepted)),
                 subjects=[lean, accepted])


@obligation("conv")
def conv_stride_zero():
    """For all n, k, p: Lean's conv_out(n, k, 0, p) is 1 (x/0 = 0 in Nat), PyTorch raises
    ("non-positive stride is not supported")."""
    (n, k, p), nat = nats("n k p")
    lean = conv_out(n, k, 0, p)
    _, accepted = torch_term(lambda: conv_out(n, k, 0, p, semantics="torch"))
    # Lean's value is the constant 1 already (the reading decides x/0 = 0): only PyTorch's
    # acceptance is a term to vary.
    return Proof([n, k, p], nat, z3.And(lean == 1, z3.Not(accepted)), subjects=[accepted])


@obligation("conv")
def conv_kernel_zero():
    """For all n, s >= 1, p: Lean's conv_out(n, 0, s, p) is (n + 2p)/s + 1, one more window
    than any kernel fits; PyTorch raises ("kernel size should be greater than zero")."""
    (n, s, p), nat = nats("n s p")
    lean = conv_out(n, 0, s, p)
    _, accepted = torch_term(lambda: conv_out(n, 0, s, p, semantics="torch"))
    return Proof([n, s, p], nat + [s >= 1], z3.And(lean == (n + 2 * p) / s + 1,
                                                   z3.Not(accepted)),
                 subjects=[lean, accepted])


@obligation("conv")
def conv_dilation_is_a_wider_kernel():
    """For all n, k, s, d >= 1 and p >= 0: PyTorch's conv_out with dilation d accepts exactly
    where, and gives exactly what, it gives with dilation 1 and a kernel of the dilated
    reach d*(k - 1) + 1."""
    (n, k, s, p, d), nat = nats("n k s p d")
    dilated, ok = torch_term(lambda: conv_out(n, k, s, p, d, semantics="torch"))
    wide, wide_ok = torch_term(lambda: conv_out(n, d * (k - 1) + 1, s, p, semantics="torch"))
    return Proof([n, k, s, p, d], nat + [n >= 1, k >= 1, s >= 1, d >= 1],
                 {"accepts": ok == wide_ok, "size": dilated == wide},
                 subjects=[dilated, ok])


@obligation("conv")
def conv_torch_preconditions():
    """For all integers n, k, s, p, d (of any sign): PyTorch accepts conv_out(n, k, s, p, d)
    exactly when k >= 1, s >= 1, d >= 1, p >= 0, n >= 1 and the padded input holds the
    dilated window, n + 2p >= d*(k - 1) + 1."""
    n, k, s, p, d = z3.Ints("n k s p d")
    _, ok = torch_term(lambda: conv_out(n, k, s, p, d, semantics="torch"))
    rules = {"kernel >= 1": k >= 1, "stride >= 1": s >= 1, "dilation >= 1": d >= 1,
             "padding >= 0": p >= 0, "input >= 1": n >= 1,
             "window fits": n + 2 * p >= d * (k - 1) + 1}
    return Proof([n, k, s, p, d], [], needed_and_enough(ok, rules), subjects=[ok])
