"""One formula, three readings: the small arithmetic every shape formula is written over.

A shape formula in :mod:`nnbridge.spec.shapes` never uses ``+``, ``-`` or ``//`` on its
arguments directly; it asks a *reading* for each operation. The reading is picked from the
arguments' types:

* Python ``int``  -> :class:`IntReading`: the number that runs;
* Z3 ``ArithRef`` -> :class:`Z3Reading`: a term that the proofs quantify over;
* SymPy ``Basic`` -> :class:`SymPyReading`: an expression to simplify into a closed form.

So what is proved is literally what runs. Z3 and SymPy are imported only when a symbolic
argument is seen, which keeps ``import nnbridge.spec.shapes`` cheap.

Two traps are kept in one helper each:

* ``nat_sub``: Lean's ``Nat`` subtraction truncates at 0 (``2 - 5 = 0``); plain integer
  subtraction would go negative and silently change every formula built on it.
* ``nat_div``: Lean's ``Nat`` division gives ``x / 0 = 0``; Z3's integer division by 0 is an
  uninterpreted value and Python's raises, so the zero divisor is special-cased here, once.

PyTorch's reading uses exact ``sub`` and ``floor_div`` (``div_rtn``: rounding toward minus
infinity) and states its preconditions through :meth:`Reading.require`: an ``int`` reading
raises :class:`ShapeError` on the spot; a symbolic reading records the condition in the active
:func:`conditions` collector so a proof can assume it or ask when it fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import reprlib
from collections.abc import Iterator
from typing import Any

from .errors import Rule, ShapeError

__all__ = [
    "IntReading",
    "Reading",
    "SymPyReading",
    "Z3Reading",
    "conditions",
    "defined",
    "is_symbolic",
    "reading_for",
    "shown",
]

_COLLECTOR: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "nnbridge_shape_conditions", default=None
)


@contextlib.contextmanager
def conditions() -> Iterator[list]:
    """Collect the preconditions that symbolic PyTorch readings state.

    ``with conditions() as conds: y = conv_out(n, k, s, p, semantics="torch")`` leaves in
    ``conds`` one ``(rule, condition)`` pair per PyTorch check: the
    :class:`~nnbridge.spec.errors.Rule` and a Z3 or SymPy boolean.
    """
    found: list = []
    token = _COLLECTOR.set(found)
    try:
        yield found
    finally:
        _COLLECTOR.reset(token)


def _module_of(value: Any) -> str:
    return type(value).__module__ or ""


def is_symbolic(value: Any) -> bool:
    """True for a Z3 or SymPy value (looked up by module, without importing either)."""
    mod = _module_of(value)
    return mod.startswith("z3") or mod.startswith("sympy")


class Reading:
    """The arithmetic interface. Subclasses give it meaning for one kind of value."""

    name = "abstract"

    # -- exact integer arithmetic -------------------------------------------------------
    def add(self, a, b):
        return a + b

    def mul(self, a, b):
        return a * b

    def sub(self, a, b):
        """Exact integer subtraction (PyTorch's ``int64`` arithmetic)."""
        return a - b

    # -- Nat arithmetic (Lean) -------------------------------------------------------------
    def nat_sub(self, a, b):  # pragma: no cover - abstract
        """Truncated subtraction: ``max(a - b, 0)``, as Lean's ``Nat.sub``."""
        raise NotImplementedError

    def nat_div(self, a, b):  # pragma: no cover - abstract
        """Floor division with ``x / 0 = 0``, as Lean's ``Nat.div``."""
        raise NotImplementedError

    # -- integer division with a known positive divisor ----------------------------------
    def floor_div(self, a, b):  # pragma: no cover - abstract
        """``floor(a / b)`` for ``b >= 1`` (PyTorch's ``div_rtn``); ``a`` may be negative."""
        raise NotImplementedError

    def ceil_div(self, a, b):
        """``ceil(a / b)`` for ``b >= 1``."""
        return self.sub(0, self.floor_div(self.sub(0, a), b))

    def max(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- comparisons and choice --------------------------------------------------------------
    def ge(self, a, b):
        return a >= b

    def lt(self, a, b):
        return a < b

    def eq(self, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    def divides(self, d, n):  # pragma: no cover - abstract
        """``d`` divides ``n`` (``d >= 1``)."""
        raise NotImplementedError

    def and_(self, *conds):  # pragma: no cover - abstract
        raise NotImplementedError

    def or_(self, *conds):  # pragma: no cover - abstract
        raise NotImplementedError

    def ite(self, cond, a, b):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- preconditions ---------------------------------------------------------------------
    def require(self, cond, rule: Rule, message: str, **values) -> None:
        """State a precondition named ``rule`` (a :class:`~nnbridge.spec.errors.Rule`).

        An int reading raises :class:`ShapeError` with ``rule`` at once when ``cond`` is
        false, ``message`` formatted with ``values``; a symbolic reading records
        ``(rule, cond)`` in the active :func:`conditions` collector.
        """
        if not isinstance(rule, Rule):
            try:
                rule = Rule(rule)
            except ValueError:
                raise TypeError(f"{rule!r} is not one of nnbridge's rules "
                                "(nnbridge.spec.errors.Rule)") from None
        if cond is True:
            return
        if cond is False:
            raise ShapeError(message.format(**values), rule=rule)
        collector = _COLLECTOR.get()
        if collector is None:
            raise ShapeError(
                f"symbolic {rule.value!r} condition outside a `conditions()` block: wrap "
                "symbolic PyTorch-semantics calls in `with nnbridge.spec.arith.conditions() "
                "as conds:` so the condition is kept, not dropped",
                rule=Rule.SYMBOLIC_CONDITION,
            )
        collector.append((rule, cond))


class IntReading(Reading):
    """Python integers: the reading that runs."""

    name = "int"

    def nat_sub(self, a, b):
        return a - b if a >= b else 0

    def nat_div(self, a, b):
        return 0 if b == 0 else a // b

    def floor_div(self, a, b):
        return a // b

    def max(self, a, b):
        return a if a >= b else b

    def eq(self, a, b):
        return a == b

    def divides(self, d, n):
        return n % d == 0

    def and_(self, *conds):
        return all(conds)

    def or_(self, *conds):
        return any(conds)

    def ite(self, cond, a, b):
        return a if cond else b


class Z3Reading(Reading):
    """Z3 integer terms, for proofs over all sizes."""

    name = "z3"

    def __init__(self):
        import z3

        self.z3 = z3

    def _simple(self, value):
        return value if isinstance(value, bool) else self.z3.simplify(value)

    def nat_sub(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return a - b if a >= b else 0
        return self.z3.If(a >= b, a - b, 0)

    def nat_div(self, a, b):
        if isinstance(b, int):
            return 0 if b == 0 else self.floor_div(a, b)
        return self.z3.If(b == 0, 0, a / b)

    def floor_div(self, a, b):
        # Z3's integer division is Euclidean, which equals floor division for b >= 1.
        if isinstance(a, int) and isinstance(b, int):
            return a // b
        if isinstance(a, int):
            a = self.z3.IntVal(a)
        return a / b

    def max(self, a, b):
        if isinstance(a, int) and isinstance(b, int):
            return max(a, b)
        return self.z3.If(a >= b, a, b)

    def eq(self, a, b):
        return self._bool(a == b)

    def divides(self, d, n):
        if isinstance(d, int) and isinstance(n, int):
            return n % d == 0
        if isinstance(n, int):
            n = self.z3.IntVal(n)
        return n % d == 0

    def _fold(self, conds, op, unit):
        conds = [c for c in conds if c is not unit]
        if any(c is (not unit) for c in conds):
            return not unit
        if not conds:
            return unit
        return op(*conds) if len(conds) > 1 else conds[0]

    def and_(self, *conds):
        return self._fold(conds, self.z3.And, True)

    def or_(self, *conds):
        return self._fold(conds, self.z3.Or, False)

    def ite(self, cond, a, b):
        if isinstance(cond, bool):
            return a if cond else b
        return self.z3.If(cond, a, b)

    def ge(self, a, b):
        return self._bool(a >= b)

    def lt(self, a, b):
        return self._bool(a < b)

    def _bool(self, cond):
        # Comparisons of two Python ints stay Python bools; a Z3 comparison that
        # simplifies to a constant becomes one too, so `require` can decide it now.
        if isinstance(cond, bool):
            return cond
        simple = self.z3.simplify(cond)
        if self.z3.is_true(simple):
            return True
        if self.z3.is_false(simple):
            return False
        return cond


class SymPyReading(Reading):
    """SymPy expressions, for closed forms."""

    name = "sympy"

    def __init__(self):
        import sympy

        self.sp = sympy

    def nat_sub(self, a, b):
        return self.sp.Max(self.sp.sympify(a) - b, 0)

    def nat_div(self, a, b):
        b = self.sp.sympify(b)
        if b.is_zero:
            return self.sp.Integer(0)
        if b.is_positive:
            return self.floor_div(a, b)
        return self.sp.Piecewise((0, self.sp.Eq(b, 0)), (self.sp.floor(a / b), True))

    def floor_div(self, a, b):
        return self.sp.floor(self.sp.sympify(a) / b)

    def max(self, a, b):
        return self.sp.Max(a, b)

    def eq(self, a, b):
        return self.sp.Eq(a, b)

    def divides(self, d, n):
        return self.sp.Eq(self.sp.Mod(n, d), 0)

    def and_(self, *conds):
        return self.sp.And(*conds)

    def or_(self, *conds):
        return self.sp.Or(*conds)

    def ite(self, cond, a, b):
        return self.sp.Piecewise((a, cond), (b, True))

    def ge(self, a, b):
        return self._bool(self.sp.Ge(a, b))

    def lt(self, a, b):
        return self._bool(self.sp.Lt(a, b))

    def _bool(self, cond):
        if cond is self.sp.true or cond is True:
            return True
        if cond is self.sp.false or cond is False:
            return False
        return cond


class _Short(reprlib.Repr):
    """``reprlib`` with bounded integers: no int is ever turned into thousands of digits."""

    def __init__(self):
        super().__init__()
        self.maxstring = self.maxother = 60

    def repr_int(self, x, level):
        if x.bit_length() > 160:
            digits = int(x.bit_length() * math.log10(2)) + 1
            return f"{'-' if x < 0 else ''}<an integer of about {digits} digits>"
        return super().repr_int(x, level)

    def repr_instance(self, x, level):
        try:
            text = repr(x)
        except Exception:  # a broken __repr__, or an int subclass past the str limit
            return f"<{type(x).__name__} object>"
        return text if len(text) <= self.maxother else f"{text[:self.maxother - 3]}..."


_SHORT = _Short()


def shown(value: Any) -> str:
    """``value`` for an error message: short, bounded, and never raising.

    ``repr`` itself can fail on bad input (an int above Python's 4300-digit ``str`` limit
    raises ``ValueError``, a deeply nested tuple ``RecursionError``); this never does, and
    long or deep values are cut with ``...``. NumPy scalars keep their type in view
    (``np.int64(5)``).
    """
    try:
        return _SHORT.repr(value)
    except Exception:  # pragma: no cover - reprlib guards each piece; belt and braces
        return f"<{type(value).__name__} object>"


_INT = IntReading()
_CACHE: dict[str, Reading] = {}


def reading_for(*values: Any) -> Reading:
    """The reading for these arguments: Z3 if any is a Z3 term, else SymPy, else ``int``."""
    kind = "int"
    for value in values:
        mod = _module_of(value)
        if mod.startswith("z3"):
            kind = "z3"
            break
        if mod.startswith("sympy"):
            kind = "sympy"
    if kind == "int":
        return _INT
    if kind not in _CACHE:
        _CACHE[kind] = Z3Reading() if kind == "z3" else SymPyReading()
    return _CACHE[kind]


def defined(thunk, reading: Reading | None = None):
    """Evaluate ``thunk()`` (a boolean claim) as "PyTorch runs it and the claim holds".

    For ints a :class:`ShapeError` raised inside means ``False``. For symbolic readings the
    result is the conjunction of every collected precondition with the claim.
    """
    try:
        with conditions() as conds:
            claim = thunk()
    except ShapeError:
        return False
    reading = reading or reading_for(claim, *(c for _, c in conds))
    if reading is _INT:
        return bool(claim)
    return reading.and_(*(c for _, c in conds), claim)
