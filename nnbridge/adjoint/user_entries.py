"""Entries for YOUR code, and loading a module of them (``--entries``, ``--adjoint-entries``).

A module of entries is plain Python: one line per PyTorch callable, one per NumPy forward
with its VJP, and ``@entry`` builders for anything else::

    from nnbridge.adjoint import numpy_entry, torch_entry
    from mylib import MyMatMul, my_conv, my_conv_vjp

    torch_entry("mylib.matmul", MyMatMul.apply, (8, 6), (6, 5))
    numpy_entry("mylib.conv", my_conv, my_conv_vjp, (1, 3, 8, 8), (4, 3, 3, 3))

:func:`load_entries` imports such a module (``path/to/file.py`` or ``package.module``) and
returns the entries it declared. A file is executed as a module of its own, its folder
first on ``sys.path`` (as ``python file.py`` would have it), so it can import its
neighbours; executed again on every load, its entries replace those of the last load.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from nnbridge.spec.errors import NNBridgeError, Rule, UsageError

from .operands import check_callable
from .probe import FLOAT_FACTOR, options
from .registry import Entry, entries_of, forget, register

__all__ = ["load_entries", "numpy_entry", "torch_entry"]


def _caller_module(depth: int = 2) -> str:
    return sys._getframe(depth).f_globals.get("__name__", "") or ""


def _name(where: str, name) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise UsageError(Rule.PARAM_VALUE, name=f"{where}: name",
                         detail=f"a non-empty string of at most 200 characters is needed, got "
                                f"{name!r:.60}")
    return name


def _builder(name: str):
    def build(s):
        raise TypeError(f"{name} runs its own checks (check_torch / check_numpy): run it "
                        "with nnbridge.adjoint.run_entry or `nnbridge adjoint --entries`")
    return build


def torch_entry(name: str, fn, *inputs, modes=None, trials: int = 3,
                float_factor: float = FLOAT_FACTOR) -> Entry:
    """Declare (and register) an entry that runs :func:`~nnbridge.adjoint.check_torch` on
    ``fn`` with ``inputs``; ``--trials`` and ``--seed`` of the command line override
    ``trials`` and the seed. The inputs are validated now, so a bad shape fails the load."""
    from .torch_check import TorchTarget, import_torch

    name = _name("torch_entry", name)
    check_callable("torch_entry", "fn", fn)
    modes, trials, _, factor = options("torch_entry", modes, trials, 0, float_factor)
    TorchTarget(import_torch(), fn, inputs, name, where="torch_entry")

    def run(seed: int, override: int | None) -> list:
        from .torch_check import check_torch

        return check_torch(fn, *inputs, modes=modes, trials=override or trials, seed=seed,
                           name=name, float_factor=factor).timed()

    return register(Entry(name, _builder(name), exact="exact" in modes, fd="fd" in modes,
                          float_factor=factor, trials=trials,
                          doc=(getattr(fn, "__doc__", "") or "").strip(),
                          module=_caller_module(), run=run))


def numpy_entry(name: str, forward, vjp, *inputs, jvp=None, modes=None, trials: int = 3,
                float_factor: float = FLOAT_FACTOR) -> Entry:
    """Declare (and register) an entry that runs :func:`~nnbridge.adjoint.check_numpy` on
    ``forward`` and ``vjp`` (and ``jvp``) with ``inputs``."""
    from .numpy_check import NumpyTarget

    name = _name("numpy_entry", name)
    check_callable("numpy_entry", "forward", forward)
    check_callable("numpy_entry", "vjp", vjp)
    if jvp is not None:
        check_callable("numpy_entry", "jvp", jvp)
    modes, trials, _, factor = options("numpy_entry", modes, trials, 0, float_factor)
    NumpyTarget(forward, vjp, jvp, inputs, name, where="numpy_entry")

    def run(seed: int, override: int | None) -> list:
        from .numpy_check import check_numpy

        return check_numpy(forward, vjp, *inputs, jvp=jvp, modes=modes,
                           trials=override or trials, seed=seed, name=name,
                           float_factor=factor).timed()

    return register(Entry(name, _builder(name), exact="exact" in modes, fd="fd" in modes,
                          float_factor=factor, trials=trials,
                          doc=(getattr(forward, "__doc__", "") or "").strip(),
                          module=_caller_module(), run=run))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = " ".join(str(exc).split())
    return f"raised {type(exc).__name__}: {text[:200]}" if text else f"raised {type(exc).__name__}"


def _run_module(spec: str, name: str, path: Path):
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(Rule.USER_CODE, where=repr(spec), detail="not a Python file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look a module up by name
    module_spec.loader.exec_module(module)
    return module


def _path_name(path: Path) -> str:
    """The module name a file of entries is executed under (one per resolved path)."""
    return f"nnbridge_user_entries_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"


def _forget_file(path: Path, keep: str) -> None:
    """Drop the entries of every module but ``keep`` that was executed from ``path``: one
    file loaded as ``path/to/entries.py`` and as ``package.entries`` is one module."""
    for name in {_path_name(path)} | {
            name for name, module in list(sys.modules.items())
            if isinstance(getattr(module, "__file__", None), str)
            and _same_file(module.__file__, path)}:
        if name != keep:
            forget(name)


def _same_file(text: str, path: Path) -> bool:
    try:
        return Path(text).resolve() == path
    except (OSError, ValueError):
        return False


def load_entries(spec: str) -> list[Entry]:
    """Import the module ``spec`` names (``path/to/file.py`` or ``package.module``) and
    return the entries it declares.

    Raises
    ------
    UsageError
        ``Rule.CONFIG_FILE`` for a file that does not exist, ``Rule.USER_CODE`` when the
        module does not import (whatever it raised, ``sys.exit`` included) or declares no
        entry, ``Rule.PARAM_VALUE`` for a name that is neither; an nnbridge error raised by
        a declaration (a bad shape in ``torch_entry``) as it is.
    """
    if not isinstance(spec, str) or not spec.strip() or len(spec) > 4096:
        raise UsageError(Rule.PARAM_VALUE, name="entries",
                         detail=f"a .py path or a module name is needed, got {spec!r:.60}")
    is_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    if is_path:
        path = Path(spec)
        if not path.is_file():
            raise UsageError(Rule.CONFIG_FILE, path=repr(spec), detail="no such file")
        path = path.resolve()
        name = _path_name(path)
    else:
        if not all(part.isidentifier() for part in spec.split(".")):
            raise UsageError(Rule.PARAM_VALUE, name="entries",
                             detail=f"{spec!r:.80} is neither a .py path nor a module name "
                                    "(package.module)")
        name = spec
    try:
        if is_path:
            forget(name)  # executed afresh: entries it no longer declares go
            _forget_file(path, name)
            module = _run_module(spec, name, path)
        else:
            found = importlib.util.find_spec(name)
            if found is not None and found.origin and name not in sys.modules:
                _forget_file(Path(found.origin).resolve(), name)
            module = importlib.import_module(name)
            if not entries_of(module.__name__):  # imported before, its entries since dropped
                module = importlib.reload(module)
    except KeyboardInterrupt:
        raise
    except NNBridgeError:
        forget(name)
        raise
    except BaseException as exc:  # the user's code: say what it did, SystemExit included
        forget(name)
        if is_path:
            sys.modules.pop(name, None)
        raise UsageError(Rule.USER_CODE, where=repr(spec),
                         detail=f"importing it {_describe(exc)}") from None
    found = entries_of(module.__name__)
    if not found:
        raise UsageError(Rule.USER_CODE, where=repr(spec),
                         detail="declares no adjoint entry: call torch_entry(...) or "
                                "numpy_entry(...), or decorate a builder with @entry(...)")
    return found
