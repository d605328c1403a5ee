"""Mutation testing of the proof suite: every small change to a shape formula must be caught.

A *mutant* is the source of one spec module with one change, made with :mod:`ast`:

* an arithmetic operator: ``+`` <-> ``-``, ``*`` -> ``//``, ``//`` -> ``*``, ``/`` -> ``*``,
  ``%`` -> ``//``; and the arithmetic interface's methods alike (``r.add`` <-> ``r.sub``,
  ``r.nat_sub`` -> ``r.sub`` or ``r.add`` (Lean's truncation dropped), ``r.mul`` ->
  ``r.floor_div``, ``r.nat_div`` -> ``r.floor_div`` (Lean's ``x / 0 = 0`` dropped) or
  ``r.mul``, ``r.floor_div`` -> ``r.mul``, ``r.ge`` <-> ``r.lt``);
* a comparison: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``;
* an integer constant ``c`` -> ``c + 1`` and ``c - 1``.

Sites are the code that computes a size or a size condition, in both semantics (each site is
tagged ``lean``, ``torch`` or ``both``): the layer formulas and PyTorch's preconditions
(:mod:`nnbridge.spec.formulas`), the model chains and the defaults of the config fields they
read (:mod:`nnbridge.spec.chains`), the agreement domains (:mod:`nnbridge.spec.domains`) and
the three readings of the arithmetic (:mod:`nnbridge.spec.arith`). Error messages and the
values they print are not sites; neither is input validation.

Each mutant is loaded in place of its module: the nnbridge modules are imported afresh
around it (so every ``from ... import`` and every default config sees the mutant), all
proof obligations are checked with :func:`nnbridge.proofs.engine.check`, then the concrete
shape checks of :mod:`nnbridge.proofs.readings`; the original modules and the registry are
put back afterwards. A mutant is *killed* by the first check that fails outright (an import
that fails counts). One that only makes a solver time out is killed *only by a timeout*,
reported as such (the remaining checks still run, looking for an outright failure). It
*survives* when all pass. A survivor is either a gap in the suite or an *equivalent* mutant,
one that no size can tell from the original: :data:`EQUIVALENT` lists each, with the reason.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import importlib.util
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import engine

__all__ = ["EQUIVALENT", "Mutant", "MutantResult", "load_mutant", "mutants", "run_mutant",
           "run_mutation", "sample"]

#: The modules mutated, by import name.
TARGETS = ("nnbridge.spec.formulas", "nnbridge.spec.chains", "nnbridge.spec.domains",
           "nnbridge.spec.arith")

# Module-level functions (and classes' methods) whose code computes sizes. Anything else in
# these modules (validation, messages, printing) is not mutated.
_FORMULA_FUNCTIONS = {
    "nnbridge.spec.formulas": {"_conv_out": None, "_pool_out": None,
                               "_conv_transpose_out": None, "_require_torch_params": "torch",
                               "_require_nonempty": "torch", "_sliding_window": "lean"},
    "nnbridge.spec.chains": {name: "both" for name in (
        "unet_down", "unet_up", "_conv_keeps", "_head_keeps", "_obligation_claim", "out_h1",
        "pool_h1", "out_h2", "pool_h2", "_w_view", "out_w1", "pool_w1", "out_w2", "pool_w2",
        "cnn2_feat_shape", "cnn2_feat_size", "resnet_spatial")}
    | {"torchvision_resnet_spatial": "torch"},
    "nnbridge.spec.domains": {"conv_agreement": "both", "pool_agreement": "both",
                              "conv_transpose_agreement": "both"},
}
# public wrappers whose default arguments (padding=0, dilation=1, ...) are sites
_DEFAULTS = {"nnbridge.spec.formulas": ("conv_out", "pool_out", "conv_transpose_out")}
# the classes of the arithmetic readings, and the semantics each method serves
_READINGS = ("Reading", "IntReading", "Z3Reading", "SymPyReading")
_METHOD_SEMANTICS = {"nat_sub": "lean", "nat_div": "lean", "sub": "torch", "floor_div": "torch",
                     "ceil_div": "torch"}
_NOT_ARITHMETIC = {"require", "__init__"}
_CONFIGS = ("UNet2Config", "CNN2Config", "ResNetConfig")

_BINOPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.FloorDiv,),
    ast.FloorDiv: (ast.Mult,), ast.Div: (ast.Mult,), ast.Mod: (ast.FloorDiv,)}
_COMPARES: dict[type, type] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                               ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_METHODS = {"add": ("sub",), "sub": ("add",), "nat_sub": ("sub", "add"), "mul": ("floor_div",),
            "floor_div": ("mul",), "nat_div": ("floor_div", "mul"), "ge": ("lt",),
            "lt": ("ge",)}
_SHOWN = 72

_AT_EQUAL = "at a = b both branches give the same value (a - b = 0 = the truncation)"
_MAX_AT_EQUAL = "at a = b both branches give the same value"
_ONE_CONDITION = "with one condition, And(c) and Or(c) are c itself"

#: Mutants that no input can tell from the original, by :attr:`Mutant.key`, with the reason.
#: Each was a survivor of the full run (benchmarks/proof_mutation.py), read and argued here.
EQUIVALENT: dict[str, str] = {
    "spec/formulas.py:_sliding_window: r.nat_sub(padded, k) -> r.sub(padded, k)":
        "the guard returns 0 whenever n + 2p < k, so the subtraction only ever runs with "
        "n + 2p >= k, where truncated and exact subtraction agree",
    "spec/formulas.py:_pool_out: r.eq(k, 0) -> r.eq(k, -1)":
        "lean-2026-07 pooling: the sliding window it returns is itself 0 for k = 0, so the "
        "pool's own k = 0 test is redundant, and k = -1 is no size",
    "spec/formulas.py:_pool_out: r.nat_div(k, 2) -> r.floor_div(k, 2)":
        "the divisor is the constant 2: Lean's x / 0 = 0 case never arises, and every reading "
        "computes nat_div by a nonzero constant as floor_div",
    "spec/formulas.py:_conv_transpose_out: r.nat_sub(n, 1) -> r.sub(n, 1)":
        "lean-2026-07: n = 0 is caught by the guard (output 0), and for n >= 1 the truncated "
        "and exact n - 1 agree",
    "spec/formulas.py:_conv_transpose_out: r.nat_sub(n, 1) -> r.sub(n, 1) #2":
        "Lean's (n - 1) * s - 2p + k: at n = 0 the original gives 0 * s - 2p and the mutant "
        "-s - 2p; both are <= 0 and the outer truncated subtraction makes both 0; for n >= 1 "
        "the two agree (the run's timeout in unet2_symbolic_sufficient is the solver's, on "
        "the changed term, not a difference)",
    "spec/arith.py:IntReading.nat_sub: a >= b -> a > b": _AT_EQUAL,
    "spec/arith.py:Z3Reading.nat_sub: a >= b -> a > b": _AT_EQUAL,
    "spec/arith.py:Z3Reading.nat_sub: a >= b -> a > b #2":
        _AT_EQUAL + " (the run's timeout in unet2_symbolic_sufficient is the solver's, on "
        "the changed term, not a difference)",
    "spec/arith.py:IntReading.max: a >= b -> a > b": _MAX_AT_EQUAL,
    "spec/arith.py:Z3Reading.max: a >= b -> a > b": _MAX_AT_EQUAL,
    "spec/arith.py:Z3Reading._fold: len(conds) > 1 -> len(conds) >= 1": _ONE_CONDITION,
    "spec/arith.py:Z3Reading._fold: len(conds) > 1 -> len(conds) > 0":
        _ONE_CONDITION + " (and the list is not empty there)",
    "spec/arith.py:Z3Reading._fold: 0 -> -1":
        "conds[0] and conds[-1] are the same element of a one-element list",
}


@dataclass(frozen=True)
class Mutant:
    """One change to one module: where, what, and in which semantics."""

    module: str  # import name, e.g. "nnbridge.spec.formulas"
    path: str  # e.g. "spec/formulas.py"
    line: int
    scope: str  # the enclosing function, method or class
    semantics: str  # "lean", "torch" or "both"
    original: str
    mutated: str
    index: int  # the node's position in ast.walk order
    change: str  # the operator: "binop", "compare", "constant", "method"
    replacement: str  # the new operator class, method name or constant
    occurrence: int = 1  # among mutants with the same path, scope, original and mutated

    @property
    def key(self) -> str:
        """A stable name: file, scope, before -> after (and which, when repeated)."""
        base = f"{self.path}:{self.scope}: {self.original} -> {self.mutated}"
        return base if self.occurrence == 1 else f"{base} #{self.occurrence}"

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}"

    def as_dict(self) -> dict:
        return {"key": self.key, "location": self.location, "scope": self.scope,
                "semantics": self.semantics, "original": self.original,
                "mutated": self.mutated}


@dataclass
class MutantResult:
    mutant: Mutant
    killed: bool
    killed_by: str | None  # the first failing check: an obligation, a shape check, an import
    status: str | None  # the verdict's status, "failed" for a shape check, "import error"
    seconds: float
    detail: str = ""

    @property
    def equivalent(self) -> str | None:
        return EQUIVALENT.get(self.mutant.key)

    @property
    def weak(self) -> bool:
        """Killed only by a solver that could not decide (a timeout), by no outright failure."""
        return self.killed and self.status == "unknown"

    def as_dict(self) -> dict:
        return {**self.mutant.as_dict(), "killed": self.killed, "killed_by": self.killed_by,
                "only_by_timeout": self.weak,
                "status": self.status, "seconds": round(self.seconds, 3),
                "equivalent": self.equivalent, "detail": self.detail[:300]}


# --------------------------------------------------------------------------------------
# Finding the sites
# --------------------------------------------------------------------------------------
def _source(module: str) -> tuple[str, Path]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise LookupError(f"cannot find the source of {module}")
    path = Path(spec.origin)
    return path.read_text(encoding="utf-8"), path


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN - 3]}..."


def _is_lean_branch(node: ast.AST) -> bool:
    """``if semantics == "lean":`` or ``if semantics == LEAN_<version>:``"""
    if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "semantics"
            and len(node.test.comparators) == 1):
        return False
    other = node.test.comparators[0]
    return (isinstance(other, ast.Constant) and other.value == "lean") or (
        isinstance(other, ast.Name) and other.id.startswith("LEAN"))


def _excluded(node: ast.AST) -> set[int]:
    """Nodes inside messages: raise statements, f-strings, and a ``require``'s arguments past
    its condition (its rule, message and the values the message prints)."""
    skip: set[int] = set()
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Raise, ast.JoinedStr)):
            skip.update(id(x) for x in ast.walk(sub))
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                and sub.func.attr == "require":
            for arg in [*sub.args[1:], *sub.keywords]:
                skip.update(id(x) for x in ast.walk(arg))
    return skip


def _sites(module: str, tree: ast.Module) -> list[tuple[ast.AST, str, str]]:
    """``(root, scope, semantics)`` for every part of ``tree`` whose code is mutated; a
    root's whole subtree is mutated, but for the ``if semantics == "lean"`` split."""
    roots: list[tuple[ast.AST, str, str]] = []
    functions = _FORMULA_FUNCTIONS.get(module, {})
    read_fields: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            tag = functions[node.name]
            for stmt in node.body:
                if tag is None and _is_lean_branch(stmt):  # a Lean branch, then the next
                    roots.append((stmt.body, node.name, "lean"))
                    roots.append((stmt.orelse, node.name, "torch"))
                else:  # after every Lean branch: PyTorch's
                    roots.append(([stmt], node.name, tag or "torch"))
            read_fields |= {a.attr for a in ast.walk(node) if isinstance(a, ast.Attribute)
                            and isinstance(a.value, ast.Name) and a.value.id == "cfg"}
        elif isinstance(node, ast.FunctionDef) and node.name in _DEFAULTS.get(module, ()):
            defaults = [*node.args.defaults, *[d for d in node.args.kw_defaults if d]]
            roots.append((defaults, f"{node.name} (defaults)", "both"))
        elif isinstance(node, ast.ClassDef) and module.endswith(".arith") \
                and node.name in _READINGS:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name not in _NOT_ARITHMETIC:
                    roots.append((item.body, f"{node.name}.{item.name}",
                                  _METHOD_SEMANTICS.get(item.name, "both")))
        elif isinstance(node, ast.Assign) and module.endswith(".chains") and any(
                isinstance(t, ast.Name) and t.id == "UNET2_OBLIGATIONS" for t in node.targets):
            lambdas = [x for x in ast.walk(node.value) if isinstance(x, ast.Lambda)]
            roots.append((lambdas, "UNET2_OBLIGATIONS", "both"))
    for node in tree.body:  # the defaults of the config fields the chains read
        if isinstance(node, ast.ClassDef) and node.name in _CONFIGS:
            defaults = [item.value for item in node.body if isinstance(item, ast.AnnAssign)
                        and isinstance(item.target, ast.Name)
                        and item.target.id in read_fields and item.value is not None]
            roots.append((defaults, node.name, "both"))
    return roots


def _changes(node: ast.AST) -> list[tuple[str, str]]:
    """``(change, replacement)`` pairs that apply to ``node``."""
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return [("binop", new.__name__) for new in _BINOPS[type(node.op)]]
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARES:
        return [("compare", _COMPARES[type(node.ops[0])].__name__)]
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [("constant", str(node.value + 1)), ("constant", str(node.value - 1))]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
            and isinstance(node.func.value, ast.Name) and node.func.value.id in ("r", "self") \
            and node.func.attr in _METHODS:
        return [("method", new) for new in _METHODS[node.func.attr]]
    return []


def _apply(node: ast.AST, change: str, replacement: str) -> None:
    if change == "binop":
        node.op = getattr(ast, replacement)()
    elif change == "compare":
        node.ops = [getattr(ast, replacement)()]
    elif change == "constant":
        node.value = int(replacement)
    elif change == "method":
        node.func.attr = replacement


def _context(node: ast.AST, parents: dict[int, ast.AST]) -> ast.AST:
    """What a report shows: a constant within its enclosing expression, a call's head."""
    if isinstance(node, ast.Constant):
        parent = parents.get(id(node))
        return parent if isinstance(parent, (ast.BinOp, ast.Call, ast.Compare)) else node
    return node


def _show(node: ast.AST) -> str:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        args = ", ".join(ast.unparse(a) for a in node.args)
        return _short(f"{ast.unparse(node.func)}({args})")
    return _short(ast.unparse(node))


def mutants(modules: tuple[str, ...] = TARGETS) -> list[Mutant]:
    """Every mutant of the size code in ``modules``, in source order."""
    found: list[Mutant] = []
    for module in modules:
        text, path = _source(module)
        tree = ast.parse(text)
        order = {id(node): i for i, node in enumerate(ast.walk(tree))}
        parents = {id(child): node for node in ast.walk(tree)
                   for child in ast.iter_child_nodes(node)}
        shown_path = f"{path.parent.name}/{path.name}"
        seen: dict[tuple, int] = {}
        for roots, scope, semantics in _sites(module, tree):
            for root in roots:
                skip = _excluded(root)
                for node in ast.walk(root):
                    if id(node) in skip:
                        continue
                    for change, replacement in _changes(node):
                        context = _context(node, parents)
                        before = _show(context)
                        twin = copy.deepcopy(context)
                        target = twin if context is node else next(
                            n for n in ast.walk(twin) if isinstance(n, ast.Constant)
                            and n.value == node.value and n.col_offset == node.col_offset)
                        _apply(target, change, replacement)
                        after = _show(twin)
                        ident = (shown_path, scope, before, after)
                        seen[ident] = seen.get(ident, 0) + 1
                        found.append(Mutant(module, shown_path, node.lineno, scope, semantics,
                                            before, after, order[id(node)], change,
                                            replacement, seen[ident]))
    found.sort(key=lambda m: (TARGETS.index(m.module) if m.module in TARGETS else 99,
                              m.line, m.index, m.change, m.replacement))
    return found


def sample(found: list[Mutant], count: int, seed: int = 0) -> list[Mutant]:
    """``count`` mutants drawn without replacement by a seeded generator (deterministic),
    half from Lean-tagged and torch-tagged sites where there are enough, in source order."""
    if count >= len(found):
        return list(found)
    rng = random.Random(seed)
    lean = [m for m in found if m.semantics == "lean"]
    torch = [m for m in found if m.semantics == "torch"]
    rest = [m for m in found if m.semantics == "both"]
    quarter = count // 4
    picked = rng.sample(lean, min(quarter, len(lean))) + rng.sample(torch,
                                                                    min(quarter, len(torch)))
    pool = [m for m in lean + torch + rest if m not in picked]
    picked += rng.sample(pool, count - len(picked))
    return sorted(picked, key=found.index)


# --------------------------------------------------------------------------------------
# Loading a mutant in place of its module
# --------------------------------------------------------------------------------------
# infrastructure that does not read the shape formulas: kept as it is. Every other nnbridge
# module is imported afresh (the UNet checker, the graph, the kernels' index arithmetic: an
# obligation may reach the formulas through any of them).
_KEEP = {"nnbridge", "nnbridge.spec", "nnbridge.spec.errors", "nnbridge.proofs",
         "nnbridge.proofs.engine", "nnbridge.proofs.closed_form", "nnbridge.proofs.vacuity",
         "nnbridge.proofs.smtlib", "nnbridge.proofs.mutation", "nnbridge.proofs.testing"}


_MISSING = object()


def _reloaded(name: str) -> bool:
    return name.startswith("nnbridge.") and name not in _KEEP


def _forget(name: str) -> None:
    """Drop a module and its parent's attribute (``from . import x`` reads the attribute)."""
    del sys.modules[name]
    parent, _, child = name.rpartition(".")
    if parent in sys.modules and child in vars(sys.modules[parent]):
        delattr(sys.modules[parent], child)


def _compile(mutant: Mutant):
    text, path = _source(mutant.module)
    tree = ast.parse(text)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == mutant.index)
    _apply(node, mutant.change, mutant.replacement)
    return compile(ast.fix_missing_locations(tree), str(path), "exec"), path


@contextlib.contextmanager
def load_mutant(mutant: Mutant | None) -> Iterator[None]:
    """Within the block, ``mutant``'s module (and everything that reads it) is loaded afresh.

    Every loaded nnbridge module but the proof infrastructure is imported again, the mutated
    one from the mutated source, and the obligations registered again; afterwards
    the original modules, their parents' attributes and the registry are put back. ``None``
    loads the unchanged sources the same way (the baseline).
    """
    engine.obligations()  # the original world complete, so that all of it is put back
    saved = {name: module for name, module in sys.modules.items() if _reloaded(name)}
    # each parent's attribute as it is (a package may bind a function over its submodule's
    # name: nnbridge.adjoint.registry), put back exactly afterwards
    attributes = {}
    for name in saved:
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            attributes[(parent, child)] = vars(sys.modules[parent]).get(child, _MISSING)
    registry = dict(engine.REGISTRY)
    for name in saved:
        _forget(name)
    engine.REGISTRY.clear()
    try:
        if mutant is not None:
            code, path = _compile(mutant)
            spec = importlib.util.spec_from_file_location(mutant.module, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[mutant.module] = module
            exec(code, module.__dict__)  # noqa: S102 - the mutant, by design
            parent, _, child = mutant.module.rpartition(".")
            setattr(sys.modules[parent], child, module)
        importlib.import_module("nnbridge.proofs.families")
        yield
    finally:
        for name in [n for n in sys.modules if _reloaded(n)]:
            _forget(name)
        sys.modules.update(saved)
        for (parent, child), value in attributes.items():
            if value is _MISSING:
                vars(sys.modules[parent]).pop(child, None)
            else:
                setattr(sys.modules[parent], child, value)
        engine.REGISTRY.clear()
        engine.REGISTRY.update(registry)


def _checks(timeout_ms: int | None) -> list[tuple[str, Callable[[], tuple[str, str] | None]]]:
    """Every check, as ``(name, run)``; ``run()`` gives ``(status, detail)`` on a failure.

    The quick concrete checks first (documented values, the arithmetic's readings), then
    the obligations in registry order, then the slower grid of layer formulas."""
    from . import readings  # the fresh module, reading the mutant

    def obligation_check(ob):
        def run():
            verdict = engine.check(ob, timeout_ms=timeout_ms)
            return None if verdict.passed else (verdict.status, verdict.detail)

        return run

    def shape_check(check):
        def run():
            failures = check()
            return ("failed", failures[0]) if failures else None

        return run

    shape = [(name, shape_check(check)) for name, check in readings.CHECKS.items()]
    first, rest = shape[:2], shape[2:]
    return first + [(ob.name, obligation_check(ob)) for ob in engine.obligations()] + rest


def run_mutant(mutant: Mutant | None, *, timeout_ms: int | None = 5_000,
               first: list[str] | None = None) -> MutantResult:
    """Run every obligation and shape check against ``mutant``; stop at the first failure.

    ``timeout_ms`` caps each solver call (a timeout is a failure, so it kills). ``first``
    names checks to try before the others (the runner passes the recent killers: a mutant is
    usually killed by what killed its neighbour); the verdict does not depend on the order.
    """
    start = time.perf_counter()

    def result(killer, status, detail=""):
        return MutantResult(mutant, killer is not None, killer, status,
                            time.perf_counter() - start, detail)

    rank = {name: i for i, name in enumerate(first or [])}
    undecided = None  # the first check the solver could not decide: a weak kill
    try:
        with load_mutant(mutant):
            checks = _checks(timeout_ms)
            checks.sort(key=lambda item: rank.get(item[0], len(rank)))  # stable: else as is
            for name, run in checks:
                failure = run()
                if failure is None:
                    continue
                if failure[0] != "unknown":
                    return result(name, *failure)
                # a timeout only: go on, looking for a check that fails outright
                undecided = undecided or (name, *failure)
    except Exception as exc:  # the mutant breaks an import: killed, with the reason
        return result("import", "import error", f"{type(exc).__name__}: {exc}")
    return result(*undecided) if undecided else result(None, None)


@dataclass
class MutationReport:
    results: list[MutantResult]
    seconds: float
    baseline: MutantResult | None = None
    counts: dict = field(default_factory=dict)

    @property
    def killed(self) -> int:
        return sum(r.killed for r in self.results)

    @property
    def survivors(self) -> list[MutantResult]:
        return [r for r in self.results if not r.killed]

    @property
    def unexplained(self) -> list[MutantResult]:
        """Survivors not documented as equivalent: gaps in the suite."""
        return [r for r in self.survivors if r.equivalent is None]

    @property
    def kill_rate(self) -> float:
        return self.killed / len(self.results) if self.results else 1.0

    def as_dict(self) -> dict:
        by_semantics = {}
        for tag in ("lean", "torch", "both"):
            rows = [r for r in self.results if r.mutant.semantics == tag]
            by_semantics[tag] = {"mutants": len(rows), "killed": sum(r.killed for r in rows)}
        return {"mutants": len(self.results), "killed": self.killed,
                "kill_rate": round(self.kill_rate, 4),
                "killed_only_by_timeout": sum(r.weak for r in self.results),
                "survivors": len(self.survivors), "equivalent": len(self.survivors)
                - len(self.unexplained), "unexplained": len(self.unexplained),
                "passed": not self.unexplained and (self.baseline is None
                                                    or not self.baseline.killed),
                "seconds": round(self.seconds, 2), "by_semantics": by_semantics,
                "baseline": None if self.baseline is None else self.baseline.as_dict()
                if self.baseline.mutant else {"killed": self.baseline.killed,
                                              "killed_by": self.baseline.killed_by,
                                              "detail": self.baseline.detail},
                "results": [r.as_dict() for r in self.results]}


def run_mutation(selected: list[Mutant] | None = None, *, timeout_ms: int | None = 5_000,
                 progress: Callable[[int, int, MutantResult], None] | None = None
                 ) -> MutationReport:
    """Run the baseline (no mutant: everything must pass) and then every selected mutant."""
    start = time.perf_counter()
    selected = mutants() if selected is None else selected
    baseline = run_mutant(None, timeout_ms=timeout_ms)
    results: list[MutantResult] = []
    killers: list[str] = []  # the most recent killer first
    for i, mutant in enumerate(selected, start=1):
        outcome = run_mutant(mutant, timeout_ms=timeout_ms, first=killers)
        if outcome.killed and outcome.killed_by != "import" and not outcome.weak:
            killers = [outcome.killed_by] + [k for k in killers if k != outcome.killed_by]
        results.append(outcome)
        if progress is not None:
            progress(i, len(selected), outcome)
    return MutationReport(results, time.perf_counter() - start, baseline)
