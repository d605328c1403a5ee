"""Loading a user's model for ``--model``: ``PATH.py:FACTORY`` or ``package.module:Callable``.

The factory is called with the keyword arguments of ``--kwargs`` (a JSON object) and must
return an ``nn.Module``. Everything that can go wrong (no such file, an import that
raises, no such name, a factory that raises or returns something else, malformed
``--kwargs``) is one :class:`~nnbridge.spec.errors.UsageError` with rule ``model_load``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path

from nnbridge.spec.errors import Rule, UsageError

__all__ = ["MAX_KWARGS_BYTES", "infer_spatial_dims", "load_model", "parse_kwargs"]

#: The largest ``--kwargs`` text accepted.
MAX_KWARGS_BYTES = 2**16


def _fail(spec: str, detail: str) -> UsageError:
    return UsageError(Rule.MODEL_LOAD, spec=spec, detail=detail)


def parse_kwargs(text: str | None) -> dict:
    """``--kwargs`` as a dict: a JSON object of at most :data:`MAX_KWARGS_BYTES` bytes."""
    if text is None:
        return {}
    if len(text.encode("utf-8", "replace")) > MAX_KWARGS_BYTES:
        raise _fail("--kwargs", f"more than {MAX_KWARGS_BYTES} bytes")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _fail("--kwargs", f"not JSON: {' '.join(str(exc).split())[:120]}") from None
    if not isinstance(value, dict):
        raise _fail("--kwargs", f"a JSON object is needed, got {type(value).__name__}")
    return value


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _module_from_path(spec: str, path: Path):
    if not path.is_file():
        raise _fail(spec, f"no file {str(path)!r}")
    name = f"nnbridge_user_model_{abs(hash(str(path.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise _fail(spec, f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's code: SystemExit included
        sys.modules.pop(name, None)
        raise _fail(spec, f"importing {str(path)!r} raised {_describe(exc)}") from None
    return module


def load_model(spec: str, kwargs: dict | None = None):
    """The ``nn.Module`` that ``spec`` names, built with ``kwargs``."""
    if not isinstance(spec, str) or ":" not in spec:
        raise _fail(str(spec), "write PATH.py:FACTORY or package.module:Callable")
    where, _, attr = spec.rpartition(":")
    if not where or not attr.isidentifier():
        raise _fail(spec, "write PATH.py:FACTORY or package.module:Callable")
    try:
        import torch
    except ImportError:
        raise _fail(spec, "PyTorch is not installed: pip install 'nnbridge[torch]'") from None
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = _module_from_path(spec, Path(where))
    else:
        try:
            module = importlib.import_module(where)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise _fail(spec, f"importing {where!r} raised {_describe(exc)}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        names = sorted(k for k, v in vars(module).items()
                       if callable(v) and not k.startswith("_"))[:20]
        raise _fail(spec, f"{where!r} has no {attr!r}; callables there: {', '.join(names)}")
    if isinstance(factory, torch.nn.Module):
        model = factory
    elif callable(factory):
        try:
            model = factory(**(kwargs or {}))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise _fail(spec, f"calling {attr}(**kwargs) raised {_describe(exc)}") from None
    else:
        raise _fail(spec, f"{attr!r} is a {type(factory).__name__}, not a function")
    if not isinstance(model, torch.nn.Module):
        raise _fail(spec, f"{attr}() returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def infer_spatial_dims(module) -> int:
    """1, 2 or 3: the rank of the first convolution or pooling module (``Conv2d`` -> 2)."""
    for m in module.modules():
        name = type(m).__name__
        if type(m).__module__.startswith("torch.nn") and ("Conv" in name or "Pool" in name):
            for d in (1, 2, 3):
                if name.endswith(f"{d}d"):
                    return d
    raise UsageError(f"cannot tell how many spatial axes {type(module).__name__} has (no "
                     "convolution or pooling module): give --spatial-dims",
                     rule=Rule.DESCRIPTION_VALUE)
