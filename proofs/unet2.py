"""UNet2: the round trip through pool and transposed conv, and the eight h_* obligations."""

from __future__ import annotations

import sympy as sp
import z3
from nnbridge.spec.shapes import UNet2Config, unet2_obligations, unet_up

from .closed_form import derive, size_symbol
from .engine import ClosedForm, Proof, Refutation, nats, obligation

DEFAULT = UNet2Config()

_N = size_symbol("n")
#: UNetUpH for the default config, as stated: the phantom cells of n in {0, 1} give 2.
UP = sp.Piecewise((2, _N < 2), (2 * sp.floor(_N / 2), True))


@obligation("round_trip")
def unet2_default_round_trip():
    """For the default UNet2Config and all n >= 2: UNetUpH n = n iff n is even."""
    (n,), nat = nats("n")
    up = unet_up(DEFAULT, n)
    return Proof([n], nat + [n >= 2], (up == n) == (n % 2 == 0), subjects=[up])


@obligation("round_trip", expect=UP)
def unet2_default_up_closed_form():
    """UNetUpH for the default config is {expect}: Z3 proves it equal to the chain for all
    n >= 0, and SymPy derives the same."""
    (n,), nat = nats("n")
    derived = derive(lambda m: unet_up(DEFAULT, m), lower=0)
    return ClosedForm(n, nat, unet_up(DEFAULT, n), derived.closed, UP)


@obligation("round_trip")
def round_trip_symbolic():
    """For all s >= 1 and n >= 1, with pool kernel = pool stride = up kernel = up stride = s
    and up padding 0: UNetUpH n = n iff s divides n."""
    (n, s), nat = nats("n s")
    cfg = UNet2Config(pool_kernel=s, pool_stride=s, up_kernel=s, up_stride=s, up_padding=0)
    up = unet_up(cfg, n)
    return Proof([n, s], nat + [n >= 1, s >= 1], (up == n) == (n % s == 0), subjects=[up])


def _all(obls: dict):
    return z3.And(*[z3.BoolVal(v) if isinstance(v, bool) else v for v in obls.values()])


def _terms(obls: dict) -> list:
    """The obligations that are Z3 terms (a reading may fold one to a constant)."""
    return [v for v in obls.values() if z3.is_expr(v)]


@obligation("unet2")
def unet2_default_obligations_iff_even():
    """For the default UNet2Config and all H, W >= 0 (Lean semantics): the eight obligations
    h_convH ... h_outW all hold iff H and W are even and >= 2."""
    (h, w), nat = nats("H W")
    good = z3.And(h % 2 == 0, h >= 2, w % 2 == 0, w >= 2)
    obls = unet2_obligations(DEFAULT, h, w)
    return Proof([h, w], nat, _all(obls) == good, subjects=_terms(obls))


@obligation("unet2")
def unet2_default_obligations_iff_even_torch():
    """The same in PyTorch semantics (every layer accepted and the sizes equal): for all
    H, W >= 0 the eight obligations hold iff H and W are even and >= 2."""
    (h, w), nat = nats("H W")
    good = z3.And(h % 2 == 0, h >= 2, w % 2 == 0, w >= 2)
    obls = unet2_obligations(DEFAULT, h, w, semantics="torch")
    return Proof([h, w], nat, _all(obls) == good, subjects=_terms(obls))


_FIELDS = ("pool_kernel pool_stride conv_kernel conv_stride conv_padding up_kernel up_stride "
           "up_padding head_kernel head_stride head_padding").split()


def _symbolic():
    (h, w, *params), nat = nats("H W " + " ".join(_FIELDS))
    cfg = UNet2Config(**dict(zip(_FIELDS, params, strict=True)))
    c = cfg
    conditions = {
        "conv_stride_1": c.conv_stride == 1,
        "conv_kernel_same": c.conv_kernel == 2 * c.conv_padding + 1,
        "pool_kernel_eq_pool_stride": c.pool_kernel == c.pool_stride,
        "pool_stride_eq_up_kernel": c.pool_stride == c.up_kernel,
        "up_kernel_eq_up_stride": c.up_kernel == c.up_stride,
        "up_padding_0": c.up_padding == 0,
        "head_kernel_same": c.head_kernel == 2 * c.head_padding + 1,
        "head_stride_1": c.head_stride == 1,
        "pool_stride_divides_H_W": z3.And(h % c.pool_stride == 0, w % c.pool_stride == 0),
    }
    # TorchLean's WF (kernels and the pool stride nonzero) and, so that counterexamples say
    # something about real networks, every stride nonzero too
    well_formed = [c.pool_kernel >= 1, c.pool_stride >= 1, c.conv_kernel >= 1,
                   c.up_kernel >= 1, c.head_kernel >= 1, c.conv_stride >= 1, c.up_stride >= 1,
                   c.head_stride >= 1, h >= 1, w >= 1]
    return [h, w, *params], nat + well_formed, cfg, conditions


@obligation("unet2")
def unet2_symbolic_sufficient():
    """For every well-formed UNet2Config and all H, W >= 1 (Lean semantics): conv stride 1,
    conv kernel = 2*conv padding + 1, pool kernel = pool stride = up kernel = up stride,
    up padding 0, head kernel = 2*head padding + 1, head stride 1 and pool stride dividing
    H and W together imply all eight obligations. Proved over the configurations that meet
    the conditions, written as s = pool stride >= 1, conv padding cp >= 0, head padding
    hp >= 0, H = s*a and W = s*b with a, b >= 1 (exactly the H, W >= 1 that s divides), one
    solver call per obligation."""
    (s, cp, hp, a, b), nat = nats("s cp hp a b")
    cfg = UNet2Config(pool_kernel=s, pool_stride=s, conv_kernel=2 * cp + 1, conv_stride=1,
                      conv_padding=cp, up_kernel=s, up_stride=s, up_padding=0,
                      head_kernel=2 * hp + 1, head_stride=1, head_padding=hp)
    parts = unet2_obligations(cfg, s * a, s * b)
    return Proof([s, cp, hp, a, b], nat + [s >= 1, a >= 1, b >= 1], parts,
                 subjects=_terms(parts))


def _needed(dropped: str):
    def build():
        xs, hyps, cfg, conditions = _symbolic()
        kept = [c for name, c in conditions.items() if name != dropped]

        def confirm(v):
            concrete = UNet2Config(**{f: v[f] for f in _FIELDS})
            failing = [k for k, ok in unet2_obligations(concrete, v["H"], v["W"]).items()
                       if not ok]
            return f"fails {', '.join(failing)}" if failing else None

        return Refutation(xs, hyps + kept, _all(unet2_obligations(cfg, xs[0], xs[1])), confirm,
                          box=8)

    build.__name__ = f"unet2_needs_{dropped}"
    build.__doc__ = (f"Refuted: the sufficient condition without {dropped} still implies the "
                     "eight obligations. Z3's counterexample shows the condition is needed.")
    return build


for _name in ("conv_stride_1 conv_kernel_same pool_kernel_eq_pool_stride "
              "pool_stride_eq_up_kernel up_kernel_eq_up_stride up_padding_0 head_kernel_same "
              "head_stride_1 pool_stride_divides_H_W").split():
    obligation("unet2")(_needed(_name))
