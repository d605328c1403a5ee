"""UNet valid sizes for EVERY depth, by induction on the network's recursive structure.

A UNet without its head is ``N_0 = bottom`` and, one level at a time,
``N_d = dec_convs . join(skip) . up . N_{d-1} . down . convs``: the encoder convs give the
skip tap ``e``, the down step gives ``h``, the inner network ``N_{d-1}`` gives ``y``, the up
step gives ``u``, the skip joins (``concat``: ``u == e``; ``crop``: ``e >= u``) and the
decoder convs give the output. :func:`level_step` applies one level to a Z3 term with the
layers' own formulas (each description layer's ``apply``, i.e. ``conv_out``, ``pool_out``,
``conv_transpose_out`` of :mod:`nnbridge.spec.shapes` in PyTorch semantics, their
acceptance conditions collected), the pool's tiling rule as the UNet checker states it, and
the inner network *abstract*: a verdict ``ok`` and an output ``y`` at ``h`` that only the
induction hypothesis constrains.

The theorems, with ``Q = 2**d`` (``s**d`` for the symbolic stride):

* same padding (3x3 convs with padding 1, pool and up-sampling by ``s``, ``concat``
  skips): ``N_d`` accepts exactly ``n = Q*k`` with ``k >= 1``, and returns ``n``;
* valid convolutions (Ronneberger et al.: two unpadded 3x3 convs per level, 2x2 max-pools
  on even sizes, 2x2 transposed convs, centre-cropped skips): for ``d >= 2``, ``N_d``
  accepts exactly ``n = Q*k + c_d`` with ``n >= t_d`` and returns ``n - b_d``, where

      ``c_d = Q - 4``,   ``t_d = 12*Q - 4 = 11*Q + c_d``,   ``b_d = 12*Q - 8``;

  depth 1 is the exception: ``n = 2k``, ``n >= 18`` (``c_1 = 0``, ``t_1 = 18``).
  Depth 4 gives ``16k + 12`` from 188, and 572 -> 388.

The closed forms come from the level's recurrences: the encoder maps ``n -> (n - 4) / 2``
(two convs, then a pool that needs an even size), the decoder ``y -> 2y - 4``; so
``b_d = 2 b_{d-1} + 8`` (``b_0 = 4``), the residue ``c_d = 2 c_{d-1} + 4`` mod ``2**d``,
and the binding threshold is the deepest decoder's first conv, which needs ``u = 2y >= 5``.

Each induction is three obligations, each discharged by Z3 through the engine: the base
case (a concrete depth), the step (``P = 2**(d-1)``, or ``s**(d-1)``, a symbolic positive
integer, the hypothesis instantiated at the inner network's input ``h``), and the head
(the whole network, ``head . N_d``, accepts what ``N_d`` accepts). Divisibility by the
symbolic ``P`` is stated with its witness ``k`` (``n = P*k + c``): written with ``n % P``,
the valid-convolution step is ``unknown`` to Z3 after 20 s (the same-padded one takes 5 to
8 s), while the witness form is proved in milliseconds. The step's soundness keeps ``k``
(``h = P*k + c_{d-1}`` gives ``n = 2P*k + c_d``); its completeness instantiates the
hypothesis at the same ``k``. The symbolic-stride step shares the same-padded base case
(the bottom block) and head.

Cross-checks against the repository's own UNet checker (:func:`nnbridge.unet.obligations.
valid_term`, on the graph of the ``ronneberger`` preset): for depths 1 to 8, the closed
forms equal the checker's verdict for every size, and the nested :func:`level_step` equals
the checker, so the level the induction reasons about is the one the checker runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3
from nnbridge.spec.arith import conditions
from nnbridge.spec.shapes import conv_out, conv_transpose_out, pool_out

from nnbridge.unet.description import Pool
from nnbridge.unet.obligations import trace, valid_term
from nnbridge.unet.presets import build_preset

from .engine import Proof, Refutation, obligation

__all__ = [
    "DEPTHS",
    "SameRule",
    "Stage",
    "ValidRule",
    "apply_layers",
    "level_step",
    "nested",
    "ronneberger",
    "symbolic_same_stage",
]

#: The depths the per-depth cross-checks cover.
DEPTHS = tuple(range(1, 9))

Inner = Callable[[Any], tuple[Any, Any]]  # h -> (accepted, output)


# --------------------------------------------------------------------------------------
# One level, applied to a term
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """A level as the induction sees it: the fields of
    :class:`nnbridge.unet.description.Level` (layers with ``apply(size, axis)``)."""

    convs: tuple
    down: tuple
    up: tuple
    skip: str
    dec_convs: tuple


@dataclass(frozen=True)
class _Formula:
    """A layer given by a shape formula of :mod:`nnbridge.spec.shapes` (symbolic
    parameters, which description layers do not take)."""

    formula: Callable
    args: tuple

    def apply(self, size, axis: int, target=None):
        return self.formula(size, *self.args, semantics="torch")


def symbolic_same_stage(s) -> Stage:
    """A same-padded level with a symbolic stride ``s``: two 3x3 convs with padding 1, a
    max-pool with kernel = stride = ``s``, a transposed conv with kernel = stride = ``s``,
    a ``concat`` skip, two 3x3 convs."""
    conv = _Formula(conv_out, (3, 1, 1))
    return Stage((conv, conv), (_Formula(pool_out, (s, s)),),
                 (_Formula(conv_transpose_out, (s, s)),), "concat", (conv, conv))


def apply_layers(layers, x) -> tuple[Any, Any]:
    """``(accepted, output)``: the layers applied in order to ``x`` (one axis), with the
    conjunction of PyTorch's conditions on them (and each exact pool's tiling rule)."""
    held = []
    for layer in layers:
        size = x
        with conditions() as conds:
            x = layer.apply(x, 0)
        held += [c for _, c in conds]
        if isinstance(layer, Pool) and layer.exact:
            # the pool drops nothing: s divides n + 2p - d(k - 1) - 1 (the checker's rule)
            k, s, p, d = (_axis0(v) for v in (layer.kernel, layer.stride, layer.padding,
                                              layer.dilation))
            held.append((size + 2 * p - d * (k - 1) - 1) % s == 0)
    return _and(held), x


def _axis0(value):
    return value[0] if isinstance(value, tuple) else value


def _and(conds) -> Any:
    conds = [z3.BoolVal(c) if isinstance(c, bool) else c for c in conds]
    return z3.And(*conds) if conds else z3.BoolVal(True)


def level_step(level, x, inner: Inner) -> tuple[Any, Any]:
    """``(accepted, output)`` of one level around the inner network ``inner``."""
    enc_ok, e = apply_layers(level.convs, x)
    down_ok, h = apply_layers(level.down, e)
    inner_ok, y = inner(h)
    up_ok, u = apply_layers(level.up, y)
    join = {"concat": [u == e], "add": [u == e], "crop": [e >= u], "none": []}[level.skip]
    dec_ok, out = apply_layers(level.dec_convs, u)
    return _and([enc_ok, down_ok, inner_ok, up_ok, *join, dec_ok]), out


def nested(levels, bottom, x) -> tuple[Any, Any]:
    """``N_d`` itself: the levels (top first) around the bottom block, nothing abstract."""
    if not levels:
        return apply_layers(bottom, x)
    return level_step(levels[0], x, lambda h: nested(levels[1:], bottom, h))


def ronneberger(depth: int, padding: int):
    """The repository's ``ronneberger`` preset (padding 0: valid convs; 1: same)."""
    return build_preset("ronneberger", {"depth": depth, "padding": padding})


def _whole(desc, x) -> tuple[Any, Any]:
    """``head . N_d`` of a description, and its output condition ("same": out == n)."""
    ok, y = nested(desc.levels, desc.bottom, x)
    head_ok, out = apply_layers(desc.head, y)
    same = [out == x] if desc.output == "same" else []
    return _and([ok, head_ok, *same]), out


# --------------------------------------------------------------------------------------
# The closed forms
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ValidRule:
    """Valid convolutions, depth ``d >= 2``, ``Q = 2**d``: ``n = Q*k + c``, ``n >= t``,
    output ``n - b``; ``c = Q - 4``, ``t = 12Q - 4``, ``b = 12Q - 8``."""

    @staticmethod
    def offset(q):
        return q - 4

    @staticmethod
    def threshold(q):
        return 12 * q - 4

    @staticmethod
    def shrink(q):
        return 12 * q - 8

    def member(self, q, n, k):
        """``n = Q*k + c_d`` and ``n >= t_d`` (``k`` the witness)."""
        return z3.And(n >= self.threshold(q), n == q * k + self.offset(q))

    def holds(self, q: int, n):
        """The same for a concrete ``Q``, without a witness."""
        return z3.And(n >= self.threshold(q), (n - self.offset(q)) % q == 0)

    def output(self, q, n):
        return n - self.shrink(q)


@dataclass(frozen=True)
class SameRule:
    """Same padding, ``Q = s**d``: ``n = Q*k`` with ``n >= 1``; output ``n``."""

    def member(self, q, n, k):
        return z3.And(n >= 1, n == q * k)

    def holds(self, q: int, n):
        return z3.And(n >= 1, n % q == 0)

    def output(self, q, n):
        return n


VALID, SAME = ValidRule(), SameRule()


def _closed(rule, depth: int, n):
    """The closed form's verdict at a concrete depth (valid convs: depth 1 apart)."""
    if isinstance(rule, ValidRule) and depth == 1:
        return z3.And(n >= 18, n % 2 == 0)
    return rule.holds(2**depth, n)


# --------------------------------------------------------------------------------------
# The induction, as obligations
# --------------------------------------------------------------------------------------
def _step(stage, rule, grow: Callable, extra: list) -> Proof:
    """The step for ``Q = grow(P)``: the hypothesis on ``N_{d-1}`` (``P``) at ``h`` gives
    the rule for ``N_d`` (``Q``), in three parts (sound, complete, output)."""
    x, p, k = z3.Ints("n P k")
    inner_ok, inner_out = z3.Bool("inner_ok"), z3.Int("inner_out")
    at = []

    def inner(h):
        at.append(h)
        return inner_ok, inner_out

    ok, out = level_step(stage, x, inner)
    (h,) = at
    q = grow(p)
    size = h >= 1  # the hypothesis is about sizes
    ih_sound = z3.Implies(z3.And(size, inner_ok), rule.member(p, h, k))
    ih_complete = z3.Implies(z3.And(size, rule.member(p, h, k)), inner_ok)
    ih_output = z3.Implies(z3.And(size, inner_ok), inner_out == rule.output(p, h))
    domain = [x >= 1, p >= 1, *extra]
    # each part carries its own instance of the hypothesis, as an antecedent (no subjects:
    # cvc5 cannot find models for the nonlinear vacuity queries; the planted wrong steps of
    # the tests show the parts depend on the level)
    return Proof([x, p, k, *_free(extra)], domain, {
        "sound: accepted => n = Q*k + c_d, n >= t_d":
            z3.Implies(ih_sound, z3.Implies(ok, rule.member(q, x, k))),
        "complete: n = Q*k + c_d, n >= t_d => accepted":
            z3.Implies(z3.And(ih_complete, ih_output, rule.member(q, x, k)), ok),
        "output: accepted => out = n - b_d":
            z3.Implies(z3.And(ih_sound, ih_output, ok), out == rule.output(q, x)),
    })


def _free(extra: list) -> list:
    found = []
    for cond in extra:
        for v in _variables(cond):
            if not any(v.eq(f) for f in found):
                found.append(v)
    return found


def _variables(term) -> list:
    if z3.is_const(term) and term.decl().kind() == z3.Z3_OP_UNINTERPRETED:
        return [term]
    return [v for child in term.children() for v in _variables(child)]


def _head(desc, rule, least_q: int) -> Proof:
    """``head . N_d`` accepts exactly what ``N_d`` accepts (symbolic ``Q >= least_q``), the
    hypothesis on ``N_d`` instantiated at ``n``."""
    x, q, k = z3.Ints("n Q k")
    ok, y = z3.Bool("net_ok"), z3.Int("net_out")
    head_ok, out = apply_layers(desc.head, y)
    whole = _and([ok, head_ok, *([out == x] if desc.output == "same" else [])])
    sound = z3.Implies(ok, rule.member(q, x, k))
    complete = z3.Implies(rule.member(q, x, k), ok)
    output = z3.Implies(ok, y == rule.output(q, x))
    return Proof([x, q, k], [x >= 1, q >= least_q], subjects=[whole], claim={
        "sound": z3.Implies(z3.And(sound, output), z3.Implies(whole, rule.member(q, x, k))),
        "complete": z3.Implies(z3.And(complete, output, rule.member(q, x, k)), whole),
        "output": z3.Implies(z3.And(sound, output, whole), out == rule.output(q, x)),
    })


@obligation("induction")
def induction_valid_base():
    """Base case, valid convolutions (the ronneberger preset, padding 0), depth 2:
    N_2 = level . level . bottom accepts n iff n >= 44 and 4 divides n (n = 4k + c_2,
    c_2 = 0, t_2 = 44), and then returns n - 40 (b_2 = 40)."""
    desc = ronneberger(2, 0)
    n = z3.Int("n")
    ok, out = nested(desc.levels, desc.bottom, n)
    return Proof([n], [n >= 1], subjects=[ok, out],
                 claim={"accepted": ok == VALID.holds(4, n),
                        "output": z3.Implies(ok, out == VALID.output(4, n))})


@obligation("induction")
def induction_valid_step():
    """Induction step, valid convolutions (a ronneberger level: two unpadded 3x3 convs, an
    exact 2x2 max-pool, a 2x2 transposed conv, a centre-cropped skip, two 3x3 convs), for
    every integer P >= 1 (P = 2**(d-1), symbolic) and every size n >= 1: if the inner
    network N_{d-1} accepts a size h >= 1 iff h = P*k + (P - 4) with h >= 12P - 4, and
    returns h - (12P - 8), then N_d accepts n iff n = 2P*k + (2P - 4) with
    n >= 24P - 4, and returns n - (24P - 8). Hence, with the base case (d = 2) and the
    head, for every depth d >= 2: the valid sizes are 2**d k + c_d from t_d, with
    c_d = 2**d - 4 and t_d = 12 * 2**d - 4."""
    level = ronneberger(1, 0).levels[0]
    return _step(level, VALID, lambda p: 2 * p, [])


@obligation("induction")
def induction_valid_head():
    """The whole valid-convolution network, head . N_d (the ronneberger head, a 1x1 conv,
    output of any size): for every Q >= 4 and n >= 1, if N_d accepts n iff
    n = Q*k + (Q - 4) with n >= 12Q - 4 and returns n - (12Q - 8), then head . N_d accepts
    exactly the same sizes and returns n - (12Q - 8)."""
    return _head(ronneberger(1, 0), VALID, 4)


@obligation("induction")
def induction_valid_depth_one():
    """Depth 1, the exception to the valid-convolution closed form: the ronneberger preset
    with depth 1 (head included) accepts n iff n is even and n >= 18 (c_1 = 0, t_1 = 18,
    where the general t_d = 12 * 2**d - 4 would give 20), and returns n - 16."""
    desc = ronneberger(1, 0)
    n = z3.Int("n")
    ok, out = _whole(desc, n)
    return Proof([n], [n >= 1], {"accepted": ok == _closed(VALID, 1, n),
                                 "output": z3.Implies(ok, out == n - 16)})


@obligation("induction")
def induction_same_base():
    """Base case, same padding (the ronneberger preset with padding 1): N_0, the bottom
    block (two 3x3 convs with padding 1), accepts every n >= 1 (= 2**0 k) and returns n."""
    desc = ronneberger(1, 1)
    n = z3.Int("n")
    ok, out = nested((), desc.bottom, n)
    return Proof([n], [n >= 1], {"accepted": ok == SAME.holds(1, n),
                                 "output": z3.Implies(ok, out == n)})


@obligation("induction")
def induction_same_step():
    """Induction step, same padding (a ronneberger level with padding 1: two 3x3 convs with
    padding 1, an exact 2x2 max-pool, a 2x2 transposed conv, a concat skip, two 3x3 convs),
    for every integer P >= 1 (P = 2**(d-1), symbolic) and n >= 1: if N_{d-1} accepts
    h >= 1 iff h = P*k and returns h, then N_d accepts n iff n = 2P*k, and returns n.
    With the base case (d = 0) and the head: for every depth d the valid sizes are the
    multiples of 2**d."""
    level = ronneberger(1, 1).levels[0]
    return _step(level, SAME, lambda p: 2 * p, [])


@obligation("induction")
def induction_same_head():
    """The whole same-padded network, head . N_d (a 1x1 conv, and the output must have the
    input's size): for every Q >= 1 and n >= 1, if N_d accepts n iff n = Q*k and returns
    n, then head . N_d accepts exactly the same sizes and returns n."""
    return _head(ronneberger(1, 1), SAME, 1)


@obligation("induction")
def induction_same_symbolic_stride_step():
    """Induction step for every stride s >= 2 (symbolic, like P = s**(d-1) >= 1): a
    same-padded level (two 3x3 convs with padding 1, a max-pool with kernel = stride = s,
    a transposed conv with kernel = stride = s, a concat skip, two 3x3 convs) around an
    inner network that accepts h >= 1 iff h = P*k and returns h accepts n >= 1 iff
    n = (s*P)*k, and returns n. With the base case (N_0 accepts every n >= 1): the valid
    sizes of depth d are the multiples of s**d, for every s and d."""
    s = z3.Int("s")
    return _step(symbolic_same_stage(s), SAME, lambda p: s * p, [s >= 2])


def _per_depth(padding: int, rule) -> Proof:
    n = z3.Int("n")
    parts = {}
    for depth in DEPTHS:
        parts[f"depth {depth}"] = valid_term(ronneberger(depth, padding), 0, n) == \
            _closed(rule, depth, n)
    return Proof([n], [n >= 1], parts)


@obligation("induction")
def induction_valid_per_depth():
    """Per depth, the fallback and the cross-check: for d = 1..8 and every n >= 1, the
    repository's UNet checker (valid_term on the ronneberger preset's graph, padding 0)
    accepts n iff n = 2**d k + c_d with n >= t_d (c_d = 2**d - 4, t_d = 12 * 2**d - 4;
    d = 1: n even, n >= 18)."""
    return _per_depth(0, VALID)


@obligation("induction")
def induction_same_per_depth():
    """Per depth, the fallback and the cross-check: for d = 1..8 and every n >= 1, the
    repository's UNet checker (valid_term on the ronneberger preset's graph, padding 1)
    accepts n iff 2**d divides n."""
    return _per_depth(1, SAME)


@obligation("induction")
def induction_levels_match_checker():
    """The level the induction reasons about is the one the checker runs: for d = 1..8,
    both paddings and every n >= 1, head . N_d built by nesting level_step (the layers'
    formulas, the exact pool's tiling rule, the skip join) accepts n iff the repository's
    UNet checker (valid_term on the preset's graph) does."""
    n = z3.Int("n")
    parts = {}
    for padding in (0, 1):
        for depth in DEPTHS:
            desc = ronneberger(depth, padding)
            parts[f"padding {padding}, depth {depth}"] = \
                _whole(desc, n)[0] == valid_term(desc, 0, n)
    return Proof([n], [n >= 1], parts)


def _wrong(depth: int, wrong, least: int) -> Refutation:
    desc = ronneberger(depth, 0)
    n = z3.Int("n")

    def confirm(values):
        m = values["n"]
        checker = bool(trace(desc, 0, m).valid)
        stated = bool(z3.is_true(z3.simplify(z3.substitute(wrong(n), (n, z3.IntVal(m))))))
        return None if checker == stated else \
            f"the checker says {'valid' if checker else 'invalid'} at {m}, the rule the opposite"

    return Refutation([n], [n >= 1], valid_term(desc, 0, n) == wrong(n), confirm,
                      expect={"n": least})


@obligation("induction")
def induction_wrong_threshold_refuted():
    """Refuted (a planted defect): the ronneberger preset of depth 4 accepts exactly
    n = 16k + 12 with n >= 192 (the threshold 12 * 2**d instead of 12 * 2**d - 4). The
    least counterexample is n = 188, which the checker accepts (572 -> 388 is 188 + 24*16)."""
    return _wrong(4, lambda n: z3.And(n >= 192, (n - 12) % 16 == 0), 188)


@obligation("induction")
def induction_wrong_offset_refuted():
    """Refuted (a planted defect): the ronneberger preset of depth 4 accepts exactly
    n = 16k + 14 with n >= 188 (c_d = 2**d - 2 instead of 2**d - 4). The least
    counterexample is n = 188."""
    return _wrong(4, lambda n: z3.And(n >= 188, (n - 14) % 16 == 0), 188)
