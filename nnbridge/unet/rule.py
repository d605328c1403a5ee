"""The valid sizes on one axis: an eventually periodic set, derived and proved for ALL n.

The obligations of :mod:`nnbridge.unet.obligations` are built from floors of linear maps and
threshold conditions, so the set of sizes ``n >= 1`` that satisfies them all is, from some
threshold on, periodic. :func:`derive_rule` evaluates the obligations on ints to propose

    ``n`` valid  <=>  ``n in exceptions``  or  (``n >= threshold`` and ``n % period in residues``)

(``exceptions``: the valid sizes below the threshold) and :func:`prove_rule` asks Z3 whether
``n >= 1 and valid(n) != rule(n)`` is satisfiable: ``unsat`` is a proof for every size,
``sat`` refutes the rule with a counterexample, and ``unknown`` is a failure, never a pass.

Which sizes are valid is read from the structure, not from a size-by-size scan, wherever
the description is a :class:`~nnbridge.unet.description.UNetDescription` (PyTorch semantics):
with ``P`` the period hint (every stride multiplied, lcm ``multiple_of``),

* every stage size is nondecreasing in ``n``, so "every layer runs" holds exactly for
  ``n >= R``, found by bisection;
* for ``n >= R`` every stage is ``floor((x + c) / s)`` (a ceil-mode pool: less one where
  its last window starts in the padding, which repeats with period ``s``), ``s * x + c`` or
  a skip's size, and each stride divides the stage's growth over ``P``: a stage grows by a
  constant ``D`` from ``n`` to ``n + P``. In the residue class ``n = R + r + kP`` a
  divisibility obligation is constant, an equality holds for all ``k``, one ``k`` or none,
  and ``skip >= up`` for a ray of ``k``: the valid ``k`` form one interval (and single
  ``k`` where a broadcast meets a size of 1), read from two traces per class (``k = 0``
  and ``k = 1``, which give each operand's growth).

The derivation checks itself where it costs nothing (each traced verdict against its
interval, every norm growing) and declines otherwise. The rule is then chosen from these
verdicts exactly as from a scan (:func:`derive_rule`); other descriptions (TorchLean's
UNet2, in ``Nat`` semantics) keep the scan. Either way only Z3's proof makes a rule
"proved", and a refuted rule from the structure is derived again by the scan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from nnbridge.spec.errors import Rule as Rule_

from .description import UNetDescription
from .obligations import as_graph, trace

__all__ = ["Rule", "derive_rule", "prove_rule", "rule_for"]

PROOF_TIMEOUT_MS = 20_000

#: The largest period the rule is derived for (the product of the strides on one axis).
MAX_PERIOD = 2**14


@dataclass(frozen=True)
class Rule:
    """``n`` valid iff ``n in exceptions`` or (``n >= threshold`` and ``n % period in
    residues``), for sizes ``n >= 1``."""

    axis: str
    threshold: int
    period: int
    residues: tuple
    exceptions: tuple = ()
    status: str = "not checked"  # "proved", "refuted", "unknown", "not checked"
    counterexample: int | None = None
    seconds: float = 0.0
    runs_from: int = 1  # every layer runs for all n >= runs_from
    singles: dict = field(default_factory=dict)  # norm layer -> sizes where it sees 1

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def contains(self, n: int) -> bool:
        if n < 1:
            return False
        return n in self.exceptions or (n >= self.threshold and n % self.period in self.residues)

    def at_or_above(self, n: int, avoid=()) -> int | None:
        """The least valid size >= n (not in the finite set ``avoid``), or ``None``."""
        n = max(n, 1)
        while True:
            candidates = [e for e in self.exceptions if e >= n]
            if self.residues:
                m = max(n, self.threshold)
                candidates.append(min(m + (r - m) % self.period for r in self.residues))
            if not candidates:
                return None
            best = min(candidates)
            if best not in avoid:
                return best
            n = best + 1

    def at_or_below(self, n: int, avoid=()) -> int | None:
        """The greatest valid size <= n (not in ``avoid``), or ``None``."""
        while n >= 1:
            candidates = [e for e in self.exceptions if e <= n]
            if self.residues and n >= self.threshold:
                periodic = max(n - (n - r) % self.period for r in self.residues)
                if periodic >= self.threshold:
                    candidates.append(periodic)
            if not candidates:
                return None
            best = max(candidates)
            if best not in avoid:
                return best
            n = best - 1
        return None

    def first(self) -> int | None:
        return self.at_or_above(1)

    def words(self) -> str:
        """The rule in words: "a multiple of 16, at least 32"."""
        p, res = self.period, sorted(self.residues)
        if not res and not self.exceptions:
            return "no size is valid"
        parts = []
        if res:
            if p == 1:
                core = "any size"
            elif res == [0]:
                core = "even" if p == 2 else f"a multiple of {p}"
            elif len(res) == 1:
                core = f"{p}k + {res[0]}"
            else:
                core = f"{' or '.join(str(r) for r in res)} mod {p}"
            start = self.at_or_above(self.threshold)
            smallest = min((r if r > 0 else p) for r in res)
            if start is not None and start > smallest:
                core += f", at least {start}"
            parts.append(core)
        if self.exceptions:
            listed = ", ".join(map(str, self.exceptions))
            parts.append(("also " if res else "only ") + listed)
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {"axis": self.axis, "words": self.words(), "threshold": self.threshold,
                "period": self.period, "residues": list(self.residues),
                "exceptions": list(self.exceptions), "proof": self.status,
                "counterexample": self.counterexample, "seconds": round(self.seconds, 4),
                "runs_from": self.runs_from,
                "instance_norm_single": {k: list(v) for k, v in self.singles.items()}}


def _hint(desc, axis: int) -> int:
    from nnbridge.spec.errors import ShapeError

    hint = max(1, desc.period_hint(axis))
    if hint > MAX_PERIOD:
        raise ShapeError(f"the strides on axis {desc.axis_names[axis]} multiply to {hint}, "
                         f"above the largest period this checker derives ({MAX_PERIOD})",
                         rule=Rule_.RULE_PERIOD)
    return hint


def _divisors(p: int) -> list[int]:
    return [d for d in range(1, p + 1) if p % d == 0]


def _runs(t) -> bool:
    """Every layer runs: PyTorch raises nowhere (a norm on one value raises too)."""
    return all(o.holds for o in t.obligations if o.kind in ("runs", "norm"))


def _singles(t) -> dict:
    return {name: size for name, size, _ in t.norms if size == 1} if t.valid else {}


def _scan(desc, axis: int, upto: int):
    """``ok``, ``runs`` (indexed by ``n``, 0 unused) and ``singles`` (by ``n - 1``) on
    ``1..upto``, every size traced."""
    ok, runs, singles = [False], [False], []
    for n in range(1, upto + 1):
        t = trace(desc, axis, n)
        ok.append(t.valid)
        runs.append(_runs(t))
        singles.append(_singles(t))
    return ok, runs, singles


def _k_interval(kind: str, a0: int, da: int, b0: int, db: int) -> tuple[int, float]:
    """The ``k >= 0`` where ``a0 + k*da == b0 + k*db`` (kind "eq") or ``>=`` (kind "ge"),
    as ``(lo, hi)``; empty when ``lo > hi``."""
    g0, dg = a0 - b0, da - db
    if kind == "eq":
        if dg == 0:
            return (0, float("inf")) if g0 == 0 else (1, 0)
        k, rem = divmod(-g0, dg)
        return (k, k) if rem == 0 and k >= 0 else (1, 0)
    if dg == 0:
        return (0, float("inf")) if g0 >= 0 else (1, 0)
    if dg > 0:  # g0 + k*dg >= 0 from k = ceil(-g0 / dg) on
        return max(0, -(g0 // dg)), float("inf")
    return 0, g0 // -dg  # up to floor(g0 / -dg): empty when g0 < 0


def _ones(a0: int, da: int) -> tuple[int, float] | None:
    """The ``k >= 0`` where ``a0 + k*da == 1`` as an interval, or ``None`` for none."""
    lo, hi = _k_interval("eq", a0, da, 1, 0)
    return None if lo > hi else (lo, hi)


def _class_interval(t, ref, step) -> tuple[int, float, set] | None:
    """The valid ``k`` of the class ``n = t.size + k*P`` (``ref``, ``step``: the traces at
    some ``m >= R`` and ``m + P``, giving each operand's growth): an interval ``lo..hi``
    and a set of single ``k`` outside it (a broadcast through a size of 1); ``None`` for an
    obligation this derivation does not cover."""
    constraints = []  # per obligation: (lo, hi, [(lo, hi) alternatives])
    for o, o_ref, o_step in zip(t.obligations, ref.obligations, step.obligations, strict=True):
        if not o.name == o_ref.name == o_step.name:
            return None
        if o.kind in ("runs", "norm"):
            if not o.holds:  # a layer stops running above R: not monotone, not covered
                return None
            continue
        relation = o.relation
        if relation == "divides":  # a stride or multiple_of divides the growth: constant
            if not o.holds:
                return 1, 0, set()
            continue
        if relation not in ("eq", "ge", "broadcast") or not (
                len(o.operands) == len(o_ref.operands) == len(o_step.operands) == 2):
            return None
        (a, b), (a_ref, b_ref), (a_step, b_step) = o.operands, o_ref.operands, o_step.operands
        da, db = a_step - a_ref, b_step - b_ref
        k_lo, k_hi = _k_interval("ge" if relation == "ge" else "eq", a, da, b, db)
        alternatives = []
        if relation == "broadcast":  # or one operand is 1
            alternatives = [x for x in (_ones(a, da), _ones(b, db)) if x is not None]
        constraints.append((k_lo, k_hi, alternatives))
    lo, hi = 0, float("inf")
    for k_lo, k_hi, alternatives in constraints:
        if not alternatives:
            lo, hi = max(lo, k_lo), min(hi, k_hi)
    extras = set()
    candidates = {k for c in constraints for a_lo, a_hi in c[2] if a_lo == a_hi
                  for k in (a_lo,)}
    for c in constraints:
        for _a_lo, a_hi in c[2]:
            if a_hi == float("inf"):  # an operand stays 1: the alternative always holds
                return None
    base = [(k_lo, k_hi) for k_lo, k_hi, alternatives in constraints if alternatives]
    for c_lo, c_hi in base:  # broadcasts: their equality intervals narrow the interval
        lo, hi = max(lo, c_lo), min(hi, c_hi)
    for k in candidates:
        if not lo <= k <= hi and all(
                k_lo <= k <= k_hi or any(a_lo <= k <= a_hi for a_lo, a_hi in alternatives)
                for k_lo, k_hi, alternatives in constraints):
            extras.add(k)
    return lo, hi, extras


def _broadcasts(graph) -> bool:
    """Whether an elementwise op of several tensors may broadcast a size of 1."""
    return any(node.op == "broadcast" and len(node.inputs) > 1 for node in graph.nodes)


def _closed(desc, axis: int, upto: int, period: int):
    """``ok``, ``runs`` and ``singles`` on ``1..upto`` as :func:`_scan` gives them, from the
    structure (module docstring): a bisection for ``R`` and one trace per residue class mod
    ``period``. ``None`` where the description is not one this derivation covers."""
    graph = as_graph(desc)
    if graph is None or any(node.params.get("semantics", "torch") != "torch"
                            for node in graph.nodes):
        return None  # TorchLean's Nat semantics (truncated subtraction): the scan
    traced: dict = {}

    def at(n: int):
        if n not in traced:
            traced[n] = trace(desc, axis, n)
        return traced[n]

    # R: the least n where every layer runs (upto + 1 if none in range); monotone in n
    lo, hi = 1, upto + 1
    while lo < hi:
        mid = lo if lo == 1 else (lo + hi) // 2  # try n = 1 first: most networks run there
        if _runs(at(mid)):
            hi = mid
        else:
            lo = mid + 1
    first = lo
    ok, runs, singles = [False] * (upto + 1), [False] * (upto + 1), [{}] * upto
    if _broadcasts(as_graph(desc)):
        # a broadcast through a size of 1 can make a later size fall as n grows: below R
        # nothing is assumed, every size is traced
        for n in range(1, min(first, upto + 1)):
            t = at(n)
            ok[n], runs[n], singles[n - 1] = bool(t.valid), _runs(t), _singles(t)
    if first > upto:
        return ok, runs, singles
    ref, step = at(first), at(first + period)
    for (_, q0, _), (_, q1, _) in zip(ref.norms, step.norms, strict=True):
        if q1 - q0 < 1:  # a norm's size must grow over a period: it is 1 at k = 0 at most
            return None
    for r in range(min(period, upto - first + 1)):
        t = at(first + r)
        # each class' own growth: a crop's clamped bounds grow differently per class
        t_step = at(first + r + period)
        interval = _class_interval(t, t, t_step)
        if interval is None:
            return None
        k_lo, k_hi, extras = interval

        def valid_k(k, k_lo=k_lo, k_hi=k_hi, extras=extras):
            return k_lo <= k <= k_hi or k in extras

        if valid_k(0) != bool(t.valid) or valid_k(1) != bool(t_step.valid):
            return None  # the traced verdicts disagree with the intervals: not covered
        last = (upto - first - r) // period
        for k in range(k_lo, int(min(k_hi, last)) + 1):
            ok[first + r + k * period] = True
        for k in extras:
            if k <= last:
                ok[first + r + k * period] = True
        singles[first + r - 1] = _singles(t)  # above k = 0 every norm sees more than 1
    for n in range(first, upto + 1):
        runs[n] = True
    return ok, runs, singles


def derive_rule(desc, axis: int, scan: int | None = None, *, method: str = "auto") -> Rule:
    """Propose the rule from the verdicts on ``1..scan`` (not yet proved).

    ``method``: ``"closed"`` reads the verdicts from the structure (module docstring) and
    raises ``ValueError`` for a description it does not cover, ``"scan"`` traces every
    size, ``"auto"`` (default) the first, else the second. Both give the same verdicts, so
    the same rule.
    """
    if method not in ("auto", "closed", "scan"):
        raise ValueError(f"method must be 'auto', 'closed' or 'scan', got {method!r}")
    hint = _hint(desc, axis)
    scan = scan or (4 * hint + 256)
    found = None if method == "scan" else _closed(desc, axis, scan, hint)
    if found is None and method == "closed":
        raise ValueError(f"no closed derivation for {type(desc).__name__} "
                         f"{getattr(desc, 'name', '')!r}: use method='scan'")
    ok, runs, singles = found or _scan(desc, axis, scan)
    return _propose(desc, axis, scan, hint, ok, runs, singles)


def _propose(desc, axis: int, scan: int, hint: int, ok, runs, singles) -> Rule:
    """The rule that describes ``ok`` on ``1..scan``: a period dividing ``hint``, the
    lowest threshold, residues and exceptions."""
    runs_from = next((n for n in range(scan, 0, -1) if not runs[n]), 0) + 1
    best = None
    for period in _divisors(hint):
        # the least t with ok[n] == ok[n + period] for all t <= n <= scan - period
        t = scan - period
        while t >= 1 and ok[t] == ok[t + period]:
            t -= 1
        # a period must be seen repeating over at least half the scan; the true one gives
        # the lowest threshold, a too-short one only matches a tail of equal values
        if scan - t >= max(2 * period, scan // 2) and (best is None or t + 1 < best[1]):
            best = (period, t + 1)
    period, threshold = best or (hint, max(1, scan - 2 * hint))
    residues = tuple(sorted({n % period for n in range(threshold, threshold + period)
                             if ok[n]}))
    period, residues = _smallest_period(period, residues)
    # lower the threshold while the periodic rule still describes ok exactly
    while threshold > 1 and ok[threshold - 1] == ((threshold - 1) % period in residues):
        threshold -= 1
    exceptions = tuple(n for n in range(1, threshold) if ok[n])
    found: dict[str, list[int]] = {}
    for n in range(1, scan + 1):
        for name in singles[n - 1]:
            found.setdefault(name, []).append(n)
    return Rule(desc.axis_names[axis], threshold, period, residues, exceptions,
                runs_from=min(runs_from, scan), singles={k: tuple(v) for k, v in found.items()})


def _smallest_period(period: int, residues: tuple) -> tuple[int, tuple]:
    """The same set of residues with the least period that describes it (all 16 residues
    mod 16 are "any size": period 1)."""
    chosen = set(residues)
    for p in _divisors(period):
        reduced = {r % p for r in chosen}
        if {r for r in range(period) if r % p in reduced} == chosen:
            return p, tuple(sorted(reduced))
    return period, residues


def _rule_term(rule: Rule, n):
    import z3

    periodic = z3.And(n >= rule.threshold, z3.Or(*[n % rule.period == r for r in rule.residues])) \
        if rule.residues else z3.BoolVal(False)
    return z3.Or(periodic, *[n == e for e in rule.exceptions])


def rule_goals(desc, axis: int, rule: Rule, n, *, full: bool = True) -> list:
    """The ``(lhs, rhs)`` pairs a rule claims equal for every ``n >= 1`` (``n`` a Z3 term):
    the network's validity and the rule's; with ``full``, also that every layer runs from
    ``runs_from`` on and each norm that can see one value sees it exactly at its listed
    sizes."""
    import z3

    t = trace(desc, axis, n)
    valid = t.valid
    valid = z3.BoolVal(valid) if isinstance(valid, bool) else valid
    goals = [(valid, _rule_term(rule, n))]
    if not full:
        return goals
    if rule.runs_from > 1:  # every layer runs from runs_from on
        runs = [o.holds for o in t.obligations if o.kind in ("runs", "norm")]
        goals.append((z3.Or(n < rule.runs_from, *[z3.And(*runs)] if runs else [True]),
                      z3.BoolVal(True)))
    norms = {name: size for name, size, _ in t.norms}
    for name in norms:
        sizes = rule.singles.get(name, ())
        goals.append((z3.And(valid, norms[name] == 1),
                      z3.Or(*[n == s for s in sizes]) if sizes else z3.BoolVal(False)))
    return goals


def rule_statement(desc, axis: int, rule: Rule) -> str:
    """What proving ``rule`` on ``axis`` states, in words."""
    name = getattr(desc, "name", type(desc).__name__)
    text = (f"For all n >= 1: {name} accepts n on axis {desc.axis_names[axis]} (the other "
            f"axes aside) exactly when n is {rule.words()}")
    if rule.runs_from > 1:
        text += f"; every layer runs from n = {rule.runs_from} on"
    return text + "."


def rule_obligation(desc, axis: int, rule: Rule, *, full: bool = True,
                    timeout_ms: int = PROOF_TIMEOUT_MS):
    """The rule as an obligation of the proof engine (family ``unet_rules``): one
    :class:`~nnbridge.proofs.engine.Proof` over ``n >= 1`` of every goal at once."""
    from nnbridge.proofs.engine import Obligation, Proof

    def build():
        import z3

        n = z3.Int("n")
        goals = rule_goals(desc, axis, rule, n, full=full)
        return Proof([n], [n >= 1], z3.And(*[lhs == rhs for lhs, rhs in goals]), timeout_ms)

    name = getattr(desc, "name", type(desc).__name__)
    return Obligation(f"rule.{name}.{desc.axis_names[axis]}", "unet_rules",
                      rule_statement(desc, axis, rule), build)


def _least(desc, axis: int, rule: Rule, timeout_ms: int) -> int | None:
    """The least ``n >= 1`` where a goal of the rule fails (goal by goal, tightening until
    ``unsat``)."""
    import z3

    n = z3.Int("n")
    least = None
    for lhs, rhs in rule_goals(desc, axis, rule, n):
        s = z3.Solver()
        s.set("timeout", timeout_ms)
        s.add(n >= 1, lhs != rhs)
        if least is not None:
            s.add(n < least)
        while s.check() == z3.sat:
            least = s.model().eval(n, model_completion=True).as_long()
            s.add(n < least)
    return least


def prove_rule(desc, axis: int, rule: Rule, timeout_ms: int = PROOF_TIMEOUT_MS) -> Rule:
    """Prove that ``valid(n) == rule(n)`` for every ``n >= 1`` (and each single-element norm's
    sizes, and ``runs_from``) with the proof engine. Returns the rule with the engine's
    ``status`` and, if refuted, the least counterexample."""
    from nnbridge.proofs.engine import check

    start = time.perf_counter()
    verdict = check(rule_obligation(desc, axis, rule, timeout_ms=timeout_ms))
    cex = None
    if verdict.status == "refuted":
        cex = _least(desc, axis, rule, timeout_ms)
        if cex is None and verdict.counterexample:
            cex = verdict.counterexample.get("n")
    return replace(rule, status=verdict.status, counterexample=cex,
                   seconds=time.perf_counter() - start)


_CACHE: dict = {}


def rule_for(desc, axis: int) -> Rule:
    """Derive and prove the rule on one axis; widen the scan if Z3 refutes the proposal.

    A rule that stays refuted or unknown is returned with that status: never called proved.
    """
    from .explain import check_work  # bounds the work before any derivation

    check_work(desc)
    key = (desc, axis if not _same_axes(desc) else 0)
    if key in _CACHE:
        return replace(_CACHE[key], axis=desc.axis_names[axis])
    rule = _from_other_axes(desc, axis) or _derive_and_prove(desc, axis, "auto")
    if rule.status == "refuted" and as_graph(desc) is not None:
        rule = _derive_and_prove(desc, axis, "scan")  # never let the closed verdicts cost a proof
    _CACHE[key] = rule
    return replace(rule, axis=desc.axis_names[axis])


def _from_other_axes(desc, axis: int) -> Rule | None:
    """A rule already proved on another axis of the same network, proved again on this
    one (most networks treat their axes alike: one proof instead of a derivation), or
    ``None``. Which sizes no layer runs on is checked too (``runs_from``)."""
    tried: list[Rule] = []
    for other in range(len(desc.axis_names)):
        found = _CACHE.get((desc, other))
        if other == axis or found is None or found.status != "proved":
            continue
        proposal = replace(found, axis=desc.axis_names[axis], status="not checked",
                           counterexample=None, seconds=0.0)
        if proposal in tried:
            continue
        tried.append(proposal)
        if proposal.runs_from > 1 and _runs(trace(desc, axis, proposal.runs_from - 1)):
            continue  # layers run below: runs_from differs on this axis
        proved = prove_rule(desc, axis, proposal)
        if proved.status == "proved":
            return proved
    return None


def _derive_and_prove(desc, axis: int, method: str) -> Rule:
    hint = _hint(desc, axis)
    scan = 4 * hint + 256
    for _ in range(4):
        rule = prove_rule(desc, axis, derive_rule(desc, axis, scan, method=method))
        if rule.status != "refuted":
            break
        scan = max(2 * scan, (rule.counterexample or 0) + 2 * hint + 64)
    return rule


def _same_axes(desc) -> bool:
    """True when no value differs between axes (the rule is then the same statement)."""
    if not isinstance(desc, UNetDescription):
        return False
    from dataclasses import fields as dc_fields

    for layer in desc.layers():
        if any(isinstance(getattr(layer, f.name), tuple) for f in dc_fields(layer)):
            return False
    return not isinstance(desc.multiple_of, tuple)
