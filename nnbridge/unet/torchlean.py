"""TorchLean's UNet2 as a checkable description: its eight ``h_*`` hypotheses, by name.

The obligations are exactly :func:`nnbridge.spec.shapes.unet2_obligations` (``h_convH`` ...
``h_outW``), in Lean's ``Nat`` semantics by default or in PyTorch's; the size chain is
``in -> conv -> UNetDown -> conv -> UNetUp -> head`` from the same shape formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from nnbridge.spec.arith import conditions, is_symbolic
from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.formulas import check_semantics
from nnbridge.spec.shapes import (
    UNET2_OBLIGATIONS,
    UNet2Config,
    conv_out,
    unet2_obligations,
    unet_down,
    unet_up,
)

from .obligations import Obligation, Trace

__all__ = ["TorchLeanUNet2"]


@dataclass(frozen=True)
class TorchLeanUNet2:
    """``UNet2Spec`` with a :class:`UNet2Config`: two axes ``H`` and ``W``."""

    cfg: UNet2Config = UNet2Config()
    semantics: str = "lean"
    name: str = "torchlean-unet2"

    def __post_init__(self):
        check_semantics(self.semantics)
        if not isinstance(self.cfg, UNet2Config):
            raise ShapeError(Rule.CONFIG_TYPE, op="TorchLeanUNet2", expected="a UNet2Config",
                             got=type(self.cfg).__name__)

    spatial_dims = 2
    axis_names = ("H", "W")
    output = "same"

    def period_hint(self, axis: int) -> int:
        c = self.cfg
        period = 1
        for stride in (c.conv_stride, c.pool_stride, c.conv_stride, c.head_stride):
            period *= max(stride, 1)
        return period

    def _stages(self, n):
        c, sem = self.cfg, self.semantics
        steps = (
            ("conv", lambda x: conv_out(x, c.conv_kernel, c.conv_stride, c.conv_padding,
                                        semantics=sem), "input"),
            ("down", lambda x: unet_down(c, x, semantics=sem), "input"),
            ("conv_down", lambda x: conv_out(x, c.conv_kernel, c.conv_stride, c.conv_padding,
                                             semantics=sem), "down"),
            ("up", lambda x: unet_up(c, x, semantics=sem), "input"),
            ("head", lambda x: conv_out(x, c.head_kernel, c.head_stride, c.head_padding,
                                        semantics=sem), "input"),
        )
        sizes = {"input": n}
        stages = [("input", n)]
        for name, fn, source in steps:
            try:
                with conditions():
                    value = fn(sizes[source]) if sizes[source] is not None else None
            except ShapeError:
                value = None
            sizes[name] = value
            stages.append((name, value))
        return stages, sizes

    def trace(self, axis: int, n) -> Trace:
        letter = self.axis_names[axis]
        names = [k for k, (ax, _, _) in UNET2_OBLIGATIONS.items() if ax == letter]
        verdicts = unet2_obligations(self.cfg, n, n, semantics=self.semantics)
        t = Trace(letter, n)
        if is_symbolic(n):
            t.stages = self._stages(n)[0]
            t.obligations = [Obligation(k, UNET2_OBLIGATIONS[k][1], verdicts[k], {}, "lean")
                             for k in names]
            return t
        t.stages, sizes = self._stages(n)
        lhs = {"h_conv": sizes["conv"], "h_conv_down": sizes["conv_down"],
               "h_up": sizes["up"], "h_out": sizes["head"]}
        rhs = {"h_conv": n, "h_conv_down": sizes["down"], "h_up": n, "h_out": n}
        for k in names:
            base = k.replace(letter, "")  # h_convH_down -> h_conv_down
            t.obligations.append(Obligation(k, UNET2_OBLIGATIONS[k][1], bool(verdicts[k]),
                                            {"lhs": lhs[base], "rhs": rhs[base]},
                                            self.semantics))
        return t

    def summary(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self.cfg, f.name)}" for f in fields(self.cfg))
        return f"TorchLean UNet2Spec ({self.semantics} semantics): {shown}"
