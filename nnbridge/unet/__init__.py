"""UNet size checking: descriptions, presets, obligations and the proved valid-size rule.

>>> from nnbridge.unet import check, require_valid
>>> check("ronneberger", "572x572").valid
True
>>> require_valid("ronneberger", (572, 572))
(388, 388)

The names below are imported from their modules on first use, so that importing one module
of this package (``nnbridge.unet.presets`` for ``nnbridge unet check``) loads only what it
needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .description import (
        Conv,
        ConvTranspose,
        Level,
        Pool,
        Resize,
        UNetDescription,
        Upsample,
        from_dict,
        load,
    )
    from .explain import CheckResult, check, parse_shape, require_valid
    from .obligations import Obligation, Trace, trace
    from .presets import PRESETS, build_preset
    from .rule import Rule, derive_rule, prove_rule, rule_for
    from .torchlean import TorchLeanUNet2

#: Each public name and the module (of this package) that defines it.
_HOMES = {
    **dict.fromkeys(("Conv", "ConvTranspose", "Level", "Pool", "Resize", "UNetDescription",
                     "Upsample", "from_dict", "load"), "description"),
    **dict.fromkeys(("CheckResult", "check", "parse_shape", "require_valid"), "explain"),
    **dict.fromkeys(("Obligation", "Trace", "trace"), "obligations"),
    **dict.fromkeys(("PRESETS", "build_preset"), "presets"),
    **dict.fromkeys(("Rule", "derive_rule", "prove_rule", "rule_for"), "rule"),
    "TorchLeanUNet2": "torchlean",
}

__all__ = [
    "PRESETS",
    "CheckResult",
    "Conv",
    "ConvTranspose",
    "Level",
    "Obligation",
    "Pool",
    "Resize",
    "Rule",
    "TorchLeanUNet2",
    "Trace",
    "UNetDescription",
    "Upsample",
    "build_preset",
    "check",
    "derive_rule",
    "from_dict",
    "load",
    "parse_shape",
    "prove_rule",
    "require_valid",
    "rule_for",
    "trace",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
