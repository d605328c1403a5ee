"""TorchLean's state-dict JSON (``TorchLean.MLP``, ``TorchLean.CNN2`` and the generic
adapter's files), read into nnbridge's spec models and written back.

Reading follows TorchLean's reader (``Import/Core.lean``): the root is ``{key: tensor}`` or
``{"params": {...}, ...}``, where the other top-level keys are merged in and win over a
same-named parameter (``meta`` is informative); a tensor nests exactly to the shape the
model asks for, its leaves numbers, read as float64. nnbridge is stricter where TorchLean
is silent: a key the model does not have is an error too (``meta`` aside), naming the key.

* :func:`load` returns the spec model with its parameters: :class:`~nnbridge.spec.models.MLP`
  (``fc1.*``/``fc2.*``, or else ``layers.0.*``/``layers.2.*``; the ``fc`` set is tried
  first) or :class:`~nnbridge.spec.models.CNN2` (TorchLean's quirk: one ``C`` for both
  convolutions and the classes; its classifier named ``fc`` as in the file). The family is
  ``meta.format`` when the file names one, else recognised by its keys.
* :func:`load_state_dict` reads any state dict (the generic adapter's ``meta`` shapes are
  checked when present).
* :func:`save` and :func:`save_state_dict` write them, with ``allow_nan=False``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from nnbridge.spec.errors import Rule, UsageError

from .jsonio import (
    MAX_TENSOR_BYTES,
    nested_shape,
    read_json,
    read_tensor,
    tensor_to_json,
    write_json,
)

__all__ = [
    "CNN2_KEYS",
    "MLP_KEYS",
    "load",
    "load_state_dict",
    "params_view",
    "save",
    "save_state_dict",
]

#: TorchLean's MLP keys: the ``fc`` set, tried first, and PyTorch's ``nn.Sequential`` set.
MLP_KEYS = {
    "fc": ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"),
    "layers": ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"),
}

#: TorchLean's CNN2 keys, in layer order.
CNN2_KEYS = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias")

_INFORMATIVE = ("meta",)


def _fail(where: str, detail: str) -> UsageError:
    return UsageError(Rule.DESCRIPTION_VALUE, where=where, detail=detail)


def params_view(data, where: str) -> tuple[dict, dict]:
    """``(parameters, meta)`` of a state-dict JSON value, as TorchLean's reader sees it."""
    if not isinstance(data, dict):
        raise UsageError(Rule.CONFIG_FILE, path=where,
                         detail=f"the root must be a JSON object, got {type(data).__name__}")
    if "params" in data:
        params = data["params"]
        if not isinstance(params, dict):
            raise _fail(f"{where}: key 'params'", "must be an object of tensors")
        merged = dict(params)
        for key, value in data.items():
            if key != "params":
                merged[key] = value  # TorchLean: the other top-level keys win
    else:
        merged = dict(data)
    meta = data.get("meta")
    return merged, meta if isinstance(meta, dict) else {}


def _keys_of(merged: dict) -> list[str]:
    return [k for k in merged if k not in _INFORMATIVE]


def _tensor(merged: dict, key: str, shape, where: str):
    if key not in merged:
        raise _fail(f"{where}: key {key!r}", "missing key")
    return read_tensor(merged[key], tuple(shape), key, where)


def _shape_of(merged: dict, key: str, rank: int, where: str) -> tuple:
    """The shape of ``merged[key]`` (``rank`` axes), read from its nesting."""
    if key not in merged:
        raise _fail(f"{where}: key {key!r}", "missing key")
    shape = nested_shape(merged[key], key, where)
    if len(shape) != rank:
        raise _fail(f"{where}: key {key!r}", f"expected a tensor of {rank} axes, got one of "
                                             f"{len(shape)} (shape {list(shape)})")
    return shape


def _extra(merged: dict, wanted, where: str) -> None:
    extra = [k for k in _keys_of(merged) if k not in wanted]
    if extra:
        raise _fail(f"{where}: key {extra[0]!r}", f"not a parameter of the model (extra keys: "
                                                  f"{sorted(extra)[:8]}; expected "
                                                  f"{list(wanted)})")


def _read(path) -> tuple[dict, dict, str]:
    where = repr(str(path))
    data = read_json(path, max_bytes=MAX_TENSOR_BYTES, what="the state dict")
    merged, meta = params_view(data, where)
    return merged, meta, where


# --------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------
def _load_mlp(merged: dict, where: str):
    import numpy as np

    from nnbridge.spec.models import MLP

    names = MLP_KEYS["fc"]
    if not all(k in merged for k in names) and all(k in merged for k in MLP_KEYS["layers"]):
        names = MLP_KEYS["layers"]
    w1, b1, w2, b2 = names
    hidden, in_dim = _shape_of(merged, w1, 2, where)
    out_dim = _shape_of(merged, w2, 2, where)[0]
    values = {w1: _tensor(merged, w1, (hidden, in_dim), where),
              b1: _tensor(merged, b1, (hidden,), where),
              w2: _tensor(merged, w2, (out_dim, hidden), where),
              b2: _tensor(merged, b2, (out_dim,), where)}
    _extra(merged, names, where)
    if min(hidden, in_dim, out_dim) == 0:
        raise _fail(f"{where}: key {w1!r}", "an MLP needs I, H and O of at least 1")
    model = MLP(in_dim, hidden, out_dim, dtype=np.float64)
    return model.with_params(dict(zip(MLP_KEYS["fc"], values.values(), strict=True)))


def _cnn2_size(cfg, c: int, feat: int, in_shape, where: str) -> tuple[int, int]:
    """The input ``(H, W)``: given, or the least square size whose features number
    ``feat = C * H2 * W2`` through the chain's formulas."""
    from nnbridge.spec.errors import ShapeError
    from nnbridge.spec.shapes import cnn2_feat_size

    if in_shape is not None:
        return tuple(in_shape)[-2:]
    side = math.isqrt(feat // c) if c and feat % c == 0 else 0
    if side * side * c == feat and side:
        for n in range(1, 8 * side + 4 * cfg.k_h + 8):
            try:
                if cnn2_feat_size(cfg, n, n, semantics="torch") == feat:
                    return n, n
            except ShapeError:  # a size PyTorch refuses: try the next
                continue
    raise _fail(f"{where}: key 'fc.weight'",
                f"cannot tell the input size from {feat} features and {c} channels: pass "
                "in_shape=(C_in, H, W)")


def _load_cnn2(merged: dict, where: str, in_shape=None, config=None):
    from dataclasses import replace

    import numpy as np

    from nnbridge.spec.models import CNN2
    from nnbridge.spec.shapes import CNN2Config, cnn2_feat_size

    c, in_c, k, k_w = _shape_of(merged, "conv1.weight", 4, where)
    if k != k_w:
        raise _fail(f"{where}: key 'conv1.weight'",
                    f"TorchLean's CNN2 has square kernels, got {k}x{k_w}")
    feat = _shape_of(merged, "fc.weight", 2, where)[1]
    cfg = config if config is not None else replace(CNN2Config(), c1=c, c2=c, out_dim=c,
                                                    k_h=k, k_w=k)
    h, w = _cnn2_size(cfg, c, feat, in_shape, where)
    expected = cnn2_feat_size(cfg, h, w, semantics="torch")
    shapes = {"conv1.weight": (cfg.c1, in_c, cfg.k_h, cfg.k_w), "conv1.bias": (cfg.c1,),
              "conv2.weight": (cfg.c2, cfg.c1, cfg.k_h, cfg.k_w), "conv2.bias": (cfg.c2,),
              "fc.weight": (cfg.out_dim, expected), "fc.bias": (cfg.out_dim,)}
    values = {key: _tensor(merged, key, shape, where) for key, shape in shapes.items()}
    _extra(merged, CNN2_KEYS, where)
    model = CNN2(cfg, in_c, h, w, dtype=np.float64, head="fc")
    return model.with_params(values)


def _family(merged: dict, meta: dict, where: str) -> str:
    stated = meta.get("format")
    if stated in ("TorchLean.MLP", "TorchLean.CNN2"):
        return stated
    keys = set(_keys_of(merged))
    if any(set(names) <= keys for names in MLP_KEYS.values()):
        return "TorchLean.MLP"
    if set(CNN2_KEYS) <= keys:
        return "TorchLean.CNN2"
    shown = sorted(keys)[:12]
    raise _fail(where, f"its keys {shown} are neither TorchLean.MLP's ({list(MLP_KEYS['fc'])} "
                       f"or {list(MLP_KEYS['layers'])}) nor TorchLean.CNN2's "
                       f"({list(CNN2_KEYS)}); nnbridge.torchlean.load_state_dict reads any "
                       "state dict")


def load(path, *, in_shape=None, config=None):
    """The spec model a TorchLean state-dict JSON file holds, with its parameters.

    Parameters
    ----------
    path
        A ``TorchLean.MLP`` or ``TorchLean.CNN2`` file, or a generic state dict with either
        model's keys.
    in_shape : (C_in, H, W), optional
        CNN2's input image; by default the least square size whose features number the
        classifier's input width.
    config : CNN2Config, optional
        CNN2's layers, when they are not TorchLean's (3x3 convolutions with padding 1, 2x2
        max pools of stride 2, one ``C``).

    Raises
    ------
    UsageError
        The key at fault named: missing, extra, wrongly nested, of another shape, or not
        numbers (bool, null, strings, NaN).
    """
    merged, meta, where = _read(path)
    family = _family(merged, meta, where)
    if family == "TorchLean.MLP":
        return _load_mlp(merged, where)
    return _load_cnn2(merged, where, in_shape, config)


def load_state_dict(path) -> dict:
    """Every tensor of a state-dict JSON file as a float64 array, by key; the shapes the
    generic adapter records in ``meta`` (``{key: {"shape": [...]}}``) are required."""
    merged, meta, where = _read(path)
    out = {}
    for key in _keys_of(merged):
        recorded = meta.get(key)
        if isinstance(recorded, dict) and isinstance(recorded.get("shape"), list):
            shape = recorded["shape"]
            if not all(type(n) is int and n >= 0 for n in shape):
                raise _fail(f"{where}: meta of key {key!r}", f"shape {shape} is not a list "
                                                             "of naturals")
        else:
            shape = nested_shape(merged[key], key, where)
        out[key] = read_tensor(merged[key], tuple(shape), key, where)
    return out


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------
def _dtype_name(array) -> str:
    return f"torch.{array.dtype}"


def save_state_dict(params: Mapping, path, *, meta: dict | None = None):
    """Write ``{"params": {key: nested lists}, "meta": {key: {"shape", "dtype"}, ...}}``
    (the generic adapter's form, keys sorted); ``meta`` adds entries (e.g. ``format``)."""
    import numpy as np

    payload_params, payload_meta = {}, {}
    for key, value in params.items():
        array = np.asarray(value)
        payload_params[key] = tensor_to_json(array, key)
        payload_meta[key] = {"shape": list(array.shape), "dtype": _dtype_name(array)}
    payload_meta.update(meta or {})
    return write_json(path, {"params": payload_params, "meta": payload_meta}, sort_keys=True)


def save(model, path, *, keys: str = "fc"):
    """Write a spec model in TorchLean's form: an :class:`~nnbridge.spec.models.MLP` as
    ``TorchLean.MLP`` (``keys="fc"``: ``fc1.*``, ``fc2.*``; ``keys="layers"``: PyTorch's
    ``layers.0.*``, ``layers.2.*``), a :class:`~nnbridge.spec.models.CNN2` with one ``C``
    and TorchLean's layers as ``TorchLean.CNN2`` (classifier ``fc``); any other model as a
    generic state dict of its parameters."""
    import numpy as np

    from nnbridge.spec.models import CNN2, MLP

    if isinstance(model, MLP):
        if keys not in MLP_KEYS:
            raise UsageError(Rule.PARAM_VALUE, name="keys",
                             detail=f"'fc' or 'layers', got {keys!r}")
        values = dict(zip(MLP_KEYS[keys], model.params.values(), strict=True))
        meta = {"format": "TorchLean.MLP", "dtype": str(model.dtype)}
        if keys == "layers":
            meta["pytorch_keys"] = "layers.*"
        return _write_family(values, path, meta)
    if isinstance(model, CNN2):
        cfg = model.cfg
        from dataclasses import replace

        from nnbridge.spec.shapes import CNN2Config

        torchlean = replace(CNN2Config(), c1=cfg.c1, c2=cfg.c1, out_dim=cfg.c1, k_h=cfg.k_h,
                            k_w=cfg.k_h)
        if cfg != torchlean:
            raise UsageError(Rule.PARAM_VALUE, name="model",
                             detail="TorchLean.CNN2 has one C for both convolutions and the "
                                    "classes, square kernels, padding 1 and 2x2 pools of "
                                    f"stride 2; this CNN2 has {cfg}: write it with "
                                    "save_state_dict")
        values = dict(zip(CNN2_KEYS, model.params.values(), strict=True))
        return _write_family(values, path, {"format": "TorchLean.CNN2",
                                            "dtype": str(model.dtype)})
    params = getattr(model, "params", model)
    if not isinstance(params, Mapping):
        raise UsageError(Rule.PARAM_VALUE, name="model",
                         detail=f"a spec model or a mapping of arrays, got "
                                f"{type(model).__name__}")
    return save_state_dict({k: np.asarray(v) for k, v in params.items()}, path)


def _write_family(values: dict, path, meta: dict):
    params = {key: tensor_to_json(value, key) for key, value in values.items()}
    return write_json(path, {"params": params, "meta": meta}, sort_keys=True)
