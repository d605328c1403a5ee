"""TorchLean's UNet2 as a checkable description: its eight ``h_*`` hypotheses, by name.

A network graph (:meth:`TorchLeanUNet2.graph`) whose conditions are the obligations of
:func:`nnbridge.spec.shapes.unet2_obligations` (``h_convH`` ... ``h_outW``), in Lean's
``Nat`` semantics by default or in PyTorch's; the size chain is
``in -> conv -> UNetDown -> conv -> UNetUp -> head`` from the same shape formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from nnbridge.spec.errors import Rule, ShapeError
from nnbridge.spec.formulas import check_semantics
from nnbridge.spec.shapes import UNET2_OBLIGATIONS, UNet2Config

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

    def graph(self):
        """The network graph: ``conv``, ``down`` (UNetDown, a max pool), ``conv_down``,
        ``up`` (UNetUp: the transposed conv of ``down``) and ``head``, each in this
        description's semantics, and the eight ``h_*`` hypotheses as conditions on them,
        by their Lean names (``lhs`` the layer's size, ``rhs`` the size it must keep)."""
        from nnbridge.graph.core import Graph, Node, dim_of

        c, sem = self.cfg, self.semantics

        def sliding(kernel, stride, padding):
            return dict(kernel=(kernel,) * 2, stride=(stride,) * 2, padding=(padding,) * 2,
                        dilation=(1, 1), semantics=sem)

        nodes = [Node("input", "input", where="input"),
                 Node("conv", "conv", ("input",),
                      sliding(c.conv_kernel, c.conv_stride, c.conv_padding), "conv"),
                 Node("down", "pool", ("input",),
                      {**sliding(c.pool_kernel, c.pool_stride, 0), "kind": "max"}, "down"),
                 Node("conv_down", "conv", ("down",),
                      sliding(c.conv_kernel, c.conv_stride, c.conv_padding), "conv_down"),
                 Node("up", "conv_transpose", ("down",),
                      {**sliding(c.up_kernel, c.up_stride, c.up_padding),
                       "output_padding": (0, 0)}, "up"),
                 Node("head", "conv", ("input",),
                      sliding(c.head_kernel, c.head_stride, c.head_padding), "head")]
        kept = {"h_conv": ("conv", "input"), "h_conv_down": ("conv_down", "down"),
                "h_up": ("up", "input"), "h_out": ("head", "input")}
        for axis, letter in enumerate(self.axis_names):
            for name, (_, statement, _) in UNET2_OBLIGATIONS.items():
                if not name.startswith("h_") or letter not in name[2:]:
                    continue
                base = name.replace(letter, "", 1) if name.endswith(letter) else \
                    name.replace(letter + "_", "_", 1)
                lhs, rhs = kept[base]
                nodes.append(Node(f"{name}", "require", (lhs,), {
                    "relation": "eq", "a": dim_of(lhs, 2 + axis), "b": dim_of(rhs, 2 + axis),
                    "statement": statement, "kind": self.semantics, "label": name,
                    "names": ("lhs", "rhs")}, name))
        return Graph(self.name, 2, tuple(nodes), output="head", output_mode="any")

    def summary(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self.cfg, f.name)}" for f in fields(self.cfg))
        return f"TorchLean UNet2Spec ({self.semantics} semantics): {shown}"
