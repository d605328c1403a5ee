"""TorchLean's IR shape contracts (``OpContracts``/``Infer``): each kind's output shape from
its parents' shapes, and what it rejects.

The sliding-window kinds (``conv2d``, the four pools) compute each spatial axis with
:func:`window`: TorchLean's ``W(n, k, t, p)`` is nnbridge's
``conv_out(n, k, t, p, semantics="lean-2026-07")`` (``slidingWindowOutDim``), and the IR
rejects ``k = 0``, ``t = 0`` and ``n + 2p < k`` before it. :func:`window` is written over
the one-formula arithmetic, so the proofs (``proofs/torchlean_ir.py``) read the very
function the importer runs, as Z3 terms. The other kinds are list rules on concrete
shapes.

Each rejection is an :class:`~nnbridge.torchlean.ir.IRError` naming the node, the check
and an nnbridge :class:`~nnbridge.spec.errors.Rule`.
"""

from __future__ import annotations

import math

from nnbridge.spec.arith import reading_for
from nnbridge.spec.errors import Rule
from nnbridge.spec.formulas import LEAN_2026_07, conv_out

__all__ = ["broadcast_left", "infer", "window"]


def window(n, k, t, p):
    """``(accepts, W(n, k, t, p))`` for one spatial axis of ``conv2d`` or a pool.

    ``accepts = k >= 1 and t >= 1 and n + 2p >= k`` (the IR rejects the rest) and
    ``W(n, k, t, p) = if k = 0 or t = 0 or n + 2p < k then 0 else (n + 2p - k)/t + 1``
    is ``conv_out(n, k, t, p, semantics="lean-2026-07")``. Ints, Z3 or SymPy terms.
    """
    r = reading_for(n, k, t, p)
    accepts = r.and_(r.ge(k, 1), r.ge(t, 1), r.ge(r.add(n, r.mul(2, p)), k))
    return accepts, conv_out(n, k, t, p, semantics=LEAN_2026_07)


def broadcast_left(source, target) -> bool:
    """TorchLean's ``B(f, t)``, aligned from the left: ``B([], t)`` holds; if the leading
    axes are equal or ``f``'s is 1, drop both and recurse; otherwise drop ``t``'s leading
    axis (no backtracking)."""
    f, t = list(source), list(target)
    while f:
        if not t:
            return False
        if f[0] == t[0] or f[0] == 1:
            f, t = f[1:], t[1:]
        else:
            t = t[1:]
    return True


def _numel(shape) -> int:
    return math.prod(shape)


def infer(node, shapes: list, fail) -> tuple:
    """The inferred output shape of ``node`` (an IR node) from its parents' ``shapes``.

    ``fail(rule, detail)`` builds the error for a rejection (the caller names the node).
    """
    kind, f, out = node.kind, node.fields, node.shape
    s = shapes[0] if shapes else None
    r = len(s) if s is not None else 0

    def need(cond, rule, detail):
        if not cond:
            raise fail(rule, detail)

    if kind in ("input", "rand_uniform"):
        return out
    if kind == "const":
        value_shape = f.get("value_shape", out)
        need(value_shape == out, Rule.SHAPE_MATCH,
             f"value_shape {list(value_shape)} differs from the declared shape {list(out)}")
        return value_shape
    if kind == "bernoulli_mask":
        need(s == (), Rule.RANK, f"the keep probability must have shape [], got {list(s)}")
        return out
    if kind in UNARY or kind == "detach":
        return s
    if kind in ELEMENTWISE or kind == "mse_loss":
        a, b = shapes
        need(a == b, Rule.SHAPE_MATCH, f"operands of shapes {list(a)} and {list(b)} "
                                       "(the IR has no implicit broadcasting)")
        return a if kind != "mse_loss" else ()
    if kind == "permute":
        perm = f["perm"]
        need(len(perm) == r, Rule.AXIS_COUNT, f"perm {list(perm)} has {len(perm)} axes, "
                                              f"the input {r}")
        need(len(set(perm)) == len(perm), Rule.AXIS_COUNT, f"perm {list(perm)} repeats an axis")
        need(all(p < r for p in perm), Rule.AXIS_COUNT,
             f"perm {list(perm)} names an axis >= {r}")
        return tuple(s[p] for p in perm)
    if kind == "broadcast_to":
        need(s == f["from_shape"], Rule.SHAPE_MATCH,
             f"input shape {list(s)} differs from from_shape {list(f['from_shape'])}")
        need(broadcast_left(f["from_shape"], f["to_shape"]), Rule.SHAPE_MATCH,
             f"{list(f['from_shape'])} does not broadcast to {list(f['to_shape'])} (aligned "
             "from the left)")
        return f["to_shape"]
    if kind in ("reduce_sum", "reduce_mean"):
        a = f["axis"]
        need(a < r, Rule.AXIS_COUNT, f"axis {a} of a {r}-axis input")
        return s[:a] + s[a + 1:]
    if kind == "sum":
        return ()
    if kind == "matmul":
        a, b = shapes
        if len(a) == 2 and len(b) == 2:
            need(a[1] == b[0], Rule.SHAPE_MATCH, f"inner dimensions differ: {list(a)} x "
                                                 f"{list(b)}")
            return (a[0], b[1])
        if len(a) == 3 and len(b) == 3:
            need(a[0] == b[0], Rule.SHAPE_MATCH, f"batch dimensions differ: {list(a)} x "
                                                 f"{list(b)}")
            need(a[2] == b[1], Rule.SHAPE_MATCH, f"inner dimensions differ: {list(a)} x "
                                                 f"{list(b)}")
            return (a[0], a[1], b[2])
        raise fail(Rule.RANK, f"matmul takes [m,n]x[n,p] or [b,m,n]x[b,n,p], got {list(a)} "
                              f"x {list(b)}")
    if kind == "linear":
        need(r > 0, Rule.RANK, "the input is a scalar")
        need(len(out) > 0, Rule.RANK, "the declared output is a scalar")
        need(s[:-1] == out[:-1], Rule.SHAPE_MATCH,
             f"leading axes {list(s[:-1])} differ from the declared {list(out[:-1])}")
        return out
    if kind == "conv2d":
        need(f["inC"] >= 1, Rule.CHANNELS, "inC = 0")
        return _sliding(node, s, fail, channels=f["inC"], out_channels=f["outC"])
    if kind in POOLS:
        return _sliding(node, s, fail, channels=None, out_channels=None)
    if kind == "batch_norm2d_nchw_eval":
        c = f["channels"]
        need(c >= 1, Rule.CHANNELS, "channels = 0")
        need(r == 4, Rule.RANK, f"expects [N, C, H, W], got {list(s)}")
        need(s[1] == c, Rule.CHANNELS, f"{c} channels expected, the input {list(s)} has {s[1]}")
        need(s[0] and s[2] and s[3], Rule.INPUT_NONEMPTY, f"N, H and W must be positive, got "
                                                          f"{list(s)}")
        return s
    if kind == "softmax":
        need(f["axis"] < r, Rule.AXIS_COUNT, f"axis {f['axis']} of a {r}-axis input")
        return s
    if kind == "layernorm":
        a = f["axis"]
        need(a < r, Rule.AXIS_COUNT, f"axis {a} of a {r}-axis input")
        need(_numel(s[:a]) > 0 and _numel(s[a:]) > 0, Rule.INPUT_NONEMPTY,
             f"the products of {list(s[:a])} and {list(s[a:])} must be positive")
        return s
    if kind == "reshape":
        need(s == f["in_shape"], Rule.SHAPE_MATCH,
             f"input shape {list(s)} differs from in_shape {list(f['in_shape'])}")
        need(_numel(f["in_shape"]) == _numel(f["out_shape"]), Rule.SHAPE_MATCH,
             f"in_shape {list(f['in_shape'])} and out_shape {list(f['out_shape'])} hold "
             "different numbers of elements")
        return f["out_shape"]
    if kind == "flatten":
        need(s == f["value_shape"], Rule.SHAPE_MATCH,
             f"input shape {list(s)} differs from value_shape {list(f['value_shape'])}")
        return (_numel(s),)
    if kind == "concat":
        a = f["axis"]
        need(len(shapes) >= 2, Rule.AXIS_COUNT, "concat takes at least two inputs")
        need(len({len(x) for x in shapes}) == 1, Rule.RANK,
             f"inputs of different ranks {[list(x) for x in shapes]}")
        need(a < r, Rule.AXIS_COUNT, f"axis {a} of {r}-axis inputs")
        for x in shapes[1:]:
            need(x[:a] == s[:a] and x[a + 1:] == s[a + 1:], Rule.SHAPE_MATCH,
                 f"inputs {list(s)} and {list(x)} differ off axis {a}")
        return s[:a] + (sum(x[a] for x in shapes),) + s[a + 1:]
    if kind == "swap_first_two":
        need(r >= 2, Rule.RANK, f"needs at least 2 axes, got {list(s)}")
        return (s[1], s[0]) + s[2:]
    if kind == "transpose3d_last_two":
        need(r == 3, Rule.RANK, f"needs 3 axes, got {list(s)}")
        return (s[0], s[2], s[1])
    raise fail(Rule.UNKNOWN_OP, f"no shape contract for kind {kind!r}")  # pragma: no cover


def _sliding(node, s, fail, *, channels, out_channels) -> tuple:
    """``[C, W(H, kH, t, p), W(X, kW, t, p)]``, through :func:`window` on each axis."""
    f = node.fields
    k_h, k_w, t, p = f["kH"], f["kW"], f["stride"], f.get("padding", 0)
    for name, value in (("kH", k_h), ("kW", k_w)):
        if value == 0:
            raise fail(Rule.KERNEL_POSITIVE, f"{name} = 0")
    if t == 0:
        raise fail(Rule.STRIDE_POSITIVE, "stride = 0")
    if len(s) != 3:
        raise fail(Rule.RANK, f"expects one image [C, H, W] (no batch axis), got {list(s)}")
    if channels is not None and s[0] != channels:
        raise fail(Rule.CHANNELS, f"inC = {channels}, the input {list(s)} has {s[0]} channels")
    sizes = []
    for axis, (n, k) in enumerate(((s[1], k_h), (s[2], k_w))):
        accepts, size = window(n, k, t, p)
        if not accepts:
            raise fail(Rule.KERNEL_FITS,
                       f"the window {k} does not fit the padded input on axis "
                       f"{'HW'[axis]}: {n} + 2*{p} < {k}")
        sizes.append(size)
    return (s[0] if out_channels is None else out_channels, *sizes)


#: Kinds with one parent whose output has the parent's shape.
UNARY = ("abs", "sqrt", "inv", "relu", "tanh", "sigmoid", "exp", "log", "sin", "cos")
#: Elementwise kinds of two parents of one shape.
ELEMENTWISE = ("add", "sub", "mul_elem", "max_elem", "min_elem")
#: The pooling kinds (``_pad``: with a ``padding`` field).
POOLS = ("max_pool2d", "avg_pool2d", "max_pool2d_pad", "avg_pool2d_pad")
