"""ResNet: the spec's stem + pool chain, and its proved divergence from torchvision."""

from __future__ import annotations

import sympy as sp
import z3
from nnbridge.spec.shapes import ResNetConfig, resnet_spatial, torchvision_resnet_spatial

from .closed_form import derive, size_symbol
from .engine import ClosedForm, Proof, Refutation, nats, obligation
from .terms import torch_term

R18 = ResNetConfig()

_N = size_symbol("n")
#: The spec's stem + pool size for resnet18Config, as stated.
POOL = sp.Piecewise((1, _N < 5), (sp.ceiling(_N / 4) - 1, True))


def _pools(n):
    spec = resnet_spatial(R18, n)["pool"]
    tv, accepted = torch_term(lambda: torchvision_resnet_spatial(n)["pool"])
    return spec, tv, accepted


@obligation("resnet", expect=POOL)
def resnet_pool_closed_form():
    """The spec's stem + pool size for resnet18Config is {expect}: Z3 proves it equal to
    poolOut (convOut n 7 2 3) 3 2 for all n >= 1, and SymPy derives the same."""
    (n,), nat = nats("n")
    derived = derive(lambda m: resnet_spatial(R18, m)["pool"])
    return ClosedForm(n, nat + [n >= 1], resnet_spatial(R18, n)["pool"], derived.closed, POOL)


@obligation("resnet")
def resnet_stages_keep_pool_size():
    """For all n >= 1: the spec's four stages (3x3, stride 1, padding 1) keep the pool's size,
    so the global average pool sees poolOut(convOut n 7 2 3) 3 2."""
    (n,), nat = nats("n")
    chain = resnet_spatial(R18, n)
    stages = [chain[f"stage{i}"] for i in range(1, 5)]
    return Proof([n], nat + [n >= 1], z3.And(*[stage == chain["pool"] for stage in stages]),
                 subjects=stages)


@obligation("resnet")
def resnet_torchvision_divergence_at_224():
    """At 224x224 the stem gives 112 in both; the spec's unpadded pool gives 55, torchvision's
    (padding 1) gives 56."""
    (n,), nat = nats("n")
    spec, tv, accepted = _pools(n)
    stem = resnet_spatial(R18, n)["stem"]
    return Proof([n], nat + [n == 224], z3.And(stem == 112, spec == 55, accepted, tv == 56),
                 subjects=[stem, spec, tv, accepted])


@obligation("resnet")
def resnet_torchvision_divergence_set():
    """For all n >= 1 torchvision accepts n, its pool output is the spec's or one more, and
    they differ exactly when n >= 5."""
    (n,), nat = nats("n")
    spec, tv, accepted = _pools(n)
    return Proof([n], nat + [n >= 1], z3.And(accepted, z3.Or(tv == spec, tv == spec + 1),
                                             (tv != spec) == (n >= 5)),
                 subjects=[spec, tv, accepted])


@obligation("resnet")
def resnet_least_divergence():
    """Refuted: "the spec's stem + pool matches torchvision's". The least counterexample is
    n = 5: stem 3, the spec's pool 1, torchvision's 2."""
    (n,), nat = nats("n")
    spec, tv, accepted = _pools(n)

    def confirm(v):
        a = resnet_spatial(R18, v["n"])["pool"]
        b = torchvision_resnet_spatial(v["n"])["pool"]
        return f"spec {a}, torchvision {b}" if a != b else None

    return Refutation([n], nat + [n >= 1], z3.And(accepted, spec == tv), confirm,
                      expect={"n": 5})
