"""``nnbridge adjoint``: table, JSON, JUnit, exit status."""

import json
from xml.etree import ElementTree as ET

import pytest
from nnbridge.spec.pool import avg_pool, avg_pool_vjp

from nnbridge.adjoint import Case
from nnbridge.adjoint.registry import _REGISTRY, entry
from nnbridge.cli import main


@pytest.fixture
def planted():
    """A registry entry whose VJP forgets the divisor, and one whose builder crashes."""

    @entry("planted.avg_pool_no_divisor")
    def _broken(s):
        x = s.array((2, 4, 4))
        return Case((x,), forward=lambda x: avg_pool(x, 2), jvp=lambda dx: avg_pool(dx, 2),
                    vjp=lambda g: (avg_pool_vjp(x, g * 4, 2),))

    @entry("planted.crash")
    def _crash(s):
        raise RuntimeError("builder exploded")

    yield
    for name in ("planted.avg_pool_no_divisor", "planted.crash"):
        _REGISTRY.pop(name, None)


def test_json_and_junit(tmp_path, capsys):
    js, xml = tmp_path / "a.json", tmp_path / "a.xml"
    assert main(["adjoint", "-k", "pool2d", "--json", str(js), "--junit", str(xml)]) == 0
    report = json.loads(js.read_text())
    assert report["passed"] is True
    names = [e["name"] for e in report["entries"]]
    assert "max_pool2d" in names and "smooth_max_pool2d" in names
    assert all("pool2d" in n for n in names)
    for e in report["entries"]:
        assert {"name", "mode", "trials", "worst_residual", "tolerance", "passed"} <= set(e)
        assert e["passed"] is True and e["trials"] >= 1
        if e["mode"] == "exact":
            assert e["worst_residual"] == 0.0 and e["tolerance"] == 0.0
    suite = ET.parse(xml).getroot().find("testsuite")
    assert int(suite.get("failures")) == 0
    assert int(suite.get("tests")) == sum(len(e["checks"]) for e in report["entries"])
    out = capsys.readouterr().out
    assert "worst residual" in out and "entries pass" in out


def test_failures_exit_one_and_are_reported(tmp_path, planted, capsys):
    js, xml = tmp_path / "a.json", tmp_path / "a.xml"
    assert main(["adjoint", "-k", "planted.", "--json", str(js), "--junit", str(xml)]) == 1
    report = {e["name"]: e for e in json.loads(js.read_text())["entries"]}
    broken, crash = report["planted.avg_pool_no_divisor"], report["planted.crash"]
    assert broken["passed"] is False and broken["worst_residual"] > 0
    assert crash["passed"] is False and "builder exploded" in crash["checks"][0]["detail"]
    suite = ET.parse(xml).getroot().find("testsuite")
    assert int(suite.get("failures")) >= 2
    assert "FAIL" in capsys.readouterr().out


def test_no_matching_entry_is_a_failure():
    assert main(["adjoint", "-k", "no-such-entry"]) == 1
