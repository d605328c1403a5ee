"""The valid-size rules of the presets, stated and proved as obligations of the proof engine.

Each entry states a preset's rule on one axis (the set of valid sizes, written out here) and
:func:`stated_obligations` turns it into an obligation of family ``unet_rules``: Z3 proves the
network's validity equal to the stated set for every ``n >= 1``. A changed formula or preset
changes the network's validity and the stated rule is refuted, with its least counterexample.
``nnbridge prove`` lists them beside the layer obligations.
"""

from __future__ import annotations

from .rule import Rule, rule_obligation

__all__ = ["STATED", "stated_obligations"]

#: (preset, parameters, axis, the stated rule): sizes ``n >= threshold`` with ``n % period``
#: in ``residues``, and the ``exceptions`` below.
STATED = (
    ("ronneberger", {}, 0, Rule("H", threshold=188, period=16, residues=(12,))),
    ("monai", {}, 0, Rule("H", threshold=1, period=16, residues=(0,))),
    ("smp", {}, 0, Rule("H", threshold=1, period=32, residues=(0,))),
    ("torchlean-unet2", {}, 0, Rule("H", threshold=1, period=2, residues=(0,))),
    ("torchlean-unet2", {"semantics": "lean-2026-07"}, 0,
     Rule("H", threshold=1, period=2, residues=(0,))),
    ("torchlean-unet2", {"semantics": "torch"}, 0,
     Rule("H", threshold=1, period=2, residues=(0,))),
)


def stated_obligations() -> list:
    """One obligation per stated rule (``rule.<preset>[.<params>].<axis>``)."""
    from .presets import build_preset

    found = []
    for preset, params, axis, rule in STATED:
        desc = build_preset(preset, {k: str(v) for k, v in params.items()})
        ob = rule_obligation(desc, axis, rule, full=False)
        suffix = "".join(f".{k}={v}" for k, v in params.items())
        ob.name = f"rule.{preset}{suffix}.{desc.axis_names[axis]}"
        ob.statement = ob.statement.replace(f"For all n >= 1: {desc.name}",
                                            f"For all n >= 1: the {preset} preset"
                                            + (f" ({suffix[1:]})" if suffix else ""))
        found.append(ob)
    return found
