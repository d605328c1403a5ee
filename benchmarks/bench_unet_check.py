"""Speed of the UNet size checker: a cold ``nnbridge unet check`` and each preset's rule.

Measures (1) the wall time of ``nnbridge unet check 572x572 --preset ronneberger`` in a fresh
process (cold start: interpreter, imports, obligations, deriving and proving both rules), as a
ratio to a bare ``python -c pass`` in the same run, and (2) deriving and proving the rule of
every preset in-process (imports excluded, cache cleared), against the 0.5 s target.
Writes benchmarks/results/unet_check.json.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPEATS = 5


def _cold(argv: list[str]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    python = [sys.executable, "-c", "pass"]
    check = [sys.executable, "-m", "nnbridge.cli", "unet", "check", "572x572", "--preset",
             "ronneberger"]
    bare, cold = _cold(python), _cold(check)

    import z3  # noqa: F401  (imports are not part of deriving and proving)

    from nnbridge.unet import build_preset, rule
    from nnbridge.unet.rule import derive_rule, prove_rule

    presets = {}
    for name in ("torchlean-unet2", "ronneberger", "monai", "smp"):
        desc = build_preset(name)
        samples = []
        for _ in range(REPEATS):
            rule._CACHE.clear()
            start = time.perf_counter()
            found = prove_rule(desc, 0, derive_rule(desc, 0))
            samples.append(time.perf_counter() - start)
        presets[name] = {"seconds": round(statistics.median(samples), 4),
                         "prove_seconds": round(found.seconds, 4), "rule": found.words(),
                         "proof": found.status, "under_0_5s": statistics.median(samples) < 0.5}
    payload = {
        "cold_check_seconds": round(cold, 4), "bare_python_seconds": round(bare, 4),
        "cold_check_over_bare_python": round(cold / bare, 2), "cold_check_under_1s": cold < 1.0,
        "rule_derive_and_prove": presets, "repeats": REPEATS, "python": sys.version.split()[0],
    }
    out = Path(__file__).resolve().parent / "results" / "unet_check.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
