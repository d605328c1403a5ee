"""``nnbridge kernels check``: the user's code never leaks its exit status, and the options
are bounded; a failing kernel is exit 1, bad input exit 2 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nnbridge.cli import main

USER_MODULE = '''
import sys

class Boom(BaseException):
    pass

def exits(*args):
    sys.exit(3)

def exits_zero(*args):
    sys.exit(0)

def raises_base(*args):
    raise Boom("the user's own BaseException")

def wrong(x, kernel, stride, padding):
    import numpy as np
    return np.zeros(1)
'''


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:  # would be a leak: the tests below require a return value
        code = ("leaked SystemExit", exc.code)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def module(tmp_path):
    path = tmp_path / "userkernels.py"
    path.write_text(USER_MODULE)
    return path


@pytest.mark.parametrize(("name", "words"), [
    ("exits", "called sys.exit(3)"),
    ("exits_zero", "called sys.exit(0)"),
    ("raises_base", "raised Boom: the user's own BaseException"),
])
def test_a_kernel_that_exits_is_user_code_exit_2(module, name, words, capsys):
    code, out, err = run(["kernels", "check", "max_pool", f"{module}:{name}", "--ranks", "1",
                          "--examples", "3"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("nnbridge: error [user_code] ")
    assert words in err and "Traceback" not in out + err


def test_a_module_that_exits_on_import_is_user_code(tmp_path, capsys):
    path = tmp_path / "exits_on_import.py"
    path.write_text("import sys\nsys.exit(7)\n")
    code, _, err = run(["kernels", "check", "conv", f"{path}:conv"], capsys)
    assert code == 2 and err.startswith("nnbridge: error [user_code] ")
    assert "sys.exit(7)" in err and "exits_on_import" not in sys.modules


def test_a_wrong_kernel_is_still_exit_1(module, capsys):
    code, out, _ = run(["kernels", "check", "max_pool", f"{module}:wrong", "--ranks", "1",
                        "--examples", "3"], capsys)
    assert code == 1 and "FAIL" in out


def test_the_exit_status_does_not_leak_from_a_process(module):
    done = subprocess.run([sys.executable, "-m", "nnbridge.cli", "kernels", "check",
                           "max_pool", f"{module}:exits", "--ranks", "1", "--examples", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "[user_code]" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("option", "value", "rule"), [
    ("--examples", str(10**30), "work_limit"),
    ("--examples", "9" * 5000, "work_limit"),
    ("--examples", "10001", "work_limit"),
    ("--examples", "0", "param_value"),
    ("--examples", "-" + "9" * 5000, "param_value"),
    ("--examples", "\uff11\uff10", "cli_usage"),
    ("--examples", "1e3", "cli_usage"),
    ("--ranks", "4", "cli_usage"),
    ("--ranks", "", "cli_usage"),
    ("--modes", "fast", "cli_usage"),
])
def test_options_are_bounded_before_any_work(option, value, rule, module, capsys,
                                             monkeypatch):
    import nnbridge.kernels.implementation as implementation

    monkeypatch.setattr(implementation, "check_implementation",
                        lambda *a, **k: pytest.fail("the search ran"))
    code, _, err = run(["kernels", "check", "max_pool", f"{module}:wrong", option, value],
                       capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"nnbridge: error [{rule}] ") and len(err) < 400, err


def test_adjoint_bounds_its_numbers(capsys, monkeypatch):
    import nnbridge.adjoint.check as adjoint_check

    monkeypatch.setattr(adjoint_check, "check_adjoint", lambda *a, **k: pytest.fail("ran"))
    for argv, rule in ((["--trials", "1000001"], "work_limit"),
                       (["--trials", "9" * 5000], "work_limit"),
                       (["--trials", "0"], "param_value"),
                       (["--seed", str(2**32)], "work_limit"),
                       (["--seed", "-1"], "param_value"),
                       (["--seed", "x"], "cli_usage")):
        code, _, err = run(["adjoint", *argv], capsys)
        assert code == 2 and err.startswith(f"nnbridge: error [{rule}] "), (argv, err)
