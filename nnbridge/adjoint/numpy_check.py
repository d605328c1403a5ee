"""``check_numpy``: the adjoint checks on a hand-written backward in NumPy.

Conventions (nnbridge's own specs follow them, ``conv`` / ``conv_vjp`` / ``conv_jvp``):

``forward(*inputs) -> y``
    an array, or a tuple of arrays (integer items, indices say, are not differentiated);
``vjp(*inputs, grad_y) -> grads``
    ``grad_y`` mirrors ``y`` (a tuple with None for integer items); one gradient per input,
    in the inputs' order (None for an integer input), or a bare array for a single input;
``jvp(*inputs, *tangents) -> dy`` (optional)
    one tangent per input (None for an integer input); ``dy`` mirrors ``y``.

Floating arrays and shape tuples are the differentiable inputs; integer arrays are kept as
given; numbers, strings and None are passed through. Without ``jvp``, ``J u`` is a central
difference (module :mod:`nnbridge.adjoint.probe`). Nothing here repairs a gradient: one
whose shape is not its input's (a missing sum over broadcast dimensions), or whose dtype is
not its input's (float64 out of a float32 backward), fails the ``backward`` check.
"""

from __future__ import annotations

import numpy as np

from nnbridge.spec.errors import NNBridgeError, Rule, UsageError

from .operands import Slot, check_callable, check_total, shape_of
from .probe import FLOAT_FACTOR, AdjointReport, Linearization, options, run_checks

__all__ = ["NumpyTarget", "check_numpy"]


def check_numpy(forward, vjp, *inputs, jvp=None, modes=None, trials: int = 3, seed: int = 0,
                name: str | None = None, float_factor: float = FLOAT_FACTOR) -> AdjointReport:
    """Check ``vjp`` as the adjoint of the derivative of ``forward`` (and ``jvp``, if given,
    against central differences).

    Parameters and the report are those of :func:`~nnbridge.adjoint.check_torch`; the
    calling conventions of ``forward``, ``vjp`` and ``jvp`` are in this module's docstring.
    """
    modes, trials, seed, factor = options("check_numpy", modes, trials, seed, float_factor)
    check_callable("check_numpy", "forward", forward)
    check_callable("check_numpy", "vjp", vjp)
    if jvp is not None:
        check_callable("check_numpy", "jvp", jvp)
    target = NumpyTarget(forward, vjp, jvp, inputs, name)
    return run_checks(target, modes, trials, seed, factor)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _strided(a: np.ndarray) -> np.ndarray:
    """``a``'s values in a non-contiguous layout."""
    if a.ndim == 0 or a.size < 2:
        return a
    view = np.empty(a.shape + (2,), dtype=a.dtype)[..., 0]
    view[...] = a
    return view


class NumpyTarget:
    """A NumPy forward with its VJP (and JVP) as a :class:`~nnbridge.adjoint.probe.Target`."""

    def __init__(self, forward, vjp, jvp, inputs, name: str | None = None,
                 where: str = "check_numpy"):
        self.where = where
        self.forward, self.vjp, self.jvp = forward, vjp, jvp
        self.name = name or getattr(forward, "__qualname__", None) or type(forward).__name__
        self.slots = [self._slot(where, i, x) for i, x in enumerate(inputs)]
        check_total(where, "the inputs",
                    sum(int(np.prod(s.shape)) for s in self.slots if s.kind != "value"))
        self.diff = [i for i, s in enumerate(self.slots) if s.kind == "diff"]
        if not self.diff:
            raise UsageError(Rule.PARAM_VALUE, name=f"{where}: inputs",
                             detail="no differentiable input: give a shape tuple or a "
                                    "floating-point array")
        self.shapes = [self.slots[i].shape for i in self.diff]
        self.jvp_source = "the given jvp" if jvp is not None else (
            "central differences (no jvp given)")

    @staticmethod
    def _slot(where: str, i: int, x) -> Slot:
        label = f"input {i}"
        if isinstance(x, np.ndarray):
            if np.issubdtype(x.dtype, np.floating):
                return Slot(label, "diff", x.shape)
            if np.issubdtype(x.dtype, np.integer) or x.dtype == np.bool_:
                return Slot(label, "const", x.shape, x)
            raise UsageError(Rule.PARAM_VALUE, name=f"{where}: {label}",
                             detail=f"real floating or integer arrays only, got {x.dtype}")
        if isinstance(x, (tuple, list)):
            return Slot(label, "diff", shape_of(where, label, x))
        if x is None or isinstance(x, (bool, int, float, str, np.generic)):
            return Slot(label, "value", value=x)
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: {label}",
                         detail=f"an array, a shape tuple or a number is needed, got "
                                f"{type(x).__name__}; bind other arguments with "
                                "functools.partial or a lambda")

    def _args(self, point: list) -> list:
        it = iter(point)
        return [next(it) if s.kind == "diff" else s.value for s in self.slots]

    def _outputs(self, y) -> tuple[list, list | None]:
        """``(floating outputs, layout)``: layout None for a bare array, else per item of
        the tuple the index into the outputs or None."""
        if isinstance(y, (tuple, list)):
            outs, layout = [], []
            for item in y:
                a = np.asarray(item)
                if np.issubdtype(a.dtype, np.floating):
                    layout.append(len(outs))
                    outs.append(a)
                else:
                    layout.append(None)
        else:
            outs, layout = [np.asarray(y)], None
            if not np.issubdtype(outs[0].dtype, np.floating):
                outs = []
        if not outs:
            raise TypeError(f"{self.name} returned no floating-point array (got "
                            f"{type(y).__name__})")
        check_total(self.where, f"the outputs of {self.name}", sum(o.size for o in outs))
        return outs, layout

    @staticmethod
    def _mirror(values: list, layout):
        return values[0] if layout is None else tuple(
            None if k is None else values[k] for k in layout)

    def _gradients(self, grads, strict: bool = True) -> list:
        """The VJP's result as one array (or None) per differentiable input."""
        if len(self.slots) == 1 and not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if not isinstance(grads, (tuple, list)) or len(grads) != len(self.slots):
            got = len(grads) if isinstance(grads, (tuple, list)) else type(grads).__name__
            raise ValueError(f"vjp must return one gradient per input ({len(self.slots)}), "
                             f"got {got}")
        return [grads[i] for i in self.diff]

    def evaluate(self, point: list) -> list:
        outs, _ = self._outputs(self.forward(*self._args(point)))
        return [np.array(o, dtype=np.float64) for o in outs]

    def linearize(self, point: list, dtype, strided: bool) -> Linearization:
        point = [_strided(p) for p in point] if strided else point
        args = self._args(point)
        outs, layout = self._outputs(self.forward(*args))

        def gradients(grads: list) -> list:
            out = []
            for k, (g, p) in enumerate(zip(grads, point, strict=True)):
                g = np.zeros(p.shape) if g is None else np.asarray(g, dtype=np.float64)
                if g.shape != p.shape:
                    raise ValueError(f"vjp returned shape {g.shape} for input "
                                     f"{self.diff[k]} of shape {p.shape}")
                out.append(g)
            return out

        def pullback(v: list, strided_v: bool) -> list:
            v = [_strided(w.astype(o.dtype)) if strided_v else w.astype(o.dtype)
                 for w, o in zip(v, outs, strict=True)]
            return gradients(self._gradients(self.vjp(*args, self._mirror(v, layout))))

        def audit(v: list):
            v = [w.astype(o.dtype) for w, o in zip(v, outs, strict=True)]
            grads, worst, problems = self._audit(point, args, outs, layout, v, dtype)
            return (None if grads is None else gradients(grads)), worst, problems

        return Linearization([np.array(o, dtype=np.float64) for o in outs], pullback, audit)

    def forward_jvp(self, point: list, tangent: list, dtype) -> list | None:
        if self.jvp is None:
            return None
        args = self._args(point)
        it = iter(tangent)
        tangents = [next(it) if s.kind == "diff" else None for s in self.slots]
        outs, _ = self._outputs(self.jvp(*args, *tangents))
        return [np.array(o, dtype=np.float64) for o in outs]

    def _audit(self, point: list, args: list, outs: list, layout, v: list, dtype):
        """``(gradients, worst relative layout difference, problems)`` of the VJP at
        ``point``; the gradients are None when it raised or returned the wrong things."""
        eps = float(np.finfo(dtype).eps)
        try:
            grads = self._gradients(self.vjp(*args, self._mirror(v, layout)))
        except NNBridgeError:
            raise
        except Exception as exc:
            return None, float("inf"), [f"the vjp raised {_describe(exc)}"]
        problems = []
        for k, (g, p) in enumerate(zip(grads, point, strict=True)):
            i = self.diff[k]
            if g is None:
                continue
            if not isinstance(g, (np.ndarray, np.generic)):
                problems.append(f"vjp returns a {type(g).__name__} for input {i}")
                continue
            g = np.asarray(g)
            if g.shape != p.shape:
                note = ""
                try:
                    if np.broadcast_shapes(p.shape, g.shape) == g.shape:
                        note = " (not summed over the broadcast dimensions)"
                except ValueError:
                    pass
                problems.append(f"vjp returns a gradient of shape {g.shape} for input {i} "
                                f"of shape {p.shape}{note}")
            if g.dtype != p.dtype:
                problems.append(f"vjp returns {g.dtype} for input {i} of dtype {p.dtype}")
            if np.issubdtype(g.dtype, np.floating) and not np.all(np.isfinite(g)):
                problems.append(f"vjp returns non-finite values for input {i}")
        if problems:
            return None, float("inf"), problems
        worst, limit = 0.0, 64 * eps
        try:
            moved = self._gradients(self.vjp(*args, self._mirror([_strided(w) for w in v],
                                                                  layout)))
            worst = max(worst, d := _difference(moved, grads))
            if d > limit:
                problems.append(f"the gradients change when grad_y is non-contiguous (same "
                                f"values): max|difference| = {d:.3g} of max|gradient|")
            args2 = self._args([_strided(p) for p in point])
            outs2, _ = self._outputs(self.forward(*args2))
            worst = max(worst, d := _difference(outs2, outs))
            if d > limit:
                problems.append(f"the forward's result changes when the inputs are "
                                f"non-contiguous (same values): max|difference| = {d:.3g}")
            moved = self._gradients(self.vjp(*args2, self._mirror(v, layout)))
            worst = max(worst, d := _difference(moved, grads))
            if d > limit:
                problems.append(f"the gradients change when the inputs are non-contiguous "
                                f"(same values): max|difference| = {d:.3g} of max|gradient|")
        except NNBridgeError:
            raise
        except Exception as exc:
            problems.append(f"non-contiguous inputs or grad_y make it raise {_describe(exc)}")
        return grads, worst, problems


def _difference(a: list, b: list) -> float:
    """``max|a - b| / max|b|`` over lists of arrays (None read as zeros)."""
    top, diff = 0.0, 0.0
    for x, y in zip(a, b, strict=True):
        x = np.zeros(np.shape(y)) if x is None else np.asarray(x, dtype=np.float64)
        y = np.zeros(np.shape(x)) if y is None else np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            return float("inf")
        if y.size:
            top = max(top, float(np.max(np.abs(y))))
            diff = max(diff, float(np.max(np.abs(x - y))))
    if diff != diff:
        return float("inf")
    return diff / top if top > 0 else diff
