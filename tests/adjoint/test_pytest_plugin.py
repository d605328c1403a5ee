"""The pytest plugin, as installed (entry point ``pytest11``): the ``adjoint`` fixture and
``--adjoint-entries``, run through pytest's own ``pytester``."""

from __future__ import annotations

import importlib
import subprocess
import sys

import numpy  # noqa: F401  (see below)
import pytest

from nnbridge.adjoint.registry import _REGISTRY

pytest_plugins = ["pytester"]

# pytester runs each inner session in a subprocess (an in-process run drops the modules it
# imported when it ends, which other tests would then import twice); NumPy and PyTorch
# cannot be imported twice in one process, so they (and the checks) are imported up front.
for _name in ("torch", "nnbridge.adjoint.torch_check", "nnbridge.adjoint.numpy_check",
              "nnbridge.adjoint.user_entries", "nnbridge.adjoint.runner"):
    try:
        importlib.import_module(_name)
    except ImportError:
        pass

FUNCTIONS = '''
import torch


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        return 2 * g


class Wrong(Double):
    @staticmethod
    def backward(ctx, g):
        return 3 * g
'''

TESTS = '''
from functions import Double, Wrong


def test_good(adjoint):
    report = adjoint.check_torch(Double.apply, (3, 4))
    assert report.passed and report.directions == 9


def test_wrong(adjoint):
    adjoint.check_torch(Wrong.apply, (3, 4))


def test_bad_shape(adjoint):
    adjoint.check_torch(Double.apply, (3, -4))
'''

ENTRIES = '''
from functions import Double, Wrong
from nnbridge.adjoint import torch_entry

torch_entry("plugin.good", Double.apply, (2, 3))
torch_entry("plugin.wrong", Wrong.apply, (2, 3))
'''


@pytest.fixture(autouse=True)
def clean_registry():
    """Entries the runs load leave the registry as it was; the checks run on one thread."""
    before = dict(_REGISTRY)
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)
    if torch:
        torch.set_num_threads(threads)


@pytest.fixture
def project(pytester):
    pytest.importorskip("torch")
    pytester.makepyfile(functions=FUNCTIONS)
    pytester.syspathinsert()
    return pytester


def test_the_fixture_passes_and_fails_with_the_figures(project):
    project.makepyfile(test_mine=TESTS)
    result = project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*Wrong: FAIL (9 directions*",
        "*check*mode*trials*worst residual*tolerance*verdict*",
        "*adjoint*float64*3*FAIL*",
        "*nnbridge: error [[]param_value[]] check_torch: input 0: sizes must be at least 0*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_adjoint_entries_become_test_items(project):
    project.makepyfile(my_entries=ENTRIES)
    junit = project.path / "report.xml"
    result = project.runpytest_subprocess(
        "-p", "no:cacheprovider", "--adjoint-entries", "my_entries.py", "--adjoint-trials", "1",
        f"--junitxml={junit}", "-v")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*my_entries.py::plugin.good PASSED*",
                                 "*my_entries.py::plugin.wrong FAILED*",
                                 "*plugin.wrong: FAIL*"])
    assert 'name="plugin.wrong"' in junit.read_text()
    only = project.runpytest_subprocess("-p", "no:cacheprovider", "--adjoint-entries", "my_entries",
                             "-k", "good")
    only.assert_outcomes(passed=1, deselected=1)
    marked = project.runpytest_subprocess("-p", "no:cacheprovider", "--adjoint-entries",
                                          "my_entries", "-m", "not adjoint")
    marked.assert_outcomes(deselected=2)


@pytest.mark.parametrize("argv, words", [
    (["--adjoint-entries", "missing/entries.py"], "[config_file]"),
    (["--adjoint-entries", "no_such_module_xyz"], "[user_code]"),
    (["--adjoint-trials", "0"], "--adjoint-trials: must be in 1..1000"),
    (["--adjoint-seed", "x"], "--adjoint-seed: expected an integer"),
])
def test_bad_options_are_usage_errors(pytester, argv, words):
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *argv)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str(), result.stderr.str()


def test_the_plugin_imports_neither_numpy_nor_torch():
    code = ("import sys; import nnbridge.adjoint.pytest_plugin; "
            "print(sorted(m for m in ('numpy', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_without_torch_only_check_torch_fails(pytester):
    """A fresh process where torch cannot import: the entry point loads the plugin, NumPy
    checks run, and check_torch fails saying how to install PyTorch."""
    pytester.makeconftest("import sys\nsys.modules['torch'] = None\n")
    pytester.makepyfile(test_no_torch='''
        def double(x):
            return 2 * x


        def test_numpy(adjoint):
            adjoint.check_numpy(double, lambda x, g: 2 * g, (3,))


        def test_torch(adjoint):
            adjoint.check_torch(double, (3,))
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*PyTorch is not installed: pip install 'nnbridge[[]torch[]]'*"])
