"""Checking a size: verdicts per axis, the first broken obligation, the nearest valid sizes.

:func:`check` runs every obligation on the given shape, attaches each axis' proved rule and
the nearest valid sizes below and above (with the cropping or padding they need);
:func:`require_valid` raises a :class:`ShapeError` with the same explanation the command
line prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nnbridge.spec.errors import ShapeError
from nnbridge.spec.formulas import MAX_SIZE

from .obligations import Obligation, Trace, joint_obligations, trace
from .rule import Rule, rule_for

__all__ = ["AxisReport", "CheckResult", "check", "parse_shape", "require_valid", "resolve"]


@dataclass
class AxisReport:
    axis: str
    size: int
    trace: Trace
    rule: Rule
    nearest_below: int | None
    nearest_above: int | None

    @property
    def valid(self) -> bool:
        return bool(self.trace.valid)

    def as_dict(self) -> dict:
        below, above = self.nearest_below, self.nearest_above
        pad = None if above is None else above - self.size
        return {
            "axis": self.axis, "size": self.size, "valid": self.valid,
            "rule": self.rule.as_dict(),
            "nearest_below": below, "nearest_above": above,
            "crop_to_below": None if below is None else self.size - below,
            "pad_to_above": None if pad is None else {"total": pad, "before": pad // 2,
                                                      "after": pad - pad // 2},
            "output": self.trace.output,
            "chain": [{"stage": s, "size": v} for s, v in self.trace.stages],
            "obligations": [o.as_dict() for o in self.trace.obligations],
        }


@dataclass
class CheckResult:
    network: str
    shape: tuple
    axes: list
    joint: list = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(a.valid for a in self.axes) and all(o.holds for o in self.joint)

    def first_failure(self) -> tuple[str, Obligation] | None:
        for a in self.axes:
            if a.trace.first_failure is not None:
                return a.axis, a.trace.first_failure
        for o in self.joint:
            if not o.holds:
                return "all axes", o
        return None

    def as_dict(self) -> dict:
        return {"valid": self.valid, "network": self.network, "shape": list(self.shape),
                "axes": [a.as_dict() for a in self.axes],
                "joint_obligations": [o.as_dict() for o in self.joint],
                "message": self.message()}

    def message(self) -> str:
        """One paragraph: the verdict, the first broken obligation, the nearest valid sizes
        and the proved rule of every failing axis."""
        shape = "x".join(map(str, self.shape))
        if self.valid:
            out = "x".join(str(a.trace.output) for a in self.axes)
            return f"{shape} fits {self.network} (output {out})"
        lines = [f"{shape} does not fit {self.network}"]
        failure = self.first_failure()
        if failure is not None:
            axis, ob = failure
            values = ", ".join(f"{k}={v}" for k, v in ob.values.items())
            lines.append(f"first broken obligation on {axis}: {ob.name}: {ob.statement}"
                         + (f" ({values})" if values else ""))
        for a in self.axes:
            joint_bad = any(not o.holds for o in self.joint)
            if a.valid and not joint_bad:
                continue
            near = []
            if a.nearest_below is not None and a.nearest_below != a.size:
                near.append(f"{a.nearest_below} (crop {a.size - a.nearest_below})")
            if a.nearest_above is not None and a.nearest_above != a.size:
                near.append(f"{a.nearest_above} (pad {a.nearest_above - a.size})")
            proof = "proved for all sizes" if a.rule.proved else f"proof {a.rule.status}"
            if not near:
                near.append(f"keep {a.size}" if a.nearest_below == a.size else "none")
            lines.append(f"{a.axis}={a.size}: nearest valid " + " or ".join(near)
                         + f"; rule ({proof}): {a.rule.words()}")
        return "\n".join(lines)


def parse_shape(shape, spatial_dims: int) -> tuple[int, ...]:
    """``"572x572"``, ``(572, 572)`` or ``572`` -> a tuple of sizes, each in 1..2**48."""
    if isinstance(shape, str):
        parts = shape.strip().lower().split("x")
        values = []
        for part in parts:
            text = part.strip()
            if not re.fullmatch(r"[+-]?[0-9]+", text):
                raise ShapeError(f"size {part!r} in {shape!r} is not an integer; write sizes "
                                 "as 572x572", rule="input_size")
            values.append(int(text))
    elif isinstance(shape, int) and not isinstance(shape, bool):
        values = [shape]
    elif isinstance(shape, (tuple, list)):
        values = list(shape)
    else:
        raise ShapeError(f"a shape is a string like 572x572 or a tuple of ints, got {shape!r}",
                         rule="input_size")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ShapeError(f"sizes must be integers, got {v!r}", rule="input_size")
        if v < 1:
            raise ShapeError(f"sizes must be at least 1, got {v}", rule="input_size")
        if v > MAX_SIZE:
            raise ShapeError(f"size {v} exceeds the largest supported size 2**48",
                             rule="input_size")
    if len(values) != spatial_dims:
        raise ShapeError(f"the network has {spatial_dims} spatial axes, got {len(values)} "
                         f"size(s) {values}", rule="input_size")
    return tuple(values)


def resolve(description):
    """A description object as is; a preset name built with its defaults."""
    if isinstance(description, str):
        from .presets import build_preset

        return build_preset(description)
    if not hasattr(description, "axis_names"):
        raise ShapeError(f"not a UNet description: {description!r}", rule="description_value")
    return description


def _nearest(rules, sizes, valid, avoid):
    below = [s if ok else r.at_or_below(s) for r, s, ok in zip(rules, sizes, valid, strict=True)]
    above = [s if ok else r.at_or_above(s) for r, s, ok in zip(rules, sizes, valid, strict=True)]
    if avoid:
        # norms on one element: every axis at a single-element size together is invalid; move the
        # axes that must move anyway (or, if none must, each axis: moving one suffices)
        movable = [i for i, ok in enumerate(valid) if not ok and sizes[i] not in avoid[i]]
        movable = movable or list(range(len(sizes)))
        for proposal, pick in ((below, "below"), (above, "above")):
            if all(p is not None and p in av for p, av in zip(proposal, avoid, strict=True)):
                for i in movable:
                    r, s = rules[i], sizes[i]
                    proposal[i] = (r.at_or_below(s, avoid[i]) if pick == "below"
                                   else r.at_or_above(s, avoid[i]))
    return below, above


def check(description, shape) -> CheckResult:
    """Every obligation on ``shape``, with each axis' proved rule and nearest valid sizes."""
    desc = resolve(description)
    sizes = parse_shape(shape, desc.spatial_dims)
    traces = [trace(desc, axis, n) for axis, n in enumerate(sizes)]
    joint = joint_obligations(traces)
    rules = [rule_for(desc, axis) for axis in range(desc.spatial_dims)]
    singles = [set().union(*r.singles.values()) if r.singles else set() for r in rules]
    avoid = singles if all(singles) else None
    valid = [bool(t.valid) and all(o.holds for o in joint) for t in traces]
    below, above = _nearest(rules, sizes, valid, avoid)
    axes = [AxisReport(t.axis, n, t, r, b, a)
            for t, n, r, b, a in zip(traces, sizes, rules, below, above, strict=True)]
    return CheckResult(getattr(desc, "name", "custom"), sizes, axes, joint)


def require_valid(description, shape) -> tuple[int, ...]:
    """Return the output shape if ``shape`` fits the network, else raise :class:`ShapeError`.

    ``description`` is a :class:`~nnbridge.unet.UNetDescription`, a TorchLean UNet2 or a
    preset name; the error's message is the one ``nnbridge unet check`` prints.
    """
    result = check(description, shape)
    if not result.valid:
        raise ShapeError(result.message(), rule="unet_size")
    return tuple(a.trace.output for a in result.axes)
