"""Output files that cannot be written: refused before any work, and at write time, as one
line naming ``output_path`` with exit status 2."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from nnbridge.spec.errors import UsageError

from nnbridge.cli import main
from nnbridge.report import check_output, write_json, write_output


def run(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def unwritable_paths(tmp_path: Path) -> list[str]:
    """Paths no command may write: under /proc and /sys, a folder, NUL, the empty path."""
    paths = ["/proc/nnbridge-x.json", "/proc/missing/deeper/x.xml", str(tmp_path), "",
             "a\x00b.json"]
    if Path("/sys").is_dir():
        paths.append("/sys/nnbridge-x.json")
    return paths


@pytest.fixture
def no_work(monkeypatch):
    """Make every proof, adjoint check and kernel search fail loudly if it runs at all."""
    import nnbridge.kernels.implementation as implementation
    import nnbridge.proofs.engine as engine

    import nnbridge.adjoint.check as adjoint_check

    def ran(*args, **kwargs):
        raise AssertionError("work ran before the output path was checked")

    monkeypatch.setattr(engine, "check", ran)
    monkeypatch.setattr(adjoint_check, "check_adjoint", ran)
    monkeypatch.setattr(adjoint_check, "check_jvp", ran)
    monkeypatch.setattr(implementation, "check_implementation", ran)


def test_check_output_refuses_each_unwritable_path(tmp_path):
    for path in unwritable_paths(tmp_path):
        with pytest.raises(UsageError) as info:
            check_output(path)
        assert info.value.rule == "output_path", path


def test_check_output_leaves_no_trace_and_keeps_existing_content(tmp_path):
    fresh = tmp_path / "new" / "report.json"
    assert check_output(fresh) == fresh
    assert not fresh.exists() and fresh.parent.is_dir()  # probed, then removed again
    kept = tmp_path / "kept.json"
    kept.write_text("old")
    check_output(kept)
    assert kept.read_text() == "old"  # never truncated before the work is done
    assert check_output(None) is None


def test_a_read_only_folder_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; /proc and /sys cover this as root")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(UsageError):
            check_output(folder / "missing" / "x.xml")
    finally:
        folder.chmod(stat.S_IRWXU)


def test_a_fifo_with_no_reader_is_refused_not_waited_on(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UsageError) as info:
        check_output(fifo)
    assert "no reader" in str(info.value)


def test_a_full_device_is_caught_at_write_time():
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this machine")
    check_output("/dev/full")  # it opens: only the write fails
    with pytest.raises(UsageError) as info:
        write_json("/dev/full", {"x": 1})
    assert info.value.rule == "output_path" and "No space left" in str(info.value)


def test_an_error_at_write_time_becomes_output_path(tmp_path, monkeypatch):
    """A folder removed (or a disk filled) between the check and the write."""
    import builtins

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and str(file).startswith(str(tmp_path)):
            raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    with pytest.raises(UsageError) as info:
        write_output(tmp_path / "x.xml", "<x/>")
    assert info.value.rule == "output_path"


COMMANDS = [
    ["prove", "--json", "{path}"],
    ["prove", "--family", "conv", "--json", "{path}"],
    ["adjoint", "--json", "{path}"],
    ["adjoint", "--junit", "{path}"],
    ["adjoint", "-k", "pool2d", "--json", "{ok}", "--junit", "{path}"],
    ["kernels", "check", "conv", "json:dumps", "--json", "{path}"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_every_writing_command_fails_at_once(argv, tmp_path, capsys, no_work):
    for path in unwritable_paths(tmp_path):
        args = [a.format(path=path, ok=tmp_path / "ok.json") for a in argv]
        code, out, err = run(args, capsys)
        assert code == 2, (args, err)
        assert err.count("\n") == 1 and err.startswith("nnbridge: error [output_path] "), err
        assert "Traceback" not in out + err
    assert not (tmp_path / "ok.json").exists()  # nothing written when one output is bad


def test_adjoint_writes_json_and_junit_through_the_helper(tmp_path, capsys):
    js, xml = tmp_path / "sub" / "a.json", tmp_path / "sub" / "a.xml"
    assert main(["adjoint", "-k", "relu", "--json", str(js), "--junit", str(xml),
                 "--trials", "1"]) == 0
    assert js.read_text().startswith("{") and xml.read_text().startswith("<?xml")
    capsys.readouterr()
