"""Fuzz every op record: a bad argument gives a ShapeError naming a rule, or a correct result.

For each op, Hypothesis draws a valid case (shape first, from the record), then corrupts one
thing: an operand (None, a list, an int/bool/float16 array, a wrong rank or size, the other
float dtype), a static argument (negative, zero, a float, a bool, a string, a huge or
thousand-digit int, a tuple of the wrong length, None), the VJP's ``grad_y`` or a JVP tangent
(None for grad_y, bool, int, wrong shape, wrong dtype). The op must raise an
:class:`~nnbridge.spec.errors.NNBridgeError` with a :class:`~nnbridge.spec.errors.Rule`, or
return what PyTorch returns on the same arguments (an argument PyTorch refuses must be refused).
Never another exception, never a silent answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from nnbridge.spec.errors import NNBridgeError, Rule
from nnbridge.spec.ops import ops
from nnbridge.spec.strategies import op_cases

torch.set_num_threads(1)

BAD_STATIC = [-1, 0, 1.5, True, "2", None, 10**400, 2**40, (1,) * 5, (), [[1]], np.int64(1)]
RAN = {"examples": 0, "refused": 0, "answered": 0}


def _bad_arrays(value: np.ndarray):
    other = np.float32 if value.dtype == np.float64 else np.float64
    bigger = tuple(n + 1 for n in value.shape)
    return [None, value.tolist(), value.astype(np.int64), value > 0, value.astype(np.float16),
            value[None], value.reshape(-1) if value.ndim > 1 else value[:, None],
            np.zeros(bigger, value.dtype), value.astype(other), 3.0]


def _outcome(call):
    """``("refused", rule)`` or ``("answered", value)``; any other exception fails the test."""
    try:
        return "refused", call()
    except NNBridgeError as exc:
        assert isinstance(exc.rule, Rule) and str(exc)
        return "refused", None
    except Exception as exc:  # noqa: BLE001 - the point: nothing else may escape
        pytest.fail(f"{type(exc).__name__} escaped: {exc}")


def _torch_value(op, values, static):
    try:
        tensors = {n: None if v is None else torch.as_tensor(v) for n, v in values.items()}
        return op.torch(**tensors, **static).numpy()
    except Exception:  # noqa: BLE001 - PyTorch refuses: nnbridge must refuse too
        return None


@pytest.mark.parametrize("op", ops(), ids=lambda op: op.name)
@settings(max_examples=40)
@given(data=st.data())
def test_bad_arguments_are_refused_or_answered_correctly(op, data):
    case = data.draw(op_cases(op))
    values, static = dict(case.values), dict(case.static)
    target = data.draw(st.sampled_from(["operand", "grad_y", "tangent"]
                                       + (["static"] if op.static else [])))
    RAN["examples"] += 1
    y = op.call(values, **static)
    if target == "operand":
        name = data.draw(st.sampled_from(op.operands))
        values[name] = data.draw(st.sampled_from(_bad_arrays(values[name])))
    elif target == "static":
        name = data.draw(st.sampled_from(op.static))
        static[name] = data.draw(st.sampled_from(BAD_STATIC))
    if target in ("operand", "static"):
        try:
            status = "answered"
            got = op.call(values, **static)
        except NNBridgeError as exc:
            assert isinstance(exc.rule, Rule)
            status, got = "refused", None
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"{op.name}: {type(exc).__name__} escaped for {target}: {exc}")
        if status == "answered":
            RAN["answered"] += 1
            ref = _torch_value(op, values, static)
            assert ref is not None, f"{op.name}: accepted what PyTorch refuses ({target})"
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
        else:
            RAN["refused"] += 1
        return
    if target == "grad_y":
        bad = data.draw(st.sampled_from(_bad_arrays(y)[:-2] + [y.astype(
            np.float32 if y.dtype == np.float64 else np.float64)]))
        call = lambda: op.call_vjp(values, bad, **static)  # noqa: E731
    else:
        name = data.draw(st.sampled_from(op.operands))
        bad = data.draw(st.sampled_from(_bad_arrays(values[name])[1:]))
        call = lambda: op.call_jvp(values, {name: bad}, **static)  # noqa: E731
    try:
        call()
    except NNBridgeError as exc:
        assert isinstance(exc.rule, Rule)
        RAN["refused"] += 1
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{op.name}: {type(exc).__name__} escaped for a bad {target}: {exc}")
    pytest.fail(f"{op.name}: a bad {target} was accepted silently")


def test_fuzz_ran():
    """Report the figures (run after the fuzz tests, in file order)."""
    print(f"op fuzz: {RAN}")
    assert RAN["examples"] == 0 or RAN["refused"] > 0
