"""The agreement domains the samplers draw from are the ones the proofs prove.

The proofs ``*_lean_equals_torch_on_domain`` take their domain from
:mod:`nnbridge.spec.domains`. Here a planted wrong domain is handed to the very same
obligation and must be refuted; and on a grid of small sizes the ``int`` reading of each
predicate must equal "PyTorch accepts, and Lean's size equals PyTorch's", computed by calling
the shape formulas themselves.
"""

from __future__ import annotations

import functools
import itertools

import pytest
from nnbridge.proofs.engine import REGISTRY, Obligation, check, obligations
from nnbridge.spec.domains import conv_agreement, conv_transpose_agreement, pool_agreement
from nnbridge.spec.shapes import ShapeError, conv_out, conv_transpose_out, pool_out

# obligation name -> (the proved predicate, its shape formula)
DOMAINS = {
    "conv_lean_equals_torch_on_domain": (conv_agreement, conv_out),
    "pool_lean_equals_torch_on_domain": (pool_agreement, pool_out),
    "conv_transpose_lean_equals_torch_on_domain": (conv_transpose_agreement,
                                                   conv_transpose_out),
}

# Planted wrong domains: each off by one cell at the boundary of the true one.
PLANTED = {
    "conv_lean_equals_torch_on_domain": [
        ("n + 2p >= k + 1", lambda n, k, s, p: n + 2 * p >= k + 1),
        ("n + 2p > k", lambda n, k, s, p: n + 2 * p > k),
        ("n + 2p >= k - 1", lambda n, k, s, p: n + 2 * p >= k - 1),
        ("n + p >= k", lambda n, k, s, p: n + p >= k),
    ],
    "pool_lean_equals_torch_on_domain": [
        ("n + 2p >= k (padding limit dropped)", lambda n, k, s, p: n + 2 * p >= k),
        ("n + 2p >= k and 2p < k", lambda n, k, s, p: conv_agreement(n, k, s, p) & (2 * p < k)),
        ("n + 2p > k and 2p <= k", lambda n, k, s, p: (n + 2 * p > k) & (2 * p <= k)),
    ],
    "conv_transpose_lean_equals_torch_on_domain": [
        ("(n - 1) s > 2p", lambda n, k, s, p: (n - 1) * s > 2 * p),
        ("(n - 1) s >= p", lambda n, k, s, p: (n - 1) * s >= p),
        ("n s >= 2p", lambda n, k, s, p: n * s >= 2 * p),
    ],
}


def _planted(name: str, domain) -> Obligation:
    ob = REGISTRY[name]
    return Obligation(name, ob.family, ob.statement, functools.partial(ob.build, domain=domain))


def test_the_domain_obligations_are_registered():
    names = {ob.name for ob in obligations()}
    assert set(DOMAINS) <= names


@pytest.mark.parametrize("name", DOMAINS)
def test_the_proved_domain_is_the_samplers_predicate(name):
    """The obligation's default domain is the predicate of spec.domains, and it is proved."""
    predicate, _ = DOMAINS[name]
    ob = REGISTRY[name]
    assert ob.build.__defaults__ == (predicate,)
    verdict = check(ob)
    assert verdict.passed and verdict.status == "proved", verdict.detail


@pytest.mark.parametrize("name, label, wrong", [
    (name, label, wrong) for name, planted in PLANTED.items() for label, wrong in planted])
def test_a_planted_wrong_domain_is_refuted(name, label, wrong):
    """The same obligation with a wrong domain fails, with a counterexample the grid confirms."""
    verdict = check(_planted(name, wrong))
    assert not verdict.passed and verdict.status == "refuted", (label, verdict.detail)
    cex = verdict.counterexample
    n, k, s, p = (cex[v] for v in "nksp")
    assert n >= 1 and k >= 1 and s >= 1 and p >= 0
    # the counterexample is a point where the planted domain and the true one part
    predicate, _ = DOMAINS[name]
    assert bool(wrong(n, k, s, p)) != predicate(n, k, s, p), (label, cex)


def _agree(formula, n, k, s, p) -> bool:
    """PyTorch accepts ``formula(n, k, s, p)`` and Lean's size equals PyTorch's."""
    try:
        torch = formula(n, k, s, p, semantics="torch")
    except ShapeError:
        return False
    return formula(n, k, s, p) == torch


# n, k, s >= 1 and p >= 0, as the predicates assume; wide enough to cross every boundary
GRID = list(itertools.product(range(1, 13), range(1, 10), range(1, 6), range(0, 7)))


def _disagreements(predicate, formula) -> list[tuple[int, int, int, int]]:
    return [(n, k, s, p) for n, k, s, p in GRID
            if predicate(n, k, s, p) is not _agree(formula, n, k, s, p)]


@pytest.mark.parametrize("name", DOMAINS)
def test_int_reading_is_lean_equals_torch_on_a_grid(name):
    predicate, formula = DOMAINS[name]
    assert len(GRID) == 12 * 9 * 5 * 7
    inside = sum(predicate(*point) for point in GRID)
    assert 0 < inside < len(GRID)  # the grid crosses the boundary
    assert all(type(predicate(*point)) is bool for point in GRID)
    assert _disagreements(predicate, formula) == []


@pytest.mark.parametrize("name, label, wrong", [
    (name, label, wrong) for name, planted in PLANTED.items() for label, wrong in planted])
def test_the_grid_catches_a_planted_domain(name, label, wrong):
    _, formula = DOMAINS[name]

    def planted(*point):
        return bool(wrong(*point))

    assert _disagreements(planted, formula), label
