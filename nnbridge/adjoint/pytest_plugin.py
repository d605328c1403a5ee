"""The pytest plugin (entry point ``pytest11``, name ``nnbridge``): adjoint checks in tests.

The ``adjoint`` fixture runs a check and fails the test with the figures::

    def test_my_matmul(adjoint):
        adjoint.check_torch(MyMatMul.apply, (8, 6), (6, 5))

``pytest --adjoint-entries MODULE`` (a ``path/to/file.py`` or ``package.module``;
repeatable) collects every entry that module declares (``torch_entry``, ``numpy_entry``,
``@entry``) as a test item marked ``adjoint``: ``-k``, ``-m adjoint`` and ``--junitxml``
work on them as on any test. ``--adjoint-seed`` and ``--adjoint-trials`` set the seed and
the trials of both. Importing this module costs neither NumPy nor PyTorch; without PyTorch,
only a call of ``adjoint.check_torch`` fails, saying how to install it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

__all__ = ["AdjointChecks", "AdjointEntryItem", "adjoint"]

_MAX_TRIALS = 1000
_MAX_SEED = 2**32 - 1


def pytest_addoption(parser) -> None:
    group = parser.getgroup("nnbridge", "nnbridge adjoint checks")
    group.addoption("--adjoint-entries", action="append", default=[], metavar="MODULE",
                    help="collect the adjoint entries a path/to/file.py or package.module "
                         "declares as test items (repeatable)")
    group.addoption("--adjoint-seed", default="0", metavar="N",
                    help="first seed of the adjoint checks (default 0)")
    group.addoption("--adjoint-trials", default=None, metavar="N",
                    help="trials per adjoint check (default: each check's own, 3)")


def _integer(config, option: str, minimum: int, maximum: int) -> int | None:
    text = config.getoption(option.lstrip("-").replace("-", "_"))
    if text is None:
        return None
    text = str(text).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise pytest.UsageError(f"{option}: expected an integer written with 0-9, got {text!r:.40}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise pytest.UsageError(f"{option}: must be in {minimum}..{maximum}, got {value}")
    return value


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "adjoint: an nnbridge adjoint entry (--adjoint-entries)")
    config._nnbridge_adjoint = (_integer(config, "--adjoint-seed", 0, _MAX_SEED) or 0,
                                _integer(config, "--adjoint-trials", 1, _MAX_TRIALS))


class AdjointChecks:
    """What the ``adjoint`` fixture gives a test: the checks of :mod:`nnbridge.adjoint`,
    failing the test (with the report's figures) when a check fails, returning the report
    when all pass. Keyword options are those of ``check_torch`` / ``check_numpy``."""

    def __init__(self, seed: int = 0, trials: int | None = None):
        self.seed, self.trials = seed, trials

    def _options(self, options: dict) -> dict:
        options.setdefault("seed", self.seed)
        if self.trials is not None:
            options.setdefault("trials", self.trials)
        return options

    @staticmethod
    def _verdict(run):
        from nnbridge.spec.errors import NNBridgeError

        try:
            report = run()
        except NNBridgeError as exc:
            pytest.fail(f"nnbridge: error {exc.one_line()}", pytrace=False)
        if not report.passed:
            pytest.fail(report.table(), pytrace=False)
        return report

    def check_torch(self, fn, *inputs, **options):
        """:func:`nnbridge.adjoint.check_torch`, failing the test on a failed check."""
        from nnbridge.adjoint.torch_check import check_torch

        return self._verdict(lambda: check_torch(fn, *inputs, **self._options(options)))

    def check_numpy(self, forward, vjp, *inputs, **options):
        """:func:`nnbridge.adjoint.check_numpy`, failing the test on a failed check."""
        from nnbridge.adjoint.numpy_check import check_numpy

        return self._verdict(lambda: check_numpy(forward, vjp, *inputs,
                                                 **self._options(options)))


@pytest.fixture
def adjoint(request) -> AdjointChecks:
    """The adjoint checks, failing the test with the figures: ``adjoint.check_torch(fn,
    *inputs)``, ``adjoint.check_numpy(forward, vjp, *inputs)``."""
    seed, trials = getattr(request.config, "_nnbridge_adjoint", (0, None))
    return AdjointChecks(seed, trials)


class AdjointEntryFailed(Exception):
    """An entry's checks failed; the message is the table of figures."""


class AdjointEntriesFile(pytest.File):
    """The module of entries, as the parent of its items."""

    entries: list = []

    def collect(self):
        for item in self.entries:
            yield AdjointEntryItem.from_parent(self, name=item.name, entry=item)


class AdjointEntryItem(pytest.Item):
    """One entry of a ``--adjoint-entries`` module: its checks, as one test."""

    def __init__(self, *, entry, **kwargs):
        super().__init__(**kwargs)
        self.entry = entry
        self.add_marker("adjoint")

    def runtest(self) -> None:
        from nnbridge.adjoint.probe import results_table
        from nnbridge.adjoint.runner import run_entry

        seed, trials = getattr(self.config, "_nnbridge_adjoint", (0, None))
        timed = run_entry(self.entry, seed, trials)
        results = [r for r, _ in timed]
        for r, seconds in timed:
            self.user_properties.append((f"{r.check}[{r.mode}]", f"{'pass' if r.passed else 'FAIL'}"
                                         f" residual={r.worst_residual:.3g} "
                                         f"tolerance={r.tolerance:.3g} {seconds:.4f}s"))
        if not results or not all(r.passed for r in results):
            passed = "FAIL" if results else "FAIL (no check ran)"
            raise AdjointEntryFailed(results_table(f"{self.entry.name}: {passed}", results))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AdjointEntryFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"adjoint entry {self.entry.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items) -> None:
    """Append the items of every ``--adjoint-entries`` module (before ``-k`` and ``-m``
    select, so that they select among them too)."""
    specs = config.getoption("adjoint_entries")
    if not specs:
        return
    from nnbridge.adjoint.user_entries import load_entries
    from nnbridge.spec.errors import NNBridgeError

    for spec in specs:
        try:
            entries = load_entries(spec)
        except NNBridgeError as exc:
            raise pytest.UsageError(f"--adjoint-entries: {exc.one_line()}") from None
        module = sys.modules.get(entries[0].module)
        path = Path(getattr(module, "__file__", None) or spec).resolve()
        parent = AdjointEntriesFile.from_parent(session, path=path)
        parent.entries = entries
        items.extend(parent.collect())
