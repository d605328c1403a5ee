"""``check_torch``: the adjoint checks on any PyTorch callable whose backward autograd runs.

``fn`` is a ``torch.autograd.Function``'s ``apply``, an ``nn.Module`` (its parameters that
require grad are differentiated too, first, as named parameters) or a plain function on
tensors. ``J^T v`` is ``torch.autograd.grad`` through the callable's own backward. ``J u`` is
forward-mode AD where the callable supports it (dual numbers, ``torch.autograd.forward_ad``:
the forward formulas ``torch.func.jvp`` runs, and a Function's ``jvp`` staticmethod, old or
new style; ``torch.func.jvp`` itself for code only its transforms run), else central
differences (a custom Function with no ``jvp``): the report's ``jvp_source`` says which, and
why.

Autograd repairs two mistakes of a custom backward silently: it sums a gradient whose
shape broadcasts to the input's (a missing sum over broadcast dimensions) and casts one of
another dtype (a float16 result) back. The ``backward`` check therefore calls every custom
Function's backward itself, on the cotangents autograd handed it, and compares what it
returns with the metadata of the inputs it belongs to. PyTorch is imported when a check
runs, never at import time (it is optional for nnbridge).
"""

from __future__ import annotations

import warnings

import numpy as np

from nnbridge.spec.errors import NNBridgeError, Rule, UsageError

from .operands import Slot, check_callable, check_total, shape_of
from .probe import FLOAT_FACTOR, AdjointReport, Linearization, options, run_checks

__all__ = ["TorchTarget", "check_torch", "import_torch"]

#: Autograd nodes visited, at most, looking for custom Functions in a backward graph.
MAX_NODES = 10_000


def import_torch():
    """The ``torch`` module, or a UsageError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise UsageError(Rule.PARAM_VALUE, name="check_torch",
                         detail="PyTorch is not installed: pip install 'nnbridge[torch]'"
                         ) from None
    return torch


def check_torch(fn, *inputs, modes=None, trials: int = 3, seed: int = 0,
                name: str | None = None, float_factor: float = FLOAT_FACTOR) -> AdjointReport:
    """Check the backward of ``fn`` as the adjoint of its forward derivative.

    Parameters
    ----------
    fn : a ``torch.autograd.Function.apply``, an ``nn.Module`` or a function on tensors
    *inputs : each a tensor or a shape tuple
        A floating tensor with ``requires_grad=True``, or a shape tuple, is a differentiable
        input: its values are drawn anew for every trial, in each mode's dtype. Any other
        tensor (indices, a mask, a floating tensor without ``requires_grad``) is a constant,
        kept as given (floating ones cast to the mode's dtype); numbers, strings and None
        are passed through.
    modes : any of ``"exact"``, ``"float32"``, ``"float64"``, ``"fd"`` (default: all)
    trials : draws per check (point, ``u``, ``v``); odd trials lay the inputs and the
        cotangent out non-contiguously
    seed : first seed; trial ``t`` of a mode draws from ``(seed, mode, t)``
    name : the name in the report (default: the Function's, module's or function's)
    float_factor : ``c`` in the float tolerance ``c * eps * (||Ju|| ||v|| + ||u|| ||J^T v||)``

    Returns
    -------
    AdjointReport
        One :class:`~nnbridge.adjoint.CheckResult` per check (``passed`` on each, figures,
        the reason of a failure) and ``passed`` over all. The checks and their tolerances
        are those of :mod:`nnbridge.adjoint.probe`.

    Raises
    ------
    UsageError
        ``fn`` not callable, an input that is neither a tensor, a shape nor a number, a
        shape with non-integer or negative sizes, more than ``MAX_ELEMENTS`` elements, bad
        options, or PyTorch missing. The code under test raising is a failed check, not an
        exception.
    """
    modes, trials, seed, factor = options("check_torch", modes, trials, seed, float_factor)
    check_callable("check_torch", "fn", fn)
    torch = import_torch()
    target = TorchTarget(torch, fn, inputs, name)
    with torch.enable_grad():
        return run_checks(target, modes, trials, seed, factor)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _default_name(torch, fn) -> str:
    if isinstance(fn, torch.nn.Module):
        return type(fn).__name__
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, torch.autograd.Function):
        return owner.__name__
    return getattr(fn, "__qualname__", None) or type(fn).__name__


class TorchTarget:
    """A PyTorch callable as a :class:`~nnbridge.adjoint.probe.Target`."""

    def __init__(self, torch, fn, inputs, name: str | None = None,
                 where: str = "check_torch"):
        self.where = where
        self.torch = torch
        self._tensor_type = torch.Tensor
        self.fn = fn
        self.name = name or _default_name(torch, fn)
        self.module = fn if isinstance(fn, torch.nn.Module) else None
        self.device = next((x.device for x in inputs if isinstance(x, torch.Tensor)),
                           torch.device("cpu"))
        self.params = self._parameters() if self.module is not None else []
        self.slots = [self._slot(i, x) for i, x in enumerate(inputs)]
        every = self.params + self.slots
        check_total(where, "the inputs", sum(
            int(np.prod(s.shape)) for s in every if s.kind != "value"))
        self.diff = [s for s in every if s.kind == "diff"]
        if not self.diff:
            raise UsageError(Rule.PARAM_VALUE, name=f"{where}: inputs",
                             detail="no differentiable input: give a shape tuple or a "
                                    "floating tensor with requires_grad=True")
        self.shapes = [s.shape for s in self.diff]
        self.labels = [s.label for s in self.diff]
        self._consts: dict = {}
        self._source: str | None = None
        self._note = ""
        owner = getattr(fn, "__self__", None)
        if (isinstance(owner, type) and issubclass(owner, torch.autograd.Function)
                and owner.jvp is torch.autograd.Function.jvp):
            self._source, self._note = "fd", (f"no forward mode: {owner.__name__} has no jvp "
                                              "staticmethod")

    # -- operands ----------------------------------------------------------------------
    def _slot(self, i: int, x) -> Slot:
        torch, label = self.torch, f"input {i}"
        if isinstance(x, torch.Tensor):
            if x.layout != torch.strided or x.is_complex():
                raise UsageError(Rule.PARAM_VALUE, name=f"{self.where}: {label}",
                                 detail=f"dense real tensors only, got {x.layout} {x.dtype}")
            if x.is_floating_point() and x.requires_grad:
                return Slot(label, "diff", tuple(x.shape))
            return Slot(label, "const", tuple(x.shape), x.detach(), x.is_floating_point())
        if isinstance(x, (tuple, list, torch.Size)):
            return Slot(label, "diff", shape_of(self.where, label, x))
        if x is None or isinstance(x, (bool, int, float, str)):
            return Slot(label, "value", value=x)
        raise UsageError(Rule.PARAM_VALUE, name=f"{self.where}: {label}",
                         detail=f"a tensor, a shape tuple or a number is needed, got "
                                f"{type(x).__name__}; bind other arguments with "
                                "functools.partial or a lambda")

    def _parameters(self) -> list[Slot]:
        slots = []
        for name, p in self.module.named_parameters():
            kind = "diff" if p.requires_grad and p.is_floating_point() else "const"
            slots.append(Slot(name, kind, tuple(p.shape), p.detach(), p.is_floating_point()))
        for name, b in self.module.named_buffers():
            slots.append(Slot(name, "const", tuple(b.shape), b.detach(), b.is_floating_point()))
        return slots

    def _const(self, slot: Slot, dtype):
        key = (slot.label, dtype)
        if key not in self._consts:
            value = slot.value
            self._consts[key] = value.to(dtype) if slot.floating else value
        return self._consts[key]

    def _tensor(self, a, dtype=None):
        a = np.asarray(a)  # (np.ascontiguousarray would make a 0-d array 1-d)
        t = self.torch.from_numpy(a if a.flags.c_contiguous else np.ascontiguousarray(a))
        if self.device.type != "cpu" or (dtype is not None and t.dtype != dtype):
            t = t.to(device=self.device, dtype=t.dtype if dtype is None else dtype)
        return t

    def _strided(self, t):
        """``t``'s values in a non-contiguous layout (every other element of a buffer)."""
        if t.dim() == 0 or t.numel() < 2:
            return t
        base = self.torch.empty(tuple(t.shape) + (2,), dtype=t.dtype, device=t.device)
        view = base[..., 0]
        view.copy_(t)
        return view

    # -- running -----------------------------------------------------------------------
    def _call(self, tensors: list, dtype) -> list:
        """The floating outputs of ``fn`` at the differentiable ``tensors``."""
        it = iter(tensors)
        if self.module is not None:
            state = {s.label: next(it) if s.kind == "diff" else self._const(s, dtype)
                     for s in self.params}
        args = [next(it) if s.kind == "diff" else self._const(s, dtype) if s.kind == "const"
                else s.value for s in self.slots]
        if self.module is not None:
            out = self.torch.func.functional_call(self.module, state, tuple(args))
        else:
            out = self.fn(*args)
        outputs = []
        self._floating(out, outputs)
        if not outputs:
            raise TypeError(f"{self.name} returned no floating-point tensor (got "
                            f"{type(out).__name__})")
        check_total(self.where, f"the outputs of {self.name}",
                    sum(o.numel() for o in outputs))
        return outputs

    def _floating(self, out, into: list) -> None:
        if type(out) is self._tensor_type or isinstance(out, self.torch.Tensor):
            if out.is_floating_point():
                into.append(out)
        elif isinstance(out, (tuple, list)):
            for item in out:
                self._floating(item, into)
        elif isinstance(out, dict):
            for item in out.values():
                self._floating(item, into)

    def _torch_dtype(self, dtype):
        return self.torch.float32 if np.dtype(dtype) == np.float32 else self.torch.float64

    def _numpy(self, t) -> np.ndarray:
        t = t.detach()
        if t.device.type != "cpu" or t.dtype != self.torch.float64:
            return t.to("cpu", self.torch.float64).numpy()
        return t.numpy().copy()

    def _leaves(self, point: list, dtype, strided: bool) -> list:
        xs = [self._tensor(p, self._torch_dtype(dtype)) for p in point]
        if strided:
            xs = [self._strided(x) for x in xs]
        return [x.requires_grad_(True) for x in xs]

    def _grads(self, outs: list, xs: list, cotangents: list, **kwargs) -> list:
        pairs = [(o, v.to(o.dtype)) for o, v in zip(outs, cotangents, strict=True)
                 if o.requires_grad]
        if not pairs:
            return [None] * len(xs)
        return list(self.torch.autograd.grad([o for o, _ in pairs], xs,
                                             [v for _, v in pairs], allow_unused=True,
                                             **kwargs))

    def evaluate(self, point: list) -> list:
        with self.torch.no_grad():
            outs = self._call([self._tensor(p, self.torch.float64) for p in point],
                              self.torch.float64)
        return [self._numpy(o) for o in outs]

    def linearize(self, point: list, dtype, strided: bool) -> Linearization:
        xs = self._leaves(point, dtype, strided)
        tdtype = self._torch_dtype(dtype)
        outs = self._call(xs, tdtype)

        def gradients(grads) -> list:
            return [np.zeros(x.shape) if g is None else self._numpy(g)
                    for g, x in zip(grads, xs, strict=True)]

        def pullback(v: list, strided_v: bool) -> list:
            vs = [self._tensor(a) for a in v]
            if strided_v:
                vs = [self._strided(t) for t in vs]
            return gradients(self._grads(outs, xs, vs))

        def audit(v: list):
            grads, worst, problems = self._audit(xs, outs, [self._tensor(a) for a in v],
                                                 tdtype, float(np.finfo(dtype).eps))
            return (None if grads is None else gradients(grads)), worst, problems

        return Linearization([self._numpy(o) for o in outs], pullback, audit)

    # -- the backward's contract -----------------------------------------------------
    def _audit(self, xs: list, outs: list, vs: list, tdtype, eps: float):
        """``(gradients, worst relative layout difference, problems)`` of the backward at
        the contiguous leaves ``xs``; the gradients are None when the backward raised."""
        torch = self.torch
        if not any(o.requires_grad for o in outs):
            return [None] * len(xs), float("inf"), [
                "no output requires grad: the result is detached from the inputs, autograd "
                "sees no dependence"]
        nodes = _custom_nodes(torch, [o for o in outs if o.requires_grad])
        captured: list = []
        handles = [node.register_prehook(lambda g, node=node: captured.append((node, g)))
                   for node in nodes]
        try:
            grads = self._grads(outs, xs, vs, retain_graph=True)
        except Exception as exc:
            return None, float("inf"), [f"the backward raised {_describe(exc)}"]
        finally:
            for handle in handles:
                handle.remove()
        problems = []
        for node, grad_outputs in captured:
            problems += _audit(torch, node, grad_outputs)
        worst, limit = 0.0, 64 * eps
        try:
            moved = self._grads(outs, xs, [self._strided(v) for v in vs])
            worst = max(worst, d := _difference(moved, grads))
            if d > limit:
                problems.append(f"the gradients change when grad_output is non-contiguous "
                                f"(same values): max|difference| = {d:.3g} of max|gradient|; "
                                "the backward reads memory without its strides")
            with torch.no_grad():  # (a backward that misreads strided saved inputs fails
                outs2 = self._call([self._strided(x.detach()) for x in xs], tdtype)
            worst = max(worst, d := _difference(outs2, outs))  # the odd adjoint trials)
            if d > limit:
                problems.append(f"the forward's result changes when the inputs are "
                                f"non-contiguous (same values): max|difference| = {d:.3g}")
        except NNBridgeError:
            raise
        except Exception as exc:
            problems.append(f"non-contiguous inputs or grad_output make it raise "
                            f"{_describe(exc)}")
        return grads, worst, problems


    # -- J u ---------------------------------------------------------------------------
    @property
    def jvp_source(self) -> str:
        return {None: "nothing yet (no check needed it)", "func": "torch.func.jvp",
                "fwad": "forward-mode AD",
                "fd": f"central differences ({self._note})"}[self._source]

    def forward_jvp(self, point: list, tangent: list, dtype) -> list | None:
        """``J u`` by forward-mode AD, or None when ``fn`` has none (decided once).

        Dual numbers (``torch.autograd.forward_ad``) first: the same forward formulas
        ``torch.func.jvp`` runs, at a sixth of its cost on a custom Function; then
        ``torch.func.jvp``, for code only its transforms run.
        """
        if self._source == "fd":
            return None
        torch, tdtype = self.torch, self._torch_dtype(dtype)
        xs = [self._tensor(p, tdtype) for p in point]
        ts = [self._tensor(t, tdtype) for t in tangent]
        errors = []
        if self._source in (None, "fwad"):
            try:
                from torch.autograd import forward_ad

                with warnings.catch_warnings(), forward_ad.dual_level():
                    # its decompositions load through torch.jit, deprecated: not the user's
                    warnings.simplefilter("ignore", DeprecationWarning)
                    outs = self._call([forward_ad.make_dual(x, t) for x, t in
                                       zip(xs, ts, strict=True)], tdtype)
                    pairs = [(forward_ad.unpack_dual(o).tangent, o) for o in outs]
                    tangents = [np.zeros(tuple(o.shape)) if t is None else self._numpy(t)
                                for t, o in pairs]
                self._source = "fwad"
                return tangents
            except NNBridgeError:
                raise
            except Exception as exc:
                if self._source == "fwad":
                    raise
                errors.append(exc)
        if self._source in (None, "func"):
            try:
                with warnings.catch_warnings():  # functorch's own torch.jit deprecations
                    warnings.simplefilter("ignore", DeprecationWarning)
                    _, tangents = torch.func.jvp(
                        lambda *d: tuple(self._call(list(d), tdtype)), tuple(xs), tuple(ts))
                self._source = "func"
                return [self._numpy(t) for t in tangents]
            except NNBridgeError:
                raise
            except Exception as exc:
                if self._source == "func":
                    raise
                errors.append(exc)
        with torch.no_grad():  # a forward that raises anyway: its error, not "no forward mode"
            self._call(xs, tdtype)
        self._source = "fd"
        text = " ".join(str(e) for e in errors)
        self._note = ("no forward mode: a custom autograd.Function without a jvp "
                      "staticmethod" if "setup_context" in text or "jvp" in text else
                      f"no forward mode: {_describe(errors[-1])}")
        return None

def _difference(a: list, b: list) -> float:
    """``max|a - b| / max|b|`` over lists of tensors (None read as zeros)."""
    top, diff = 0.0, 0.0
    for x, y in zip(a, b, strict=True):
        if x is None and y is None:
            continue
        if x is None or y is None:
            z = (x if y is None else y).detach()
            diff = max(diff, float(z.abs().max())) if z.numel() else diff
            continue
        if y.numel():
            top = max(top, float(y.detach().abs().max()))
            diff = max(diff, float((x.detach() - y.detach()).abs().max()))
    if diff != diff:
        return float("inf")
    return diff / top if top > 0 else diff


def _custom_nodes(torch, outputs: list) -> list:
    """The custom Functions' nodes in the backward graph of ``outputs`` (bounded walk)."""
    found, seen, stack = [], set(), [o.grad_fn for o in outputs if o.grad_fn is not None]
    while stack and len(seen) < MAX_NODES:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, torch.autograd.function.BackwardCFunction):
            found.append(node)
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return found


def _edge_meta(node, nr: int):
    """``(shape, dtype)`` the gradient flowing into ``node``'s input ``nr`` must have."""
    try:
        if type(node).__name__ == "AccumulateGrad":
            return tuple(node.variable.shape), node.variable.dtype
        meta = node._input_metadata[nr]
        return tuple(meta.shape), meta.dtype
    except Exception:  # private metadata not available in this PyTorch: skip the comparison
        return None, None


def _audit(torch, node, grad_outputs) -> list[str]:
    """What a custom Function's backward returns, as it returns it, against its inputs."""
    cls = node._forward_cls.__name__
    try:
        raw = node.apply(*grad_outputs)
    except Exception:  # called outside the engine it may need what the engine prepares
        return []
    raw = raw if isinstance(raw, tuple) else (raw,)
    positions = [i for i, need in enumerate(node.needs_input_grad) if need]
    edges = [e for e in node.next_functions if e[0] is not None]
    if len(positions) != len(edges):
        return []
    problems = []
    for i, (edge, nr) in zip(positions, edges, strict=True):
        g = raw[i] if i < len(raw) else None
        if g is None:
            continue
        if not isinstance(g, torch.Tensor):
            problems.append(f"{cls}.backward returns a {type(g).__name__} for input {i}")
            continue
        shape, dtype = _edge_meta(edge, nr)
        if shape is not None and tuple(g.shape) != shape:
            note = ""
            try:
                if torch.broadcast_shapes(shape, tuple(g.shape)) == tuple(g.shape):
                    note = (" (autograd sums it down to the input's shape silently: a "
                            "missing sum over broadcast dimensions)")
            except RuntimeError:
                pass
            problems.append(f"{cls}.backward returns a gradient of shape {tuple(g.shape)} "
                            f"for input {i} of shape {shape}{note}")
        if dtype is not None and g.dtype != dtype:
            problems.append(f"{cls}.backward returns {g.dtype} for input {i} of dtype "
                            f"{dtype} (autograd casts it back silently)")
        if g.is_floating_point() and g.numel() and not bool(torch.isfinite(g).all()):
            problems.append(f"{cls}.backward returns non-finite values for input {i}")
    return problems
