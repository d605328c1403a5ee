"""SymPy's closed form of a UNet's size chain, proved equal to the chain by Z3.

:func:`nnbridge.proofs.closed_form.derive` proposes the form (for sizes from which every
layer runs); :class:`nnbridge.proofs.engine.ClosedForm` has Z3 prove it for all such sizes.
SymPy and Z3 are imported here only, when a closed form is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from .obligations import as_graph, trace

__all__ = ["ClosedChain", "chain_targets", "closed_forms"]


@dataclass(frozen=True)
class ClosedChain:
    stage: str
    closed: str  # the SymPy expression, printed
    lower: int  # holds for every n >= lower
    status: str  # "proved", "refuted", "unknown", "error"

    def as_dict(self) -> dict:
        return {"stage": self.stage, "closed": self.closed, "from": self.lower,
                "proof": self.status}


def chain_targets(desc) -> tuple[str, ...]:
    """The stages worth a closed form: the bottom (the last stage at the least size) and
    the output (``UNetDown``, ``UNetUp`` for TorchLean's UNet2)."""
    from .torchlean import TorchLeanUNet2

    if isinstance(desc, TorchLeanUNet2):
        return ("down", "up")  # UNetDown and UNetUp, TorchLean's own names
    stages = [(name, size) for name, size in trace(desc, 0, 10**6).stages[1:]
              if size is not None]
    if not stages:
        return ()
    least = min(size for _, size in stages)
    bottom = [name for name, size in stages if size == least][-1]
    return tuple(dict.fromkeys((bottom, stages[-1][0])))


def _stage(desc, axis, stage):
    def chain(m):
        return dict(trace(desc, axis, m).stages)[stage]

    return chain


def closed_forms(desc, axis: int, lower: int = 1) -> list[ClosedChain]:
    """Closed forms of the target stages on one axis for ``n >= lower``, each proved by Z3."""
    import z3

    from nnbridge.proofs.closed_form import derive, fit
    from nnbridge.proofs.engine import ClosedForm, Obligation, check

    found = []
    graph = as_graph(desc)
    # a crop whose bounds are computed from sizes at run time has clamped indices, which
    # SymPy expands into nested piecewise forms it cannot simplify in useful time: the form
    # is fitted to the int values on each residue class instead (Z3 proves it all the same)
    sliced = graph is not None and any(node.op == "slice" for node in graph.nodes)
    for stage in chain_targets(desc):
        chain = _stage(desc, axis, stage)
        try:
            if sliced:
                derived = fit(chain, max(1, graph.period_hint(axis)), lower=lower)
            else:
                derived = derive(chain, lower=lower)
        except (ValueError, TypeError, ArithmeticError) as exc:  # SymPy's PrecisionExhausted
            found.append(ClosedChain(stage, f"no closed form recognised ({exc})", lower,
                                     "error"))
            continue
        n = z3.Int("n")

        def build(chain=chain, derived=derived, n=n):
            # the statement is the derived form itself: what `unet rule` prints
            return ClosedForm(n, [n >= lower], chain(n), derived.closed,
                              expect=derived.closed)

        verdict = check(Obligation(f"closed_{stage}", "unet", "closed form", build))
        found.append(ClosedChain(stage, str(derived.closed), lower, verdict.status))
    return found
