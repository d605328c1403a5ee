"""Proof obligations of the kernels family, and the ties between the model and the CUDA text.

The obligations prove a model of the device helpers; these tests check that the model is the
code: every modelled line occurs verbatim in the CUDA text, and the compiled helpers (the
same text, built for the CPU as the host backend builds it) give the model's int reading on
divisors, quotients, window ranges and index splits. Planted defects show that the proofs
can fail.
"""

from __future__ import annotations

import random
import subprocess

import pytest
import z3
from nnbridge.kernels.device import DEVICE_HELPERS
from nnbridge.kernels.host import PRELUDE
from nnbridge.proofs import kernels as K
from nnbridge.proofs.engine import Obligation, Proof, check
from nnbridge.proofs.testing import obligation_tests

globals().update(obligation_tests("kernels"))


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def missing_lines(text: str) -> list[str]:
    """The modelled lines that ``text`` lacks (whitespace aside)."""
    found = _squeezed(text)
    return [line for line in K.MODELLED_LINES if _squeezed(line) not in found]


def test_model_transcribes_the_cuda_text():
    assert missing_lines(DEVICE_HELPERS + PRELUDE) == []


def test_an_edited_cuda_line_is_noticed():
    """Planted: the window's lower bound rounded down in the CUDA text; the model no longer
    transcribes it, and the check says which line."""
    edited = DEVICE_HELPERS.replace("bottom + (int)s.d - 1", "bottom")
    assert edited != DEVICE_HELPERS
    assert missing_lines(edited + PRELUDE) == [
        "*lo = bottom <= 0 ? 0 : nnb_div(bottom + (int)s.d - 1, s);"]


# --------------------------------------------------------------------------------------
# The compiled helpers against the model's int reading
# --------------------------------------------------------------------------------------
PROBE = r"""
#include <cstdio>
int main() {
  char op;
  while (std::scanf(" %c", &op) == 1) {
    if (op == 'd') {  // divisor d, dividend n
      int d, n, rem;
      std::scanf("%d %d", &d, &n);
      const nnb_divisor v = nnb_make_divisor(d);
      const int q = nnb_divmod(n, v, &rem);
      std::printf("%u %u %d %d\n", v.m, v.s, q, rem);
    } else if (op == 'w') {  // i k s p n_out
      int i, k, s, p, n_out, lo, hi;
      std::scanf("%d %d %d %d %d", &i, &k, &s, &p, &n_out);
      nnb_window_range(i, k, nnb_make_divisor(s), p, n_out, &lo, &hi);
      std::printf("%d %d\n", lo, hi);
    } else {  // 'u': idx D H W
      long long idx;
      int dd, h, w, at, z, y, x;
      std::scanf("%lld %d %d %d", &idx, &dd, &h, &w);
      nnb_cells c;
      c.volume = nnb_make_divisor(dd * h * w);
      c.h = nnb_make_divisor(h);
      c.w = nnb_make_divisor(w);
      const long long plane = nnb_unravel(idx, c, &at, &z, &y, &x);
      std::printf("%lld %d %d %d %d\n", plane, at, z, y, x);
    }
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    from nnbridge.kernels.backends import BackendUnavailable
    from nnbridge.kernels.host import find_compiler

    try:
        compiler = find_compiler()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    where = tmp_path_factory.mktemp("probe")
    source, binary = where / "probe.cpp", where / "probe"
    source.write_text(PRELUDE + DEVICE_HELPERS + PROBE)
    built = subprocess.run([*compiler, "-O1", "-std=c++17", str(source), "-o", str(binary)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]

    def run(lines: list[str]) -> list[list[int]]:
        done = subprocess.run([str(binary)], input="\n".join(lines), capture_output=True,
                              text=True, check=True)
        return [[int(v) for v in row.split()] for row in done.stdout.splitlines()]

    return run


def _model(d: int) -> K.Divisor:
    return K.make_divisor(d, 1 << K.ceil_log2_loop(d))


def test_divisors_and_quotients_match_the_compiled_helpers(probe):
    rng = random.Random(0)
    top = K.INT_MAX
    divisors = list(K.DIVISORS) + [rng.randint(1, top) for _ in range(300)]
    cases = [(d, n) for d in divisors
             for n in (0, 1, d - 1, d, d + 1, top, top - d, top // d * d - 1, rng.randint(0, top))
             if 0 <= n <= top]
    rows = probe([f"d {d} {n}" for d, n in cases])
    assert len(rows) == len(cases) > 3000
    for (d, n), (m, s, q, rem) in zip(cases, rows, strict=True):
        v = _model(d)
        checks = K.Checks()
        assert (v.m, 1 << s) == (m, v.shift), d
        assert K.nnb_divmod(n, v, checks) == (q, rem) == (n // d, n % d), (d, n)
        assert all(checks.conditions.values())


def test_window_ranges_match_the_compiled_helpers(probe):
    rng = random.Random(1)
    cases = []
    for _ in range(3000):
        k, s, p = rng.randint(1, 9), rng.randint(1, 5), rng.randint(0, 4)
        n_in = rng.randint(1, 40)
        n_out = max(0, (n_in + 2 * p - k) // s + 1)
        cases.append((rng.randint(0, n_in - 1), k, s, p, n_out))
    big = K.INT_MAX - 10
    cases += [(big - 7, 5, 3, 2, big // 3), (big, 1, 1, 0, big + 1)]
    rows = probe([f"w {i} {k} {s} {p} {n_out}" for i, k, s, p, n_out in cases])
    for (i, k, s, p, n_out), row in zip(cases, rows, strict=True):
        checks = K.Checks()
        lo, hi = K.window_range(i, k, _model(s), p, n_out, checks)
        assert [lo, hi] == row, (i, k, s, p, n_out)
        assert all(checks.conditions.values())
        if n_out < 10**6:  # the definition, by enumeration
            windows = [o for o in range(n_out) if 0 <= i + p - o * s < k]
            assert windows == list(range(lo, hi + 1))


def test_index_splits_match_the_compiled_helpers(probe):
    rng = random.Random(2)
    cases = []
    for _ in range(2000):
        dd, h, w = rng.randint(1, 9), rng.randint(1, 60), rng.randint(1, 60)
        volume = dd * h * w
        idx = rng.choice([rng.randint(0, 50 * volume), rng.randint(2**31 - volume, 2**31 + volume),
                          rng.randint(2**31, 2**40)])
        cases.append((idx, dd, h, w))
    rows = probe([f"u {idx} {dd} {h} {w}" for idx, dd, h, w in cases])
    for (idx, dd, h, w), row in zip(cases, rows, strict=True):
        checks = K.Checks()
        got = K.unravel(idx, _model(dd * h * w), _model(h), _model(w), checks)
        assert list(got) == row, (idx, dd, h, w)
        plane, at, z, y, x = got
        assert (plane, at) == divmod(idx, dd * h * w) and at == (z * h + y) * w + x


# --------------------------------------------------------------------------------------
# Planted defects
# --------------------------------------------------------------------------------------
def _ob(build) -> Obligation:
    return Obligation("planted", "planted", "a planted defect", build)


def test_symbolic_division_with_the_multiplier_rounded_down_is_refuted():
    """Planted: m - 1 in the quotient claim of the symbolic model, for the divisors with
    l = 2 (L = 4: d = 3, 4, which keeps the search short); refuted, with a counterexample
    the int reading confirms."""
    def build():
        (d, n, two_l), domain = K._division_domain()
        v = K.make_divisor(d, two_l)
        v = K.Divisor(v.d, z3.If(v.d == 1, v.m, v.m - 1), v.shift, v.numerator, v.wide_m)
        return Proof([d, n, two_l], [*domain, two_l == 4, *K._loop_facts(d, two_l)],
                     {"quotient": K.nnb_div(n, v) == n / d})

    verdict = check(_ob(build))
    assert verdict.status == "refuted", verdict.detail
    cex = verdict.counterexample
    d, n = cex["d"], cex["n"]
    v = _model(d)
    assert K.nnb_div(n, K.Divisor(v.d, v.m - 1, v.shift)) != n // d


def test_window_range_with_a_division_rounding_up_is_refuted():
    """Planted: nnb_div rounding up instead of down; the window range proof is refuted and
    the counterexample's windows, enumerated, differ from lo..hi."""
    def rounding_up(x, v, checks, when=True):
        q = -((-x) / v.d) if z3.is_expr(x) else -((-x) // v.d)
        return q, x - q * v.d

    def build():
        (i, k, s, p, n_out, o), domain = K._window_domain()
        lo, hi = K.window_range(i, k, K.Divisor(s), p, n_out, K.Checks(), rounding_up)
        tap = i + p - o * s
        return Proof([i, k, s, p, n_out, o], domain,
                     z3.And(lo <= o, o <= hi) == z3.And(o >= 0, o < n_out, tap >= 0, tap < k))

    verdict = check(_ob(build))
    assert verdict.status == "refuted", verdict.detail
    c = verdict.counterexample
    lo, hi = K.window_range(c["i"], c["k"], K.Divisor(c["s"]), c["p"], c["n_out"], K.Checks(),
                            rounding_up)
    o = c["o"]
    assert (lo <= o <= hi) != (0 <= o < c["n_out"] and 0 <= c["i"] + c["p"] - o * c["s"] < c["k"])


def test_unravel_antecedent_is_satisfiable():
    """The cell-volume antecedent of kernels_unravel holds somewhere with its hypotheses
    (so no part is vacuously true)."""
    claim = K.kernels_unravel()
    values = {"idx": 2**31 + 7, "V": 30, "D": 2, "H": 3, "W": 5}
    pairs = [(v, z3.IntVal(values[str(v)])) for v in claim.variables]
    facts = [*claim.hypotheses, claim.variables[1] == claim.variables[2] * claim.variables[3]
             * claim.variables[4]]
    assert all(z3.is_true(z3.simplify(z3.substitute(f, *pairs))) for f in facts)
