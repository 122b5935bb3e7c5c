"""Writing result tables (Parquet, CSV, JSON) by the file's suffix, atomically.

A table is first written next to its destination under a temporary name and
then renamed over it, so a failed or interrupted run never leaves a truncated
file where a previous good one stood. The file gets the mode any new file
gets (0666 less the umask: 0644 under the usual 022), not the temporary
file's 0600. :func:`write_file_set` does the same for a set of files that
belong together (report.json, summary.md, report.html, junit.xml): all of
them are replaced, or none. :func:`check_output` tells up front, before any
work, whether an output path can be written at all.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from auditor.errors import ConfigError

TABLE_SUFFIXES = (".parquet", ".csv", ".json", ".jsonl")


@contextmanager
def atomic_path(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it over ``path``."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def current_umask() -> int:
    """The process's umask (Linux reads it without changing it; elsewhere set and restore)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output(path: str | os.PathLike, *, folder: bool = False, option: str = "--out") -> None:
    """Fail before any work when ``path`` (a file, or with ``folder`` a folder to write
    files into) cannot be created: a file where a folder should be, a folder where the
    file should be, or no permission to write where it would be created."""
    target = Path(path)
    if target.exists() and folder != target.is_dir():
        what = ("a file, not a folder", "a folder (it is created if missing)") if folder else \
               ("a folder, not a file", "a file name")
        raise ConfigError(f"{target} is {what[0]}", key=option, hint=f"give {option} {what[1]}")
    parent = target if folder and target.is_dir() else target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot create {target}: {parent} is a file, not a folder", key=option,
                          hint=f"choose a path for {option} whose parents are folders")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot create {target}: no permission to write in {parent}", key=option,
                          hint=f"choose a folder you can write to for {option}")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path, "w") as fh:
        fh.write(text)


def write_file_set(folder: str | os.PathLike, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write ``files`` (name -> text or bytes) into ``folder``: every one, or none.

    Each file is first written in full into a hidden staging folder inside ``folder``
    (same file system, so the renames below are atomic). Only when all are written
    are they renamed into place one by one; the previous files are kept as hard links
    (copies where links are not supported) until every rename succeeded, and put back
    if one fails. A failure or an interrupt at any point leaves the previous set as it
    was and no staging folder behind. Other files in ``folder`` are not touched.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".auditor-", suffix=".tmp", dir=out))
    try:
        new, old = stage / "new", stage / "old"
        new.mkdir()
        old.mkdir()
        for name, content in files.items():
            _write_new(new / name, content)
        _swap_in(out, new, old, list(files))
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [out / name for name in files]


def _write_new(path: Path, content: str | bytes) -> None:
    """A new file with the umask's mode (os.open applies it to 0o666)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _swap_in(out: Path, new: Path, old: Path, names: list[str]) -> None:
    """Rename every ``new/NAME`` over ``out/NAME``; on any failure restore what was there."""
    kept: list[str] = []      # previous files saved under old/
    placed: list[str] = []    # names whose new file is in place
    try:
        for name in names:
            dest = out / name
            if dest.exists():
                try:
                    os.link(dest, old / name)
                except OSError:
                    shutil.copy2(dest, old / name)
                kept.append(name)
        for name in names:
            os.replace(new / name, out / name)
            placed.append(name)
    except BaseException:
        for name in placed:
            if name in kept:
                os.replace(old / name, out / name)
            else:
                (out / name).unlink(missing_ok=True)
        raise


def _iso(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def _records(table: pa.Table) -> list[dict]:
    rows = table.to_pylist()
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = _iso(value)
    return rows


def _timestamps_as_text(table: pa.Table) -> pa.Table:
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            col = table.column(i).to_pylist()
            table = table.set_column(i, f.name, pa.array([None if v is None else _iso(v) for v in col],
                                                         pa.string()))
    return table


def table_writer(path: str | os.PathLike) -> Callable[[pa.Table, IO], None]:
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return lambda t, fh: pq.write_table(t, fh, compression="zstd")
    if suffix == ".csv":
        return lambda t, fh: pacsv.write_csv(_timestamps_as_text(t), fh)
    if suffix == ".json":
        return lambda t, fh: fh.write(json.dumps(_records(t), indent=1).encode() + b"\n")
    if suffix == ".jsonl":
        return lambda t, fh: fh.write("".join(json.dumps(r) + "\n" for r in _records(t)).encode())
    raise ConfigError(f"cannot tell the output format from {str(path)!r}",
                      hint="name the file .parquet, .csv, .json or .jsonl")


def write_table(table: pa.Table, path: str | os.PathLike) -> None:
    """Write ``table`` to ``path`` in the format its suffix names, atomically."""
    writer = table_writer(path)  # reject a bad suffix before creating anything
    with atomic_path(path) as fh:
        writer(table, fh)
