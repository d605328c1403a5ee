"""Registry entries generated from the op records of :mod:`nnbridge.spec.ops`.

For every op and every spatial rank it takes (``conv2d``, ``max_pool3d``; ``linear`` has
none), one entry per operand alone (``conv2d.x``, ``conv2d.w``, ``conv2d.b``) and, for an op
with several operands, one for all of them jointly in TorchLean's order (``conv2d.wbx``,
``batch_norm2d.gbx``: TorchLean's theorem ``<jvp(delta), g> = <dK, deltaK> + <dB, deltaB> +
<dX, deltaX>``). For an op linear in an operand the entry checks a linear map and its adjoint;
otherwise it checks the linearisation (JVP as ``A``, VJP as ``A^T``) at the sampled point.

Every trial draws a fresh geometry with the record's sampler (sizes inside the proved
domains; in exact mode, a configuration whose arithmetic is exact) and fresh operands, drawn
as the record says (``unique`` for max pool, ``away_from_zero`` for ReLU).
"""

from __future__ import annotations

from nnbridge.spec.ops import Op, ops

from .registry import Case, Entry, register
from .sampling import Sampler

__all__ = ["entry_names", "op_entry"]


def _draw(s: Sampler, shape, how: str):
    if how == "unique":
        return s.unique(shape)
    if how == "away_from_zero":
        return s.away_from_zero(shape)
    return s.array(shape)


def _build(op: Op, rank: int, wrt: tuple[str, ...]):
    def build(s: Sampler) -> Case:
        geometry = op.sample(lambda options: list(options)[s.rng.integers(len(options))], rank,
                             s.exact)
        values = {n: _draw(s, geometry.shapes[n], op.draws.get(n, "normal"))
                  for n in op.operands}
        static = dict(geometry.static)
        picked = [op.order.index(n) for n in wrt]

        def forward(*primal):
            return op.call({**values, **dict(zip(wrt, primal, strict=True))}, **static)

        def jvp(*tangents):
            return op.call_jvp(values, dict(zip(wrt, tangents, strict=True)), **static)

        def vjp(grad_y):
            grads = op.call_vjp(values, grad_y, **static)
            return tuple(grads[i] for i in picked)

        return Case(tuple(values[n] for n in wrt), jvp=jvp, vjp=vjp, forward=forward)

    return build


def entry_names(op: Op) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(entry name, rank, operands checked)`` for every entry the record generates."""
    out = []
    for rank in op.ranks:
        base = f"{op.name}{rank}d" if rank else op.name
        if len(op.operands) == 1:
            out.append((base, rank, op.operands))
            continue
        out += [(f"{base}.{n}", rank, (n,)) for n in op.order]
        out.append((f"{base}.{op.joint_name}", rank, op.order))
    return out


def op_entry(op: Op, rank: int, wrt: tuple[str, ...], name: str | None = None) -> Entry:
    """The entry checking ``op`` at spatial ``rank`` in the operands ``wrt`` (not registered)."""
    name = name or f"{op.name}{rank}d.{''.join(n[0] for n in wrt)}"
    return Entry(name, _build(op, rank, wrt), exact=op.exact,
                 doc=f"{op.name} ({op.doc}) in {', '.join(wrt)}, rank {rank}")


for _op in ops():
    for _name, _rank, _wrt in entry_names(_op):
        register(op_entry(_op, _rank, _wrt, _name))
