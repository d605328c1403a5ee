"""nnbridge's adjoint check against ``torch.autograd.gradcheck`` on planted backward defects.

The Functions are ``examples/adjoint/autograd_functions.py`` (seven custom autograd Functions
as people write them) and ``examples/adjoint/autograd_defects.py`` (eight defects planted in
their backwards). For each, three tools run on the same inputs:

* ``gradcheck`` (default, slow mode): the full Jacobian by central differences (eps 1e-6),
  against the backward's, elementwise within ``atol 1e-5 + rtol 1e-3``; float64 inputs;
* ``gradcheck(fast_mode=True)``: ``v^T J u`` for one random ``u`` per input and ``v`` per
  output, by the same differences and tolerances;
* ``nnbridge.adjoint.check_torch`` with its defaults (the backward's contract; the adjoint
  identity in exact, float32 and float64 mode; the JVP against differences where the
  Function has forward mode; 3 trials each).

A tool *catches* a defect when it reports a failure (gradcheck: raises). Times are medians
of CPU time (``time.process_time``) over repeated runs on one thread
(``torch.set_num_threads(1)``), the three tools taking turns. Time per checked direction:

* nnbridge: its ``directions`` (one ``(u, v)`` pair per trial of each adjoint mode, one
  ``u`` per trial of the JVP check; ``u`` perturbs every input at once);
* fast gradcheck: (differentiable inputs) x (differentiable outputs), one ``(u_i, v_j)``
  pair each;
* slow gradcheck: the Jacobian columns it differences, the elements of the differentiable
  inputs (it also runs one backward per output element).

Run: ``python benchmarks/bench_gradcheck.py`` (writes
``benchmarks/results/gradcheck_defects.json``; ``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "adjoint"))

from autograd_defects import DEFECTS  # noqa: E402
from autograd_functions import CASES  # noqa: E402

from nnbridge.adjoint import check_torch  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "gradcheck_defects.json"


def gradcheck_inputs(inputs, seed: int = 0) -> tuple:
    """The inputs as gradcheck takes them: float64 tensors with ``requires_grad`` for the
    shapes, the constants as they are."""
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(x, generator=g, dtype=torch.float64).requires_grad_()
                 if isinstance(x, tuple) else x for x in inputs)


def run_gradcheck(function, inputs, fast: bool) -> tuple[bool, str]:
    """``(caught, why)``: gradcheck raising is a catch, its message the reason."""
    try:
        torch.autograd.gradcheck(function.apply, gradcheck_inputs(inputs), fast_mode=fast)
    except Exception as exc:  # GradcheckError, or the backward raising under gradcheck
        return True, f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    return False, ""


def run_nnbridge(function, inputs) -> tuple[bool, str, int]:
    report = check_torch(function.apply, *inputs)
    return (not report.passed, ", ".join(f"{r.check}[{r.mode}]" for r in report.failures),
            report.directions)


def timed(tools: dict, repeats: int) -> dict:
    """Median CPU seconds (``time.process_time``: this process alone, on one thread) of
    ``repeats`` calls of each tool, the tools taking turns so that a change in the machine's
    load affects all of them alike; one warm-up call each first."""
    for fn in tools.values():
        fn()
    times: dict = {name: [] for name in tools}
    for _ in range(repeats):
        for name, fn in tools.items():
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def directions(function, inputs) -> dict:
    diff = [x for x in gradcheck_inputs(inputs) if isinstance(x, torch.Tensor)
            and x.requires_grad]
    out = function.apply(*gradcheck_inputs(inputs))
    outputs = len(out) if isinstance(out, tuple) else 1
    return {"fast": len(diff) * outputs, "slow": sum(x.numel() for x in diff)}


def measure(name: str, case: str, function, inputs, repeats: int, what: str = "") -> dict:
    caught_nn, failed_checks, nn_directions = run_nnbridge(function, inputs)
    caught_slow, why_slow = run_gradcheck(function, inputs, fast=False)
    caught_fast, why_fast = run_gradcheck(function, inputs, fast=True)
    seconds = timed({"nnbridge": lambda: run_nnbridge(function, inputs),
                     "gradcheck": lambda: run_gradcheck(function, inputs, False),
                     "gradcheck_fast": lambda: run_gradcheck(function, inputs, True)}, repeats)
    count = directions(function, inputs)
    count["nnbridge"] = nn_directions
    per = {"nnbridge": seconds["nnbridge"] / nn_directions,
           "gradcheck": seconds["gradcheck"] / count["slow"],
           "gradcheck_fast": seconds["gradcheck_fast"] / count["fast"]}
    return {
        "name": name, "case": case, "function": function.__name__, "defect": what,
        "caught": {"nnbridge": caught_nn, "gradcheck": caught_slow,
                   "gradcheck_fast": caught_fast},
        "nnbridge_failed_checks": failed_checks,
        "gradcheck_message": why_slow, "gradcheck_fast_message": why_fast,
        "seconds": {k: round(v, 6) for k, v in seconds.items()},
        "directions": {"nnbridge": nn_directions, "gradcheck": count["slow"],
                       "gradcheck_fast": count["fast"]},
        "seconds_per_direction": {k: round(v, 8) for k, v in per.items()},
        "ratios": {
            "nnbridge_over_gradcheck_fast": round(seconds["nnbridge"]
                                                  / seconds["gradcheck_fast"], 3),
            "nnbridge_over_gradcheck": round(seconds["nnbridge"] / seconds["gradcheck"], 3),
            "per_direction_nnbridge_over_gradcheck_fast": round(
                per["nnbridge"] / per["gradcheck_fast"], 3),
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 repeats instead of 21")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 5 if args.quick else 21
    check_torch(torch.tanh, (2,))  # torch.func's one-time start-up, outside the timings
    rows = []
    for name, (function, inputs) in CASES.items():
        rows.append(measure(name, name, function, inputs, repeats))
    for name, (case, function, what) in DEFECTS.items():
        rows.append(measure(name, case, function, CASES[case][1], repeats, what))
    correct = [r for r in rows if not r["defect"]]
    defects = [r for r in rows if r["defect"]]

    def geomean(values):
        return math.exp(statistics.fmean(math.log(v) for v in values))

    summary = {
        "correct_functions": len(correct),
        "false_alarms": {t: [r["name"] for r in correct if r["caught"][t]]
                         for t in ("nnbridge", "gradcheck", "gradcheck_fast")},
        "defects": len(defects),
        "caught": {t: sum(r["caught"][t] for r in defects)
                   for t in ("nnbridge", "gradcheck", "gradcheck_fast")},
        "caught_by_gradcheck_not_nnbridge": [
            r["name"] for r in defects if (r["caught"]["gradcheck"]
                                           or r["caught"]["gradcheck_fast"])
            and not r["caught"]["nnbridge"]],
        "caught_by_nnbridge_only": [r["name"] for r in defects if r["caught"]["nnbridge"]
                                    and not r["caught"]["gradcheck"]
                                    and not r["caught"]["gradcheck_fast"]],
        "caught_by_none": [r["name"] for r in defects if not any(r["caught"].values())],
        "geomean_ratio_nnbridge_over_gradcheck_fast": round(geomean(
            [r["ratios"]["nnbridge_over_gradcheck_fast"] for r in rows]), 3),
        "geomean_ratio_nnbridge_over_gradcheck": round(geomean(
            [r["ratios"]["nnbridge_over_gradcheck"] for r in rows]), 3),
        "geomean_per_direction_nnbridge_over_gradcheck_fast": round(geomean(
            [r["ratios"]["per_direction_nnbridge_over_gradcheck_fast"] for r in rows]), 3),
        "per_direction_above_gradcheck_fast": [
            r["name"] for r in rows
            if r["ratios"]["per_direction_nnbridge_over_gradcheck_fast"] > 1],
    }
    payload = {
        "benchmark": "nnbridge check_torch vs torch.autograd.gradcheck on planted defects",
        "torch": torch.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "threads": torch.get_num_threads(), "timer": "time.process_time, median",
        "repeats": repeats, "summary": summary, "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")
    header = (f"{'function / defect':24} {'nnbridge':>9} {'gradcheck':>9} {'fast':>6} "
              f"{'nn ms':>7} {'gc ms':>8} {'fast ms':>8} {'nn/fast per dir':>15}")
    print(header)
    for r in rows:
        c = r["caught"]
        mark = {True: "caught", False: "-"}
        print(f"{r['name']:24} {mark[c['nnbridge']]:>9} {mark[c['gradcheck']]:>9} "
              f"{mark[c['gradcheck_fast']]:>6} {1e3 * r['seconds']['nnbridge']:7.2f} "
              f"{1e3 * r['seconds']['gradcheck']:8.2f} {1e3 * r['seconds']['gradcheck_fast']:8.2f}"
              f" {r['ratios']['per_direction_nnbridge_over_gradcheck_fast']:15.3f}")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
