"""nnbridge's proved size rule against ``torch.export``'s guards, on real UNets.

For each network of ``examples/models/unets.py``, in one process (after the imports and one
warm-up of each side):

1. **nnbridge**: ``from_torch`` then ``rule_for`` on every axis, the rule cache cleared before
   each repeat (best of 3); the rules' words and proof status.
2. **torch.export**: ``torch.export.export(module.eval(), (example,), dynamic_shapes=...)``
   with ``Dim.DYNAMIC(min=1, max=1024)`` on every spatial axis, falling back to
   ``Dim.AUTO(min=1, max=1024)`` (which may specialise an axis) when the export refuses
   (best of 3, or 1 when an export takes over 20 s); its range constraints and guards.
3. **Sizes**: over ``1..128`` per axis (square; cubic ``1..48`` in 3-D), three sets: the
   sizes the exported program *admits* (its own input checks pass: range constraints,
   specialised sizes and guards, checked without running its graph), the *running truth*
   (``valid_sizes``: the module runs, and with ``output="same"`` keeps the size) and
   nnbridge's (``check(graph, shape).valid``). Where the export admits a size it is also
   run, so that "refused by a guard" and "admitted, then failed inside" stay apart.

Reported per network: both times and their ratio (export / nnbridge), the number of range
constraints and guards with their text (short), and the disagreements with the running truth:
"export admits but the model fails" and "export refuses but the model runs" (and the same
two for nnbridge). An export that fails is a result too: its error is recorded.

Writes benchmarks/results/model_rule.json and prints a table.

    python benchmarks/bench_model_rule.py [--models NAME ...] [--quick]

``--quick``: one repeat per timing and sizes up to 64 (3-D: 24).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNETS = ROOT / "examples" / "models" / "unets.py"
OUT = ROOT / "benchmarks" / "results" / "model_rule.json"

REPEATS = 3
SLOW_EXPORT_SECONDS = 20.0  # an export slower than this is timed once
DIM_MIN, DIM_MAX = 1, 1024
SWEEP = {2: 128, 3: 48}  # sizes 1..N per axis, by the number of spatial axes
QUICK_SWEEP = {2: 64, 3: 24}
GUARD_TEXT = 160  # characters of each guard kept in the report
GUARDS_SHOWN = 4

#: The size of the export's example input on every axis: a size the network runs on, 64
#: unless the network needs another (valid_unet's least input is 188; UNETR runs at 32 only).
EXAMPLE_SIZE = {"valid_unet": 188, "unetr": 32, "monai_unet_3d": 32}
DEFAULT_EXAMPLE_SIZE = 64


def load_models():
    """``examples/models/unets.py`` loaded by path: its ``MODELS`` table."""
    spec = importlib.util.spec_from_file_location("example_unets", UNETS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MODELS


def _short(exc: BaseException, limit: int = 300) -> str:
    """``"Type: first line"`` of an exception, at most ``limit`` characters."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- what the exported program says about one size ----------------------------------------------


@dataclass(frozen=True)
class ExportRun:
    """The exported program on one input: ``verdict`` is ``"refused"`` (its input checks
    reject the shape: a range constraint, a specialised size or a guard), ``"fails"`` (the
    checks pass and the graph raises) or ``"runs"``; ``detail`` is the refusal or error text,
    ``output`` the output's spatial sizes when it runs."""

    shape: tuple
    verdict: str
    detail: str | None = None
    output: tuple | None = None

    @property
    def admitted(self) -> bool:
        return self.verdict != "refused"


def input_checks(program, module, x) -> None:
    """Raise where the exported program's own input checks reject ``x``, without running its
    graph: the range constraints and specialised sizes (the program's input constraint check)
    and the guards (the ``_guards_fn`` the unlifted module calls before its graph)."""
    from torch.utils import _pytree as pytree

    flat_args_with_path, _ = pytree.tree_flatten_with_path(((x,), {}))
    program._check_input_constraints(flat_args_with_path)
    guards = getattr(module, "_guards_fn", None)
    if guards is not None:
        guards(x)


def export_verdict(program, module, x) -> ExportRun:
    """The exported program's verdict on ``x``: refused by its input checks, or admitted and
    then run (``module`` is ``program.module()``, built once)."""
    import torch

    shape = tuple(int(n) for n in x.shape[2:])
    try:
        input_checks(program, module, x)
    except Exception as exc:  # any rejection by the checks (an assertion, a modulo by zero)
        return ExportRun(shape, "refused", _short(exc))
    try:
        with torch.no_grad():
            out = module(x)
    except Exception as exc:  # admitted, then failed inside the graph
        return ExportRun(shape, "fails", _short(exc))
    if isinstance(out, (tuple, list)):
        out = out[0] if out else None
    output = tuple(int(n) for n in out.shape[2:]) if isinstance(out, torch.Tensor) else None
    return ExportRun(shape, "runs", output=output)


def export_sweep(program, sizes, spatial_dims: int, channels: int, *,
                 batch: int = 1) -> list[ExportRun]:
    """:func:`export_verdict` on ``zeros(batch, channels, n, ..., n)`` for each ``n``."""
    import torch

    module = program.module()
    return [export_verdict(program, module, torch.zeros(batch, channels, *(n,) * spatial_dims))
            for n in sizes]


def compare_sets(sizes, admitted, truth) -> dict:
    """Where a verdict disagrees with the running truth over ``sizes``:
    ``admits_but_fails = admitted - truth`` and ``refuses_but_runs = truth - admitted``
    (sorted lists), their counts and ``equal`` (both empty)."""
    sizes = list(sizes)
    admitted, truth = set(admitted), set(truth)
    admits_but_fails = [n for n in sizes if n in admitted and n not in truth]
    refuses_but_runs = [n for n in sizes if n in truth and n not in admitted]
    return {"admits_but_fails": admits_but_fails, "refuses_but_runs": refuses_but_runs,
            "admits_but_fails_count": len(admits_but_fails),
            "refuses_but_runs_count": len(refuses_but_runs),
            "equal": not admits_but_fails and not refuses_but_runs}


def _ranges(sizes: list[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"``."""
    parts, start = [], None
    for i, n in enumerate(sizes):
        if start is None:
            start = n
        if i + 1 == len(sizes) or sizes[i + 1] != n + 1:
            parts.append(str(start) if start == n else f"{start}-{n}")
            start = None
    return ", ".join(parts) or "-"


OTHER_SIZE = "admitted and runs, but the output's size differs from the input's"


def _reasons(runs: list[ExportRun], sizes: list[int]) -> dict:
    """Why the export's verdict on each size in ``sizes`` is what it is, grouped: text ->
    sizes (the refusal, the failure inside, or :data:`OTHER_SIZE`; "got 7" read "got n")."""
    chosen = set(sizes)
    grouped: dict = {}
    for run in runs:
        if run.shape[0] in chosen:
            text = re.sub(r"\bgot \d+", "got n", run.detail or OTHER_SIZE)
            grouped.setdefault(text, []).append(run.shape[0])
    return {text: _ranges(ns) for text, ns in grouped.items()}


# -- the two sides, timed -----------------------------------------------------------------------


def _best(fn, repeats: int, slow: float | None = None):
    """``(best seconds, last result)`` of ``repeats`` calls; one call when it takes ``slow``."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        if slow is not None and best > slow:
            break
    return best, result


def nnbridge_side(module, info: dict, repeats: int) -> dict:
    """``from_torch`` + ``rule_for`` on every axis (cache cleared before each repeat)."""
    from nnbridge.graph import from_torch
    from nnbridge.unet import rule as rule_module
    from nnbridge.unet.rule import rule_for

    d = info["spatial_dims"]

    def derive():
        rule_module._CACHE.clear()
        graph = from_torch(module, spatial_dims=d, mode="eval", batch=1, output=info["output"])
        return graph, [rule_for(graph, axis) for axis in range(d)]

    try:
        seconds, (graph, rules) = _best(derive, repeats)
    except Exception as exc:
        rule = getattr(exc, "rule", None)  # nnbridge's errors name the rule they break
        return {"ok": False, "error": _short(exc),
                "rule": getattr(rule, "value", None) if rule is not None else None}
    return {"ok": True, "seconds": round(seconds, 4), "graph": graph,
            "rules": [{"axis": r.axis, "words": r.words(), "proof": r.status,
                       "prove_seconds": round(r.seconds, 4)} for r in rules]}


def export_side(module, example, spatial_dims: int, repeats: int) -> dict:
    """``torch.export.export`` with one dynamic ``Dim`` per spatial axis: ``Dim.DYNAMIC``,
    then ``Dim.AUTO`` (which may specialise) where that fails."""
    import torch
    from torch.export import Dim

    attempts = []
    for hint_name in ("DYNAMIC", "AUTO"):
        hint = getattr(Dim, hint_name)(min=DIM_MIN, max=DIM_MAX)
        dynamic_shapes = ({axis + 2: hint for axis in range(spatial_dims)},)

        def export(dynamic_shapes=dynamic_shapes):
            return torch.export.export(module.eval(), (example,), dynamic_shapes=dynamic_shapes)

        start = time.perf_counter()
        try:
            first = export()
        except Exception as exc:
            attempts.append({"dim": hint_name, "ok": False,
                             "seconds": round(time.perf_counter() - start, 4),
                             "error": _short(exc, 400)})
            continue
        seconds = time.perf_counter() - start
        if seconds <= SLOW_EXPORT_SECONDS and repeats > 1:
            seconds = min(seconds, _best(export, repeats - 1, SLOW_EXPORT_SECONDS)[0])
        attempts.append({"dim": hint_name, "ok": True, "seconds": round(seconds, 4)})
        return {"ok": True, "dim": hint_name, "seconds": round(seconds, 4),
                "program": first, "attempts": attempts}
    return {"ok": False, "error": attempts[-1]["error"], "attempts": attempts}


def describe_program(program) -> dict:
    """The export's statement about sizes: range constraints per symbol and the guards."""
    ranges = {str(sym): str(vr) for sym, vr in program.range_constraints.items()}
    guards = list(getattr(program, "_guards_code", None) or [])

    def cut(text: str) -> str:
        text = text.replace("L['x']", "x").replace("L['x_in']", "x")
        return text if len(text) <= GUARD_TEXT else text[: GUARD_TEXT - 3] + "..."

    return {"range_constraints": ranges, "range_constraint_count": len(ranges),
            "guard_count": len(guards), "guards_shown": [cut(g) for g in guards[:GUARDS_SHOWN]],
            "guard_chars": sum(len(g) for g in guards)}


# -- one network --------------------------------------------------------------------------------


def bench_model(name: str, info: dict, repeats: int, top: int) -> dict:
    """Both sides on one network, and their verdicts on sizes ``1..top`` (every axis ``n``)
    against the running truth."""
    import torch

    from nnbridge.graph import valid_sizes
    from nnbridge.graph.running import first_in_channels, runs_on
    from nnbridge.unet.explain import check

    torch.manual_seed(0)
    module = info["factory"]().eval()
    d, output = info["spatial_dims"], info["output"]
    sizes = list(range(1, top + 1))
    channels = first_in_channels(module)
    record: dict = {"spatial_dims": d, "output": output, "sizes": f"1..{top}",
                    "shape": "cubic" if d == 3 else "square"}

    nb = nnbridge_side(module, info, repeats)
    graph = nb.pop("graph", None)
    record["nnbridge"] = nb

    start = time.perf_counter()
    truth = valid_sizes(module, d, sizes, output=output)
    record["truth"] = {"valid": _ranges(truth), "count": len(truth),
                       "seconds": round(time.perf_counter() - start, 3)}

    if graph is not None:
        start = time.perf_counter()
        mine = [n for n in sizes if check(graph, (n,) * d).valid]
        nb["valid"] = _ranges(mine)
        nb["check_seconds"] = round(time.perf_counter() - start, 3)
        nb["versus_truth"] = compare_sets(sizes, mine, truth)

    example_size = EXAMPLE_SIZE.get(name, DEFAULT_EXAMPLE_SIZE)
    example = torch.zeros(1, channels, *(example_size,) * d)
    record["example"] = list(example.shape)
    if not runs_on(module, (example_size,) * d, channels=channels).runs:
        record["export"] = {"ok": False, "error": f"the example size {example_size} does not run"}
        return record
    ex = export_side(module, example, d, repeats)
    program = ex.pop("program", None)
    record["export"] = ex
    if program is None:
        return record
    ex.update(describe_program(program))
    start = time.perf_counter()
    runs = export_sweep(program, sizes, d, channels)
    ex["sweep_seconds"] = round(time.perf_counter() - start, 3)
    admitted = [r.shape[0] for r in runs if r.admitted]
    ex["admitted"] = _ranges(admitted)
    ex["admitted_count"] = len(admitted)
    ex["fails_inside"] = _ranges([r.shape[0] for r in runs if r.verdict == "fails"])
    versus = compare_sets(sizes, admitted, truth)
    versus["refusals"] = _reasons(runs, versus["refuses_but_runs"])
    versus["failures"] = _reasons(runs, versus["admits_but_fails"])
    wrong = set(versus["admits_but_fails"])
    versus["admits_fails_inside"] = sum(r.verdict == "fails" for r in runs if r.shape[0] in wrong)
    versus["admits_runs_other_size"] = sum(r.verdict == "runs" for r in runs
                                           if r.shape[0] in wrong)
    ex["versus_truth"] = versus
    if nb.get("ok"):
        record["export_over_nnbridge"] = round(ex["seconds"] / nb["seconds"], 1)
    return record


# -- the run ------------------------------------------------------------------------------------


def warm_up(info: dict) -> None:
    """One nnbridge derivation (of ``info``'s network) and one export of a small network,
    untimed."""
    import torch
    from torch import nn

    nnbridge_side(info["factory"]().eval(), info, 1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)).eval()
    export_side(net, torch.zeros(1, 1, 16, 16), 2, 1)


def machine() -> dict:
    import torch

    try:
        import monai

        monai_version = monai.__version__
    except ImportError:
        monai_version = None
    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "monai": monai_version,
            "python": sys.version.split()[0], "platform": platform.platform(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}


def _table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if console.width < 150:
        console = Console(width=150)
    table = Table(title="nnbridge's rule against torch.export's guards, sizes n x n (3-D: n^3)")
    for col in ("model", "sizes", "nnbridge s", "rule (proof)", "nnbridge vs truth",
                "export s", "export/nnbridge", "Dim", "ranges/guards", "admits, fails",
                "refuses, runs"):
        table.add_column(col, overflow="fold")
    for name, r in results.items():
        nb, ex = r["nnbridge"], r.get("export", {})
        if nb.get("ok"):
            words = "; ".join(dict.fromkeys(f"{x['words']} ({x['proof']})" for x in nb["rules"]))
            v = nb["versus_truth"]
            nb_cols = (f"{nb['seconds']:.3f}", words, "equal" if v["equal"] else
                       f"admits {v['admits_but_fails_count']} that fail, "
                       f"refuses {v['refuses_but_runs_count']} that run")
        else:
            nb_cols = ("-", f"not traced ({nb['rule']}): {nb['error']}"[:90], "-")
        if ex.get("ok"):
            v = ex["versus_truth"]
            fails = str(v["admits_but_fails_count"])
            if v["admits_runs_other_size"]:
                fails += f" ({v['admits_runs_other_size']} run, other size)"
            ex_cols = (f"{ex['seconds']:.2f}", f"{r.get('export_over_nnbridge', '-')}",
                       ex["dim"], f"{ex['range_constraint_count']}/{ex['guard_count']}",
                       fails, f"{v['refuses_but_runs_count']}")
        else:
            ex_cols = ("-", "-", "export failed", "-", "-", "-")
        table.add_row(name, r["sizes"], *nb_cols, *ex_cols)
    console.print(table)
    for name, r in results.items():
        ex = r.get("export", {})
        if not ex.get("ok"):
            console.print(f"[bold]{name}[/]: export failed: {ex.get('error')}", markup=True)
            continue
        for attempt in ex["attempts"]:
            if not attempt["ok"]:
                console.print(f"[bold]{name}[/]: Dim.{attempt['dim']} failed: "
                              f"{attempt['error']}")
        v = ex["versus_truth"]
        for label, key in (("refuses, runs", "refusals"), ("admits, fails", "failures")):
            for text, where in v[key].items():
                console.print(f"[bold]{name}[/]: {label} at {where}: {text}")


def main(argv: list[str] | None = None) -> dict:
    models = load_models()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(models), metavar="NAME",
                        help=f"networks to run (default: all of {', '.join(models)})")
    parser.add_argument("--quick", action="store_true",
                        help="one repeat per timing, sizes up to 64 (3-D: 24)")
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON file to write")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import nnbridge.graph.trace_torch  # noqa: F401  (imports are not timed)
    import nnbridge.unet.explain  # noqa: F401

    repeats = 1 if args.quick else REPEATS
    sweep = QUICK_SWEEP if args.quick else SWEEP
    start = time.perf_counter()
    names = args.models or list(models)
    warm_up(models[names[0]])
    results = {}
    for name in names:
        info = models[name]
        print(f"{name} ...", file=sys.stderr, flush=True)
        results[name] = bench_model(name, info, repeats, sweep[info["spatial_dims"]])
    payload = {
        "machine": machine(),
        "settings": {"repeats": repeats, "quick": args.quick, "sweep": sweep,
                     "dim": f"Dim.DYNAMIC(min={DIM_MIN}, max={DIM_MAX}), else Dim.AUTO",
                     "slow_export_seconds": SLOW_EXPORT_SECONDS,
                     "example_size": {**{"default": DEFAULT_EXAMPLE_SIZE}, **EXAMPLE_SIZE}},
        "models": results,
        "total_seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n")
    _table(results)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out} "
          f"in {payload['total_seconds']} s")
    return payload


if __name__ == "__main__":
    main()
