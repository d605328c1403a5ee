"""``nnbridge torchlean export|check|run``: TorchLean's ``torchlean.ir.v1`` graphs.

* ``export PATH.py:FACTORY --example-shape 1,3,32,32 -o model.ir.json``: a PyTorch module
  to TorchLean's IR and its weight store (``model.weights.json``);
* ``check model.ir.json``: every rule of TorchLean's importer, then the valid input sizes
  of the graph, derived and proved for all sizes (the rule of ``unet rule``);
* ``run model.ir.json --weights W.json --input x.npy [--torch PATH.py:FACTORY]``: the graph
  run with the NumPy spec, and compared with PyTorch in float32 under a derived bound.

Exit codes: 0 ok, 1 a check failed (the importer rejects the graph, a rule is not proved,
the spec and PyTorch disagree), 2 bad input (files, options, an op the IR cannot express).
"""

from __future__ import annotations

import argparse
import json
import sys

from nnbridge.commands import UsageParser, add_command
from nnbridge.spec.errors import Rule, UsageError

__all__ = ["register", "run_check", "run_export", "run_run"]

#: The largest ``--input`` array file read.
MAX_INPUT_BYTES = 2**30


def _print_json(payload) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")


def _shape(text: str) -> tuple:
    from nnbridge.commands import integer_option

    parts = text.split(",")
    if not parts or len(parts) > 8:
        raise UsageError(Rule.INPUT_SIZE, detail=f"--example-shape: write sizes as 1,3,32,32, "
                                                 f"got {text!r}", fix="--example-shape 1,3,32,32")
    return tuple(integer_option("--example-shape", p, minimum=1, maximum=2**31) for p in parts)


def _module(spec: str, kwargs: str | None):
    from nnbridge.graph.load import load_model, parse_kwargs

    return load_model(spec, parse_kwargs(kwargs))


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------
def run_export(args) -> int:
    from nnbridge.torchlean.api import write_ir

    shape = _shape(args.example_shape)
    module = _module(args.model, args.kwargs)
    written = write_ir(module, args.output, shape, weights_path=args.weights,
                       batch=not args.no_batch)
    if args.json:
        _print_json(written.as_dict())
        return 0
    info = written.as_dict()
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(info["kinds"].items(), key=lambda kv: -kv[1]))
    print(f"{info['graph']}: torchlean.ir.v1, {info['nodes']} nodes ({kinds}); input "
          f"{info['input_shape']} -> output {info['output_shape']}")
    print(f"{info['weights']}: the weight store (nnbridge.torchlean.weights.v1)")
    return 0


# --------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------
def _rules(ir, no_rule: bool):
    """``(rules, note)``: the proved rule per spatial axis, or why there is none."""
    if no_rule:
        return [], "not derived (--no-rule)"
    from nnbridge.spec.errors import NNBridgeError
    from nnbridge.torchlean.to_graph import to_graph
    from nnbridge.unet.rule import rule_for

    try:
        graph = to_graph(ir)
        return [rule_for(graph, axis) for axis in range(graph.spatial_dims)], ""
    except NNBridgeError as exc:  # no graph form, or a rule beyond the checker's limits
        return [], f"no rule: {exc.one_line()}"


def run_check(args) -> int:
    from nnbridge.torchlean.ir import IRError, load_ir

    try:
        ir = load_ir(args.graph)
    except IRError as exc:
        if exc.check == "limit":
            raise
        if args.json:
            _print_json({"graph": args.graph, "valid": False, "rule": exc.rule.value,
                         "check": exc.check, "node": exc.node, "error": str(exc)})
        else:
            print(f"INVALID: {exc.one_line()}")
        return 1
    rules, note = _rules(ir, args.no_rule)
    proved = all(r.proved for r in rules)
    kinds: dict[str, int] = {}
    for n in ir.nodes:
        kinds[n.kind] = kinds.get(n.kind, 0) + 1
    if args.json:
        _print_json({"graph": args.graph, "valid": True, "nodes": len(ir.nodes),
                     "kinds": kinds, "input_shape": list(ir.input_shape),
                     "output_shape": list(ir.output_shape),
                     "valid_sizes": {r.axis: ("any" if _any(r) else r.words()) for r in rules},
                     "rules": [r.as_dict() for r in rules], "note": note or None})
        return 0 if proved else 1
    from nnbridge.report import console, verdict_style

    out = console()
    shown = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    out.print(f"[{verdict_style(True)}]VALID[/] torchlean.ir.v1: {args.graph}: {len(ir.nodes)} "
              f"nodes ({shown}); input {list(ir.input_shape)} -> output "
              f"{list(ir.output_shape)}", soft_wrap=True)
    if note:
        out.print(note, soft_wrap=True)
    for r in rules:
        words = "any" if _any(r) else r.words()
        status = "proved for all n" if r.proved else f"proof {r.status}"
        out.print(f"  valid {r.axis}: [bold]{words}[/] ([{verdict_style(r.proved)}]{status}"
                  f"[/] by Z3, {r.seconds:.3f}s)", soft_wrap=True)
    return 0 if proved else 1


def _any(rule) -> bool:
    return rule.period == 1 and rule.residues == (0,) and rule.threshold <= 1 \
        and not rule.exceptions


# --------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------
def _load_input(path: str):
    import os

    import numpy as np

    try:
        size = os.stat(path).st_size
        if size > MAX_INPUT_BYTES:
            raise UsageError(Rule.WORK_LIMIT, name=f"the size of {path!r}", value=size,
                             limit=MAX_INPUT_BYTES, detail="a larger input is refused")
        x = np.load(path, allow_pickle=False)
    except UsageError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise UsageError(Rule.CONFIG_FILE, path=repr(path), detail=f"not a .npy array: "
                                                                    f"{detail}") from None
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise UsageError(Rule.CONFIG_FILE, path=repr(path),
                         detail=f"a float32 or float64 .npy array is needed, got "
                                f"{getattr(x, 'dtype', type(x).__name__)}")
    if not np.isfinite(x).all():
        raise UsageError(Rule.CONFIG_FILE, path=repr(path), detail="NaN or infinity in the "
                                                                   "input")
    return x


def run_run(args) -> int:
    import numpy as np

    from nnbridge.torchlean.ir import load_ir
    from nnbridge.torchlean.run import compare_torch, run_ir
    from nnbridge.torchlean.weights import read_weights

    if args.output is not None:
        from nnbridge.report import check_output

        check_output(args.output)
    ir = load_ir(args.graph)
    weights = read_weights(args.weights, ir)
    x = _load_input(args.input)
    module = _module(args.torch, args.kwargs) if args.torch is not None else None
    if args.kwargs is not None and args.torch is None:
        raise UsageError(Rule.CLI_USAGE, detail="--kwargs passes arguments to --torch's "
                                                "factory")
    y = run_ir(ir, weights, x)
    comparison = compare_torch(ir, weights, x, module, batch=not args.no_batch) \
        if module is not None else None
    if args.output is not None:
        from nnbridge.report import write_output

        try:
            with open(args.output, "wb") as handle:
                np.save(handle, y)
        except OSError as exc:
            write_output(args.output, "")  # reports the path and the reason
            raise UsageError(Rule.OUTPUT_PATH, path=repr(args.output),
                             detail=exc.strerror or type(exc).__name__) from None
    agree = comparison is None or comparison.agree
    if args.json:
        payload = {"graph": args.graph, "output_shape": list(y.shape),
                   "output": y.tolist() if y.size <= 4096 else None,
                   "min": float(y.min(initial=np.inf)), "max": float(y.max(initial=-np.inf)),
                   "torch": comparison.as_dict() if comparison else None}
        _print_json(payload)
        return 0 if agree else 1
    with np.printoptions(precision=6, threshold=20, edgeitems=4):
        print(f"{args.graph}: output {list(y.shape)} = {y}")
    if comparison is not None:
        word = "AGREES" if comparison.agree else "DISAGREES"
        print(f"{word} with PyTorch (float32): max |spec - torch| = "
              f"{comparison.max_abs_diff:.3g}, bound there {comparison.bound_at_max:.3g} "
              f"(derived float32 rounding through {len(ir.nodes)} nodes; worst ratio "
              f"{comparison.worst_ratio:.3g} of 2 x bound)")
    return 0 if agree else 1


# --------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    top = add_command(subparsers, "torchlean",
                      help="TorchLean's IR graphs: export a PyTorch module, check a graph "
                           "as TorchLean's importer does, run it with the NumPy spec")
    sub = top.add_subparsers(dest="torchlean_command", metavar="SUBCOMMAND", required=True,
                             parser_class=UsageParser)
    export = sub.add_parser("export", help="a PyTorch module to torchlean.ir.v1 and its "
                                           "weight store",
                            description="Exit 0 written, 2 bad input or an op the IR "
                                        "cannot express (named).")
    export.add_argument("model", metavar="PATH.py:FACTORY",
                        help="a function returning the nn.Module (or package.module:Callable)")
    export.add_argument("--example-shape", required=True, metavar="1,3,32,32",
                        help="the example input, batch first (1: the IR has no batch axis)")
    export.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the graph file, e.g. model.ir.json")
    export.add_argument("--weights", metavar="FILE",
                        help="the weight store (default: <name>.weights.json beside it)")
    export.add_argument("--kwargs", metavar="JSON", help="keyword arguments for the factory")
    export.add_argument("--no-batch", action="store_true",
                        help="the example shape is the IR's input shape itself (no batch)")
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(func=run_export)

    check = sub.add_parser("check", help="validate a graph as TorchLean's importer does; "
                                         "print its valid input sizes (proved)",
                           description="Exit 0 valid, 1 rejected or a rule not proved, "
                                       "2 bad input.")
    check.add_argument("graph", metavar="GRAPH.json")
    check.add_argument("--no-rule", action="store_true",
                       help="validate only; do not derive the valid input sizes")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=run_check)

    run = sub.add_parser("run", help="run a graph with the NumPy spec; compare with PyTorch",
                         description="Exit 0 ran (and agrees with --torch), 1 disagrees, "
                                     "2 bad input.")
    run.add_argument("graph", metavar="GRAPH.json")
    run.add_argument("--weights", required=True, metavar="FILE", help="the weight store")
    run.add_argument("--input", required=True, metavar="X.npy",
                     help="the input, of the graph's input shape (no batch axis)")
    run.add_argument("--torch", metavar="PATH.py:FACTORY",
                     help="compare with this PyTorch module in float32 (a derived bound)")
    run.add_argument("--kwargs", metavar="JSON", help="keyword arguments for --torch's factory")
    run.add_argument("--no-batch", action="store_true",
                     help="give the module the input as it is (no batch axis of 1 added)")
    run.add_argument("-o", "--output", metavar="Y.npy", help="save the output array")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.set_defaults(func=run_run)
