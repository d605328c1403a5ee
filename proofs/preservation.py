"""Size preservation: 'same' padding keeps every size, in both semantics (but n = 0)."""

from __future__ import annotations

import z3
from nnbridge.spec.shapes import conv_out

from .engine import Proof, nats, obligation
from .terms import torch_term


@obligation("preservation")
def same_padding_preserves_size_lean():
    """For all n >= 1 and p >= 0: Lean's conv_out(n, 2p + 1, 1, p) = n."""
    (n, p), nat = nats("n p")
    out = conv_out(n, 2 * p + 1, 1, p)
    return Proof([n, p], nat + [n >= 1], out == n, subjects=[out])


@obligation("preservation")
def same_padding_preserves_size_torch():
    """For all n >= 1 and p >= 0: PyTorch accepts conv_out(n, 2p + 1, 1, p) and it is n."""
    (n, p), nat = nats("n p")
    out, accepted = torch_term(lambda: conv_out(n, 2 * p + 1, 1, p, semantics="torch"))
    return Proof([n, p], nat + [n >= 1], z3.And(accepted, out == n),
                 subjects=[out, accepted])


@obligation("preservation")
def same_padding_zero_is_lean_exception():
    """For all p >= 0: n = 0 is the lone exception: Lean's conv_out(0, 2p + 1, 1, p) is 1,
    not 0, and PyTorch rejects the empty axis."""
    (p,), nat = nats("p")
    _, accepted = torch_term(lambda: conv_out(0, 2 * p + 1, 1, p, semantics="torch"))
    out = conv_out(0, 2 * p + 1, 1, p)
    return Proof([p], nat, z3.And(out == 1, z3.Not(accepted)), subjects=[out, accepted])


@obligation("preservation")
def conv3x3_outSize_eq():  # noqa: N802 - TorchLean's lemma name
    """TorchLean's conv3x3_outSize_eq: for all n > 0, convOut n 3 1 1 = n."""
    (n,), nat = nats("n")
    out = conv_out(n, 3, 1, 1)
    return Proof([n], nat + [n > 0], out == n, subjects=[out])


@obligation("preservation")
def conv1x1_outSize_eq():  # noqa: N802 - TorchLean's lemma name
    """TorchLean's conv1x1_outSize_eq: for all n > 0, convOut n 1 1 0 = n."""
    (n,), nat = nats("n")
    out = conv_out(n, 1, 1, 0)
    return Proof([n], nat + [n > 0], out == n, subjects=[out])


@obligation("preservation")
def stride_one_preserves_only_with_same_padding():
    """For all k >= 1, p >= 0 and n >= 1: a stride-1 conv that keeps n has kernel 2p + 1,
    in PyTorch semantics for every such n and in Lean's for n >= 2; at n = 1 Lean's phantom
    cell keeps the size with any kernel k > 2p + 1 too."""
    (n, k, p), nat = nats("n k p")
    torch, accepted = torch_term(lambda: conv_out(n, k, 1, p, semantics="torch"))
    lean = conv_out(n, k, 1, p)
    lean_keeps = lean == n
    torch_keeps = z3.And(accepted, torch == n)
    return Proof([n, k, p], nat + [n >= 1, k >= 1], z3.And(
        z3.Implies(torch_keeps, k == 2 * p + 1),
        z3.Implies(z3.And(lean_keeps, n >= 2), k == 2 * p + 1),
        lean_keeps == z3.Or(k == 2 * p + 1, z3.And(n == 1, k > 2 * p + 1))),
        subjects=[lean, torch])  # PyTorch's size alone forces k = 2p + 1: acceptance is idle
