"""Cold start of ``nnbridge unet check 572x572 --preset ronneberger``, in fresh processes.

Each round runs, in a shuffled order, a bare ``python -c pass``, ``python -c "import numpy"``
and the check (``python -m nnbridge.cli unet check 572x572 --preset ronneberger``), each in
a new interpreter; the figures are medians over the rounds (a warm-up round, which also
writes the bytecode caches, is not counted). Ratios are to the bare interpreter and to the
NumPy import in the same run. With ``--tree LABEL=DIR`` (repeatable) the check also runs
from another checkout laid out as an importable ``nnbridge`` package under ``DIR``
(``nnbridge/spec``, ``nnbridge/proofs``, ``nnbridge/kernels``), in the same rounds: before
and after under the same load.

Python caches bytecode as an installed package has it (``.pyc`` files, here under a
temporary ``PYTHONPYCACHEPREFIX``); where the environment sets ``PYTHONDONTWRITEBYTECODE``,
as some sandboxes do, the check is also timed that way (``unet_check_source``: every
nnbridge module compiled at every start).

Also recorded: the heavy modules the check imports (from ``-X importtime``), deriving
ronneberger's rule from the structure against the size-by-size scan (in-process), and the
load average, since shared machines make wall times noisy. Target: the check under 0.25 s.
Writes benchmarks/results/cold_start.json (or ``--out``).

    python benchmarks/bench_cold_start.py [--rounds 21] [--tree before=DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.25
CHECK = ["-m", "nnbridge.cli", "unet", "check", "572x572", "--preset", "ronneberger"]
HEAVY = ("numpy", "z3", "sympy", "rich", "torch", "nnbridge.kernels", "nnbridge.adjoint",
         "nnbridge.proofs", "hypothesis")


def _env(pythonpath: str | None, pycache: str | None) -> dict:
    """The environment, with ``PYTHONPATH`` set to ``pythonpath`` only; with ``pycache``,
    bytecode written and read under that folder."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    if pycache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _time(argv: list[str], env: dict, cwd: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def _summary(samples: list[float]) -> dict:
    q = statistics.quantiles(samples, n=4)
    return {"median": round(statistics.median(samples), 4), "min": round(min(samples), 4),
            "q1": round(q[0], 4), "q3": round(q[2], 4), "runs": len(samples)}


def _heavy_imports(env: dict, cwd: str) -> list[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", *CHECK], capture_output=True,
                          env=env, cwd=cwd, check=False, text=True)
    found = set()
    for line in done.stderr.splitlines():
        name = line.rpartition("|")[2].strip()
        for heavy in HEAVY:
            if name == heavy or name.startswith(heavy + "."):
                found.add(heavy)
    return sorted(found)


def _derive_seconds(repeats: int = 5) -> dict:
    """Ronneberger's rule on one axis, from the structure and by the scan (no proof)."""
    from nnbridge.unet.presets import build_preset
    from nnbridge.unet.rule import derive_rule

    desc = build_preset("ronneberger")
    out = {}
    for method in ("closed", "scan"):
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            rule = derive_rule(desc, 0, method=method)
            samples.append(time.perf_counter() - start)
        out[method] = {"median": round(statistics.median(samples), 4), "rule": rule.words()}
    out["scan_over_closed"] = round(out["scan"]["median"] / out["closed"]["median"], 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="counted rounds (>= 15)")
    parser.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                        help="also time the check from the checkout laid out under DIR")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"
                                             / "cold_start.json"))
    parser.add_argument("--seed", type=int, default=0, help="seed of the shuffled order")
    args = parser.parse_args(argv)
    if args.rounds < 15:
        parser.error("--rounds must be at least 15")
    trees = {}
    for item in args.tree:
        label, sep, folder = item.partition("=")
        if not sep or not label or not (Path(folder) / "nnbridge").is_dir():
            parser.error(f"--tree {item!r}: expected LABEL=DIR with DIR/nnbridge a package")
        trees[label] = str(Path(folder).resolve())

    # the checkout runs from its root; a baseline from its own folder, so that `-m` (which
    # puts the working directory first on sys.path) cannot find this checkout instead
    pycache = tempfile.mkdtemp(prefix="nnbridge-bench-pycache-")
    here, root = _env(None, pycache), str(Path(__file__).resolve().parents[1])
    cases = {
        "bare_python": ([sys.executable, "-c", "pass"], here, root),
        "import_numpy": ([sys.executable, "-c", "import numpy"], here, root),
        "unet_check": ([sys.executable, *CHECK], here, root),
    }
    no_cache = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    if no_cache:
        cases["unet_check_source"] = ([sys.executable, *CHECK], _env(None, None), root)
    for label, folder in trees.items():
        cases[f"unet_check@{label}"] = ([sys.executable, *CHECK], _env(folder, pycache),
                                        folder)
        if no_cache:
            cases[f"unet_check_source@{label}"] = ([sys.executable, *CHECK],
                                                   _env(folder, None), folder)
    order = random.Random(args.seed)
    samples: dict[str, list[float]] = {name: [] for name in cases}
    load_before = os.getloadavg()
    try:
        for round_ in range(args.rounds + 1):
            names = list(cases)
            order.shuffle(names)
            for name in names:
                elapsed = _time(*cases[name])
                if round_:  # round 0 warms the caches
                    samples[name].append(elapsed)
        load_after = os.getloadavg()
        heavy = {"unet_check": _heavy_imports(here, root)}
        for label in trees:
            heavy[f"unet_check@{label}"] = _heavy_imports(*cases[f"unet_check@{label}"][1:])
    finally:
        shutil.rmtree(pycache, ignore_errors=True)

    times = {name: _summary(values) for name, values in samples.items()}
    check = times["unet_check"]["median"]
    payload = {
        "command": "nnbridge unet check 572x572 --preset ronneberger (python -m nnbridge.cli)",
        "seconds": times,
        "ratios": {
            "unet_check_over_bare_python": round(check / times["bare_python"]["median"], 2),
            "unet_check_over_import_numpy": round(check / times["import_numpy"]["median"], 2),
        },
        "target_seconds": TARGET_SECONDS,
        "unet_check_under_target": check < TARGET_SECONDS,
        **({"unet_check_source_under_target":
            times["unet_check_source"]["median"] < TARGET_SECONDS} if no_cache else {}),
        "bytecode": "cached (.pyc under a temporary PYTHONPYCACHEPREFIX); *_source: "
                    "PYTHONDONTWRITEBYTECODE as this environment sets it",
        "heavy_imports": heavy,
        "derive_ronneberger_rule_seconds": _derive_seconds(),
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in load_after]},
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    for label in trees:
        payload["ratios"][f"unet_check@{label}_over_unet_check"] = round(
            times[f"unet_check@{label}"]["median"] / check, 2)
        if no_cache:
            payload["ratios"][f"unet_check_source@{label}_over_unet_check_source"] = round(
                times[f"unet_check_source@{label}"]["median"]
                / times["unet_check_source"]["median"], 2)
    if trees:
        payload["trees"] = trees
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return payload


if __name__ == "__main__":
    main()
