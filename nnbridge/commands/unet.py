"""``nnbridge unet check`` / ``nnbridge unet rule``: will these sizes fit this UNet?

Exit codes: 0 valid, 1 invalid, 2 bad input (sizes, files, parameters). Z3 is imported only
to prove the rules; SymPy only for ``unet rule``'s closed forms.
"""

from __future__ import annotations

import argparse
import json
import sys

from nnbridge.commands import UsageParser, add_command
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["register", "run_check", "run_rule"]


def _description(args, default_output: str = "same"):
    """The network the arguments name: a preset, a description file or a model."""
    from nnbridge.unet.presets import build_preset, parse_params

    params = parse_params(args.param)
    given = [flag for flag, value in (("--preset", args.preset), ("--config", args.config),
                                      ("--model", args.model)) if value is not None]
    if len(given) > 1:
        raise UsageError(Rule.CLI_USAGE, detail=f"give one of --preset, --config, --model, "
                                                f"not {' and '.join(given)}")
    if args.kwargs is not None and args.model is None:
        raise UsageError(Rule.CLI_USAGE, detail="--kwargs passes arguments to --model's "
                                                "factory")
    if args.spatial_dims is not None and args.model is None:
        raise UsageError(Rule.CLI_USAGE, detail="--spatial-dims is for --model; a "
                                                "description states spatial_dims itself")
    if params and args.preset is None:
        raise UsageError(Rule.CLI_USAGE, detail="--param sets a preset's parameters; edit "
                                                "the config file instead")
    if args.model is not None:
        return _model(args, default_output)
    if args.config is not None:
        from nnbridge.unet.description import load

        desc = load(args.config)
    elif args.preset is None:
        raise UsageError(Rule.CLI_USAGE, detail="name a network: --preset NAME "
                                                "(torchlean-unet2, ronneberger, monai, smp), "
                                                "--config FILE or --model PATH.py:FACTORY")
    else:
        desc = build_preset(args.preset, params)
    return _with_options(desc, args)


def _with_options(desc, args):
    """A description with ``--output``, ``--mode`` and ``--batch`` applied."""
    import dataclasses

    from nnbridge.unet.description import UNetDescription

    changes = {}
    if args.output is not None:
        changes["output"] = args.output
    if args.mode == "train":
        changes["training_batch"] = args.batch if args.batch is not None else 1
    elif args.batch is not None:
        raise UsageError(Rule.CLI_USAGE, detail="--batch is the batch size in training: "
                                                "give --mode train")
    if not changes:
        return desc
    if not isinstance(desc, UNetDescription):
        raise UsageError(Rule.CLI_USAGE, detail="--output, --mode and --batch apply to "
                                                "descriptions and models, not to TorchLean's "
                                                "UNet2")
    return dataclasses.replace(desc, **changes)


def _model(args, default_output: str):
    from nnbridge.graph.load import infer_spatial_dims, load_model, parse_kwargs
    from nnbridge.graph.trace_torch import from_torch

    module = load_model(args.model, parse_kwargs(args.kwargs))
    dims = args.spatial_dims or infer_spatial_dims(module)
    if args.batch is not None and args.mode != "train":
        raise UsageError(Rule.CLI_USAGE, detail="--batch is the batch size in training: "
                                                "give --mode train")
    name = args.model.rpartition(":")[2]
    return from_torch(module, spatial_dims=dims, mode=args.mode or "eval",
                      batch=args.batch or 1, output=args.output or default_output, name=name)


def _print_json(payload) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _values(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def run_check(args) -> int:
    from nnbridge.unet.explain import check

    desc = _description(args, "same")
    result = check(desc, args.shape)
    if args.json:
        _print_json(result.as_dict())
        return 0 if result.valid else 1
    from rich.table import Table

    from nnbridge.report import console, verdict_style

    out = console()
    for a in result.axes:
        chain = " -> ".join(f"{s} {v}" if s != "input" else str(v) for s, v in a.trace.stages
                            if v is not None)
        out.print(f"[bold]{a.axis}[/] = {a.size}: {chain}")
    table = Table(title=f"obligations ({result.network})", show_lines=False)
    for col in ("axis", "obligation", "values", "verdict"):
        table.add_column(col, overflow="fold")
    for a in result.axes:
        runs = [o for o in a.trace.obligations if o.kind == "runs"]
        for o in a.trace.obligations:
            if o.kind == "runs" and o.holds:
                continue
            word = "holds" if o.holds else ("not reached" if not o.reached else "FAILS")
            table.add_row(a.axis, f"{o.name}: {o.statement}", _values(o.values),
                          f"[{verdict_style(bool(o.holds))}]{word}[/]")
        ran = sum(bool(o.holds) for o in runs)
        table.add_row(a.axis, "every layer runs", f"{ran}/{len(runs)} layers",
                      f"[{verdict_style(ran == len(runs))}]"
                      f"{'holds' if ran == len(runs) else 'FAILS'}[/]")
    held = [o for o in result.joint if o.holds]
    for o in result.joint:
        if not o.holds:
            table.add_row("all", f"{o.name}: {o.statement}", _values(o.values),
                          f"[{verdict_style(False)}]FAILS[/]")
    if held:
        table.add_row("all", "every norm sees more than one value (product over the axes)",
                      f"{len(held)}/{len(result.joint)} obligations",
                      f"[{verdict_style(len(held) == len(result.joint))}]"
                      f"{'holds' if len(held) == len(result.joint) else 'FAILS'}[/]")
    out.print(table)
    for a in result.axes:
        proof = "proved for all n" if a.rule.proved else f"proof {a.rule.status}"
        out.print(f"rule {a.axis} ({proof}, {a.rule.seconds:.3f}s): {a.rule.words()}")
    style = verdict_style(result.valid)
    out.print(f"[{style}]{'VALID' if result.valid else 'INVALID'}[/]: "
              + result.message().replace("[", "\\["))
    return 0 if result.valid else 1


def run_rule(args) -> int:
    from nnbridge.unet.explain import check_work
    from nnbridge.unet.rule import rule_for

    desc = _description(args, "same")
    check_work(desc)
    rules = [rule_for(desc, axis) for axis in range(desc.spatial_dims)]
    closed = {}
    if not args.no_closed_form:
        from nnbridge.unet.closed import closed_forms

        for axis, r in enumerate(rules):
            closed[r.axis] = [c.as_dict() for c in closed_forms(desc, axis, r.runs_from)]
    proved = all(r.proved for r in rules)
    if args.json:
        _print_json({"network": getattr(desc, "name", "custom"), "proved": proved,
                     "axes": [dict(r.as_dict(), closed_forms=closed.get(r.axis, []))
                              for r in rules]})
        return 0 if proved else 1
    from nnbridge.report import console, verdict_style

    out = console()
    out.print(f"[bold]{getattr(desc, 'name', 'custom')}[/]: valid sizes per axis")
    for r in rules:
        style = verdict_style(r.proved)
        cex = f", counterexample n={r.counterexample}" if r.counterexample is not None else ""
        out.print(f"  {r.axis}: [bold]{r.words()}[/]  "
                  f"(threshold {r.threshold}, period {r.period}, residues {list(r.residues)}, "
                  f"exceptions {list(r.exceptions)}; [{style}]{r.status}[/] by Z3 for all n >= 1"
                  f"{cex}, {r.seconds:.3f}s)")
        for layer, sizes in r.singles.items():
            out.print(f"      the norm after {layer} sees one element at {list(sizes)}: "
                      "invalid when every axis is there")
        for c in closed.get(r.axis, []):
            if c["proof"] == "skipped":
                out.print(f"      {c['stage']}(n): {c['closed']}")
                continue
            out.print(f"      {c['stage']}(n) = {c['closed']}  for n >= {c['from']} "
                      f"([{verdict_style(c['proof'] == 'proved')}]{c['proof']}[/] by Z3)")
    return 0 if proved else 1


def _positive(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 2**31:
        raise argparse.ArgumentTypeError(f"expected an integer in 1..2**31, got {text!r}")
    return int(text)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", help="torchlean-unet2, ronneberger, monai or smp")
    p.add_argument("--config", metavar="FILE", help="a UNet description (.toml or .json)")
    p.add_argument("--model", metavar="PATH.py:FACTORY",
                   help="a function returning an nn.Module (or package.module:Callable), "
                        "traced with torch.fx, never run")
    p.add_argument("--kwargs", metavar="JSON", help="keyword arguments for --model's factory")
    p.add_argument("--spatial-dims", type=int, choices=(1, 2, 3),
                   help="the model's spatial axes (default: from its first conv)")
    p.add_argument("--output", choices=("same", "any"),
                   help="same: the output must have the input's size (default for a model); "
                        "any: any size (valid convolutions)")
    p.add_argument("--mode", choices=("eval", "train"),
                   help="train: norms take batch statistics (with --batch 1 a batch norm "
                        "needs more than one spatial element)")
    p.add_argument("--batch", type=_positive, help="the batch size in training (default 1)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE",
                   help="a preset parameter, repeatable (e.g. strides=2,2,2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(subparsers: argparse._SubParsersAction) -> None:
    unet = add_command(subparsers, "unet",
                       help="check input sizes against a UNet, with a proved rule")
    sub = unet.add_subparsers(dest="unet_command", metavar="SUBCOMMAND", required=True,
                              parser_class=UsageParser)
    check = sub.add_parser("check", help="does SHAPE (e.g. 572x572) fit the network?",
                           description="Exit 0 valid, 1 invalid, 2 bad input.")
    check.add_argument("shape", help="sizes per spatial axis, e.g. 572x572 or 64x64x32")
    _common(check)
    check.set_defaults(func=run_check)
    rule = sub.add_parser("rule", help="the proved rule for the valid sizes, per axis")
    _common(rule)
    rule.add_argument("--no-closed-form", action="store_true",
                      help="skip SymPy's closed forms of the size chain")
    rule.set_defaults(func=run_rule)


def verify_presets() -> bool:
    """Derive and prove every preset's rule (default parameters); print one line each."""
    from nnbridge.report import console, verdict_style
    from nnbridge.unet.presets import PRESETS, build_preset
    from nnbridge.unet.rule import rule_for

    out = console()
    ok = True
    for name in PRESETS:
        desc = build_preset(name)
        rules = [rule_for(desc, axis) for axis in range(desc.spatial_dims)]
        passed = all(r.proved for r in rules)
        ok &= passed
        out.print(f"{name}: " + "; ".join(f"{r.axis}: {r.words()}" for r in rules)
                  + f" [{verdict_style(passed)}]{'proved' if passed else 'NOT proved'}[/]")
    return ok
