"""TorchLean's current formulas (``semantics="lean-2026-07"``) against PyTorch's and against
TorchLean's earlier formulas (``semantics="lean"``).

Since 852c9c6 (2026-07-13) TorchLean's sliding window ``W(n, k, s, p)`` is 0 for invalid
geometry and its transposed-conv size is reordered and guarded; since c2be276 pooling with
padding above ``k/2`` is 0. Proved here, over naturals (dilation 1, no output padding or
ceil mode, which TorchLean has not): where PyTorch accepts, the current formulas equal
PyTorch's; they are 0 exactly where PyTorch raises, except for one named set of empty
inputs (conv with ``n = 0`` and ``2p >= k``); and the sizes where the two TorchLean
versions differ, characterised exactly. Every term is the formula itself, read as Z3.
"""

from __future__ import annotations

import z3
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

from .engine import Proof, Refutation, nats, obligation
from .terms import torch_term

NOW = "lean-2026-07"


def _ints(fn, v: dict, *names, semantics: str):
    from nnbridge.spec.errors import ShapeError

    try:
        return str(fn(*(v[x] for x in names), semantics=semantics))
    except ShapeError as exc:
        return f"raises ({exc.rule})"


def _confirm(fn, *names, left: str, right: str):
    """Confirms a counterexample when the int readings of ``left`` and ``right`` differ."""

    def confirm(v):
        a = _ints(fn, v, *names, semantics=left)
        b = _ints(fn, v, *names, semantics=right)
        return None if a == b else f"{left} {a}, {right} {b}"

    return confirm


# -- conv --------------------------------------------------------------------------------------
def _conv():
    (n, k, s, p), nat = nats("n k s p")
    now = conv_out(n, k, s, p, semantics=NOW)
    torch, accepted = torch_term(lambda: conv_out(n, k, s, p, semantics="torch"))
    return (n, k, s, p), nat, now, torch, accepted


@obligation("torchlean_versions")
def conv_now_equals_torch_where_torch_accepts():
    """For all naturals n, k, s, p: where PyTorch accepts conv_out(n, k, s, p) (dilation 1),
    TorchLean's current slidingWindowOutDim equals PyTorch's size, and is at least 1."""
    xs, nat, now, torch, accepted = _conv()
    return Proof(xs, nat + [accepted], z3.And(now == torch, now >= 1))


@obligation("torchlean_versions")
def conv_now_zero_exactly_where_torch_raises_but_empty_inputs():
    """For all naturals n, k, s, p: TorchLean's current conv size is 0 exactly where PyTorch
    raises, except on the empty inputs n = 0 with k >= 1, s >= 1 and 2p >= k, where PyTorch
    raises and TorchLean gives (2p - k)/s + 1 >= 1."""
    (n, k, s, p), nat, now, torch, accepted = _conv()
    empty = z3.And(n == 0, k >= 1, s >= 1, 2 * p >= k)
    return Proof([n, k, s, p], nat, z3.And(
        (now == 0) == z3.And(z3.Not(accepted), z3.Not(empty)),
        z3.Implies(empty, z3.And(z3.Not(accepted), now == (2 * p - k) / s + 1))))


@obligation("torchlean_versions")
def conv_now_least_nonzero_where_torch_raises():
    """Refuted: "TorchLean's current conv size is 0 wherever PyTorch raises". The least
    counterexample (in n, k, s, p order) is conv_out(0, 1, 1, 1): an empty input, PyTorch
    raises, TorchLean gives 2."""
    (n, k, s, p), nat, now, torch, accepted = _conv()
    return Refutation([n, k, s, p], nat, z3.Implies(z3.Not(accepted), now == 0),
                      _confirm(conv_out, "n", "k", "s", "p", left=NOW, right="torch"),
                      expect={"n": 0, "k": 1, "s": 1, "p": 1})


@obligation("torchlean_versions")
def conv_versions_differ_exactly_on_invalid_geometry():
    """For all naturals n, k, s, p: TorchLean's conv size before 852c9c6 and now differ
    exactly when k = 0, s = 0 or n + 2p < k (the earlier formula gives a size >= 1 there, the
    current one 0); elsewhere both are (n + 2p - k)/s + 1."""
    (n, k, s, p), nat = nats("n k s p")
    old, now = conv_out(n, k, s, p), conv_out(n, k, s, p, semantics=NOW)
    invalid = z3.Or(k == 0, s == 0, n + 2 * p < k)
    return Proof([n, k, s, p], nat, z3.And((old != now) == invalid,
                                           z3.Implies(invalid, z3.And(old >= 1, now == 0))))


# -- pool --------------------------------------------------------------------------------------
def _pool():
    (n, k, s, p), nat = nats("n k s p")
    now = pool_out(n, k, s, p, semantics=NOW)
    torch, accepted = torch_term(lambda: pool_out(n, k, s, p, semantics="torch"))
    return (n, k, s, p), nat, now, torch, accepted


@obligation("torchlean_versions")
def pool_now_equals_torch_where_torch_accepts():
    """For all naturals n, k, s, p: where PyTorch accepts max_pool (dilation 1, floor mode),
    TorchLean's current poolOutSpatialPad equals PyTorch's size, and is at least 1."""
    xs, nat, now, torch, accepted = _pool()
    return Proof(xs, nat + [accepted], z3.And(now == torch, now >= 1))


@obligation("torchlean_versions")
def pool_now_zero_exactly_where_torch_raises():
    """For all naturals n, k, s, p: TorchLean's current pool size is 0 exactly where PyTorch
    raises (empty input, kernel or stride 0, padding above k/2, a window overhanging the
    padded input): no exception."""
    xs, nat, now, torch, accepted = _pool()
    return Proof(xs, nat, (now == 0) == z3.Not(accepted))


@obligation("torchlean_versions")
def pool_versions_differ_exactly_on_invalid_geometry():
    """For all naturals n, k, s, p: TorchLean's pool size before c2be276 and now differ
    exactly when n = 0, k = 0, s = 0, p > k/2 or n + 2p < k (the earlier formula gives a
    size >= 1 there, the current one 0)."""
    (n, k, s, p), nat = nats("n k s p")
    old, now = pool_out(n, k, s, p), pool_out(n, k, s, p, semantics=NOW)
    invalid = z3.Or(n == 0, k == 0, s == 0, p > k / 2, n + 2 * p < k)
    return Proof([n, k, s, p], nat, z3.And((old != now) == invalid,
                                           z3.Implies(invalid, z3.And(old >= 1, now == 0))))


# -- transposed conv ---------------------------------------------------------------------------
def _transpose():
    (n, k, s, p), nat = nats("n k s p")
    now = conv_transpose_out(n, k, s, p, semantics=NOW)
    torch, accepted = torch_term(lambda: conv_transpose_out(n, k, s, p, semantics="torch"))
    return (n, k, s, p), nat, now, torch, accepted


@obligation("torchlean_versions")
def conv_transpose_now_equals_torch_where_torch_accepts():
    """For all naturals n, k, s, p: where PyTorch accepts conv_transpose_out(n, k, s, p)
    (dilation 1, output_padding 0), TorchLean's current convTransposeOutDim equals PyTorch's
    (n - 1)s - 2p + k, and is at least 1."""
    xs, nat, now, torch, accepted = _transpose()
    return Proof(xs, nat + [accepted], z3.And(now == torch, now >= 1))


@obligation("torchlean_versions")
def conv_transpose_now_zero_exactly_where_torch_raises():
    """For all naturals n, k, s, p: TorchLean's current transposed-conv size is 0 exactly
    where PyTorch raises (empty input, kernel or stride 0, (n - 1)s + k <= 2p): no
    exception."""
    xs, nat, now, torch, accepted = _transpose()
    return Proof(xs, nat, (now == 0) == z3.Not(accepted))


@obligation("torchlean_versions")
def conv_transpose_versions_differ_exactly():
    """For all naturals n, k, s, p: TorchLean's transposed-conv size before 852c9c6,
    ((n - 1)s - 2p) + k truncating left to right, and now, ((n - 1)s + k) - 2p guarded by
    n, k, s > 0, differ exactly when n = 0 and k > 0; or k = 0, n > 0 and (n - 1)s > 2p; or
    s = 0, n > 0 and k > 0; or n, k, s > 0 and (n - 1)s < 2p (the earlier truncation loses
    the difference; TorchLean's test convTransposeOutDim 1 3 1 1 = 1 is one)."""
    (n, k, s, p), nat = nats("n k s p")
    old, now = conv_transpose_out(n, k, s, p), conv_transpose_out(n, k, s, p, semantics=NOW)
    differ = z3.Or(z3.And(n == 0, k > 0), z3.And(k == 0, n > 0, (n - 1) * s > 2 * p),
                   z3.And(s == 0, n > 0, k > 0),
                   z3.And(n > 0, k > 0, s > 0, (n - 1) * s < 2 * p))
    return Proof([n, k, s, p], nat, (old != now) == differ)


@obligation("torchlean_versions")
def conv_transpose_torchlean_test_statement():
    """TorchLean's own test after 852c9c6, convTransposeOutDim 1 3 1 1 = 1, holds for the
    current formula, and the earlier one gives 3 there."""
    (n, k, s, p), nat = nats("n k s p")
    at = [n == 1, k == 3, s == 1, p == 1]
    old, now = conv_transpose_out(n, k, s, p), conv_transpose_out(n, k, s, p, semantics=NOW)
    return Proof([n, k, s, p], nat + at, z3.And(now == 1, old == 3))
