"""Outputs are written atomically (docs/interface.md#exit-codes): one file through
auditor.tables.atomic_path, a set of files that belong together through
write_file_set. A failure injected at each step leaves the previous files exactly as
they were and no temporary file or folder behind."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor import tables
from auditor.tables import atomic_path, write_file_set

OLD = {"report.json": '{"old": true}\n', "summary.md": "old summary\n", "report.html": "<p>old</p>\n"}
NEW = {"report.json": '{"new": true}\n', "summary.md": "new summary\n", "report.html": "<p>new</p>\n",
       "junit.xml": "<testsuites/>\n"}


def _contents(folder: Path) -> dict[str, str]:
    """Every entry of ``folder`` (hidden ones too) with its text."""
    return {p.name: p.read_text() for p in folder.iterdir()} if folder.exists() else {}


@pytest.fixture
def previous(tmp_path) -> Path:
    folder = tmp_path / "out"
    write_file_set(folder, OLD)
    (folder / "notes.txt").write_text("the user's own file\n")
    return folder


def test_a_set_replaces_every_file_and_leaves_others_alone(previous):
    written = write_file_set(previous, NEW)
    assert [p.name for p in written] == list(NEW)
    assert _contents(previous) == {**NEW, "notes.txt": "the user's own file\n"}


def _fail_on_call(monkeypatch, target: str, n: int, exc: BaseException) -> None:
    """Make the ``n``-th call (1-based) of ``tables.<target>`` raise ``exc``."""
    real = getattr(tables.os if target == "replace" else tables, target)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            raise exc
        return real(*args, **kwargs)
    if target == "replace":
        monkeypatch.setattr(tables.os, "replace", flaky)
    else:
        monkeypatch.setattr(tables, target, flaky)


@pytest.mark.parametrize("target, n, exc", [
    ("_write_new", 3, OSError(28, "No space left on device")),   # writing the third file
    ("_write_new", 2, KeyboardInterrupt()),                       # Ctrl-C between files
    ("replace", 2, OSError(13, "Permission denied")),             # after one new file is in place
    ("replace", 4, KeyboardInterrupt()),                          # before the last one (a new name)
], ids=["disk-full-writing", "interrupt-writing", "rename-fails-midway", "interrupt-renaming"])
def test_a_failure_between_files_keeps_the_previous_set(previous, monkeypatch, target, n, exc):
    before = _contents(previous)
    _fail_on_call(monkeypatch, target, n, exc)
    with pytest.raises(type(exc)):
        write_file_set(previous, NEW)
    assert _contents(previous) == before      # old files intact, junit.xml not added, no staging folder


def test_a_failed_first_set_leaves_no_file(tmp_path, monkeypatch):
    _fail_on_call(monkeypatch, "replace", 3, OSError(5, "Input/output error"))
    with pytest.raises(OSError):
        write_file_set(tmp_path / "fresh", NEW)
    assert _contents(tmp_path / "fresh") == {}


def test_files_of_a_set_get_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_file_set(tmp_path / "out", {"a.txt": "x", "b.bin": b"\x00"})
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()} == \
        {"a.txt": 0o640, "b.bin": 0o640}


def test_atomic_path_removes_its_temporary_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "golden.parquet"
    target.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="writer bug"):
        with atomic_path(target) as fh:
            fh.write(b"half a file")
            raise RuntimeError("writer bug")
    assert [p.name for p in tmp_path.iterdir()] == ["golden.parquet"]
    assert target.read_bytes() == b"previous"


def test_atomic_path_removes_its_temporary_file_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "summary.md"
    target.write_text("previous")
    _fail_on_call(monkeypatch, "replace", 1, OSError(18, "Invalid cross-device link"))
    with pytest.raises(OSError):
        with atomic_path(target, "w") as fh:
            fh.write("new")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.md"]
    assert target.read_text() == "previous"
