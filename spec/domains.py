"""The proved domains where TorchLean's Nat formulas and PyTorch agree, each written once.

Each predicate is written over :mod:`nnbridge.spec.arith`, like the shape formulas, and reads
as a Python ``bool`` for ints and as a Z3 or SymPy boolean for symbols. The proofs in
``proofs/`` state these very predicates as the domains of agreement and prove them
(``conv_lean_equals_torch_on_domain``, ...); the specs' and kernels' samplers draw their
sizes inside them. So a sampled test never restates a bound by hand, and a wrong domain is
refuted by the proof before any sample is drawn from it.

All three assume ``n >= 1``, ``k >= 1``, ``s >= 1``, ``p >= 0`` and dilation 1.
"""

from __future__ import annotations

from .arith import reading_for

__all__ = ["conv_agreement", "conv_transpose_agreement", "pool_agreement"]


def conv_agreement(n, k, s, p):
    """``n + 2p >= k``: the window fits the padded input (no phantom cell)."""
    r = reading_for(n, k, s, p)
    return r.ge(r.add(n, r.mul(2, p)), k)


def pool_agreement(n, k, s, p):
    """``n + 2p >= k`` and ``2p <= k``: the window fits, and PyTorch's padding limit holds."""
    r = reading_for(n, k, s, p)
    return r.and_(r.ge(r.add(n, r.mul(2, p)), k), r.ge(k, r.mul(2, p)))


def conv_transpose_agreement(n, k, s, p):
    """``(n - 1) s >= 2p``: Lean's truncated subtraction does not truncate."""
    r = reading_for(n, k, s, p)
    return r.ge(r.mul(r.sub(n, 1), s), r.mul(2, p))
