"""Reading and writing TorchLean's JSON files: bounded, strict, never a traceback.

:func:`read_json` reads a file of at most ``max_bytes`` bytes as JSON; a file that cannot
be read, is not UTF-8, is not JSON, nests too deeply or holds a number Python cannot
convert is one :class:`~nnbridge.spec.errors.UsageError` (``Rule.CONFIG_FILE``, or
``Rule.WORK_LIMIT`` for a file above the limit). ``NaN`` and ``Infinity`` are not JSON:
they are read as a marker that the tensor reader refuses by key.

:func:`read_tensor` reads one nested-list tensor as TorchLean's reader does
(``Import/Core.lean``): it must nest exactly to the requested shape at every level and its
leaves must be numbers (``bool``, ``null``, strings refused), read as float64.
:func:`write_json` writes with ``allow_nan=False``, atomically (a temporary file renamed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nnbridge.spec.errors import Rule, UsageError

__all__ = [
    "MAX_IR_BYTES",
    "MAX_TENSOR_BYTES",
    "NOT_A_NUMBER",
    "nested_shape",
    "read_json",
    "read_tensor",
    "tensor_to_json",
    "write_json",
]

#: The largest IR graph file read (a graph of 20,000 nodes is far below it).
MAX_IR_BYTES = 32 * 2**20

#: The largest weight-store or state-dict file read (about 12 million parameters as JSON).
MAX_TENSOR_BYTES = 256 * 2**20


class _NotANumber:
    """What ``NaN``, ``Infinity`` and ``-Infinity`` read as: not a JSON number."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


#: The type of the marker :func:`read_json` puts where a file says ``NaN`` or ``Infinity``.
NOT_A_NUMBER = _NotANumber


def read_json(path, *, max_bytes: int, what: str) -> Any:
    """The JSON value in ``path`` (``what`` names the file's role in messages)."""
    where = f"{what} {str(path)!r}"
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise UsageError(Rule.WORK_LIMIT, name=f"the size of {where}", value=f"{size} bytes",
                             limit=f"{max_bytes} bytes", detail="a larger file is refused")
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except UsageError:
        raise
    except (OSError, ValueError) as exc:
        raise UsageError(Rule.CONFIG_FILE, path=where,
                         detail=getattr(exc, "strerror", None) or type(exc).__name__) from None
    if len(data) > max_bytes:
        raise UsageError(Rule.WORK_LIMIT, name=f"the size of {where}", value="more bytes",
                         limit=f"{max_bytes} bytes", detail="a larger file is refused")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(Rule.CONFIG_FILE, path=where,
                         detail=f"not UTF-8 text (byte {exc.start})") from None
    return parse_json(text, where)


def parse_json(text: str, where: str) -> Any:
    """``text`` as JSON, or ``Rule.CONFIG_FILE`` naming ``where`` and the reason."""
    try:
        return json.loads(text, parse_constant=_NotANumber)
    except RecursionError:
        raise UsageError(Rule.CONFIG_FILE, path=where, detail="JSON nested too deeply") \
            from None
    except ValueError as exc:  # JSONDecodeError, and ints past Python's digit limit
        detail = " ".join(str(exc).split())[:160]
        raise UsageError(Rule.CONFIG_FILE, path=where, detail=f"not JSON: {detail}") from None


def _is_number(value) -> bool:
    return type(value) in (int, float)  # never bool (a subclass of int)


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, _NotANumber):
        return f"{value.text} (not a JSON number)"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return type(value).__name__


def _fail(key: str, where: str, detail: str) -> UsageError:
    return UsageError(Rule.DESCRIPTION_VALUE, where=f"{where}: key {key!r}", detail=detail)


def nested_shape(value, key: str, where: str) -> tuple[int, ...]:
    """The shape a nested list has along its first elements (a number: ``()``)."""
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
        if len(shape) > 64:
            raise _fail(key, where, "nested more than 64 levels deep")
    return tuple(shape)


def read_tensor(value, shape: tuple[int, ...], key: str, where: str):
    """``value`` as a float64 array of exactly ``shape``: nested lists to that shape at
    every level, numbers at the leaves (TorchLean's reader), each finite."""
    import numpy as np

    shape = tuple(shape)

    def walk(v, depth: int, index: tuple):
        at = "".join(f"[{i}]" for i in index)
        if depth == len(shape):
            if not _is_number(v):
                raise _fail(key, where, f"element {at or '(the value)'} is {_describe(v)}, "
                                        "not a number")
            return
        if not isinstance(v, list):
            expected = f"a list of {shape[depth]}"
            got = "a number" if _is_number(v) else _describe(v)
            raise _fail(key, where, f"expected shape {list(shape)}: {at or 'the value'} "
                                    f"should be {expected}, got {got}")
        if len(v) != shape[depth]:
            raise _fail(key, where, f"expected shape {list(shape)}: {at or 'the value'} has "
                                    f"{len(v)} entries at level {depth}, not {shape[depth]}")
        if depth + 1 == len(shape):
            bad = next((i for i, x in enumerate(v) if not _is_number(x)), None)
            if bad is not None:
                raise _fail(key, where, f"element {at}[{bad}] is {_describe(v[bad])}, not a "
                                        "number")
            return
        for i, x in enumerate(v):
            walk(x, depth + 1, index + (i,))

    walk(value, 0, ())
    try:
        array = np.array(value, dtype=np.float64)
    except OverflowError:
        raise _fail(key, where, "a number too large for a 64-bit float") from None
    if array.shape != shape:  # pragma: no cover - the walk above rules it out
        raise _fail(key, where, f"expected shape {list(shape)}, got {list(array.shape)}")
    if not np.isfinite(array).all():
        raise _fail(key, where, "a number too large for a 64-bit float (it reads as infinity)")
    return array


def tensor_to_json(array, key: str):
    """A finite array as nested lists (a 0-d array as a bare number)."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        raise UsageError(Rule.DESCRIPTION_VALUE, where=f"key {key!r}",
                         detail=f"a tensor of numbers is needed, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise UsageError(Rule.DESCRIPTION_VALUE, where=f"key {key!r}",
                         detail="NaN or infinity is not JSON (TorchLean's files are written "
                                "with allow_nan=False)")
    return array.astype(np.float64).tolist() if array.ndim else float(array)


def write_json(path, payload: Any, *, sort_keys: bool = False, indent: int | None = None) -> Path:
    """Write ``payload`` to ``path`` with ``allow_nan=False``, through a temporary file."""
    from nnbridge.report import check_output

    target = check_output(path)
    try:
        text = json.dumps(payload, allow_nan=False, sort_keys=sort_keys, indent=indent)
    except ValueError as exc:
        raise UsageError(Rule.OUTPUT_PATH, path=repr(str(path)),
                         detail=f"not writable as JSON: {exc}") from None
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
        os.replace(temporary, target)
    except OSError as exc:
        try:
            temporary.unlink()
        except OSError:
            pass
        raise UsageError(Rule.OUTPUT_PATH, path=repr(str(path)),
                         detail=exc.strerror or type(exc).__name__) from None
    return target

