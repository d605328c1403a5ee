"""UNet size checking: descriptions, presets, obligations and the proved valid-size rule.

>>> from nnbridge.unet import check, require_valid
>>> check("ronneberger", "572x572").valid
True
>>> require_valid("ronneberger", (572, 572))
(388, 388)
"""

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
