"""Typed errors and the exit-code contract (docs/interface.md#exit-codes), decided in one place.

Every user-fixable problem is an :class:`AuditorError` subclass carrying exit
code 2; the CLI's single top-level handler prints it without a traceback.
:func:`classify` maps everything else that can escape a command onto the same
contract: an interrupt (Ctrl-C, however DuckDB or a library reported it) is
130; an operating-system error on a file the user named (disk full, no
permission, a file where a folder should be) or DuckDB running out of memory
or temp space is 2 with the file and a hint; anything else is a bug and
exits 3.
"""
from __future__ import annotations

import enum
import errno
import os
from collections.abc import Sequence


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    USER_ERROR = 2
    INTERNAL_ERROR = 3
    INTERRUPTED = 130


class AuditorError(Exception):
    """A problem the user can fix (bad config, unreadable input, bad flag)."""

    exit_code = ExitCode.USER_ERROR

    def __init__(self, message: str, *, hint: str | None = None,
                 file: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.key = key

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}: "
            if self.key:
                where = f"{self.file}: {self.key}: "
        elif self.key:
            where = f"{self.key}: "
        text = where + self.message
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class InputError(AuditorError):
    """Raw events or a pipeline's output cannot be read or do not fit the contract."""


class ConfigError(AuditorError):
    """audit.yaml, a rules file or a command-line option is invalid."""


class Interrupted(AuditorError):
    """The user interrupted the command (Ctrl-C, SIGINT)."""

    exit_code = ExitCode.INTERRUPTED


# errno -> what to do about it, for OS errors on the user's files
_OS_HINTS = {
    errno.ENOSPC: "free some space or write somewhere else",
    errno.EDQUOT: "free some space or write somewhere else",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder: give a file name",
    errno.ENOENT: "check the path",
    errno.ENAMETOOLONG: "choose a shorter path",
    errno.EMFILE: "raise the open-files limit (ulimit -n)",
}
_INTERRUPT_TEXT = ("Query interrupted", "INTERRUPT Error")


def first_line(exc: object) -> str:
    """The first line of an exception's message (DuckDB's carry the SQL text after it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C however it surfaced: KeyboardInterrupt, or DuckDB's "Query interrupted"
    (a RuntimeError or InterruptException raised when the signal stopped a query)."""
    import duckdb

    if isinstance(exc, (KeyboardInterrupt, Interrupted, duckdb.InterruptException)):
        return True
    return isinstance(exc, RuntimeError) and any(t in str(exc) for t in _INTERRUPT_TEXT)


def is_data_error(exc: BaseException) -> bool:
    """Whether a DuckDB error is about the data read (a damaged file, a value that does not
    convert or overflows) rather than about auditor's own SQL (a bug)."""
    import duckdb

    return isinstance(exc, (duckdb.InvalidInputException, duckdb.IOException, duckdb.ConversionException,
                            duckdb.OutOfRangeException)) and not is_interrupt(exc)


def read_error(exc: BaseException, what: str, files: Sequence[str], where: str) -> InputError:
    """An :class:`InputError` for a DuckDB error met while reading ``files``: its first line
    only (never the SQL text), naming the file DuckDB named, else ``where``."""
    text = first_line(exc)
    named = (next((f for f in files if f in text), None)
             or next((f for f in files if f"\"{os.path.basename(f)}\"" in text
                      or f"'{os.path.basename(f)}'" in text), None))
    return InputError(f"cannot read {what}: {text}", file=named or where,
                      hint="the file is damaged or not in the format its suffix says: "
                           "write it again, or move it out of the input")


def classify(exc: BaseException) -> AuditorError | None:
    """The user-facing error for ``exc``, or None when it is a bug (exit 3)."""
    if isinstance(exc, AuditorError):
        return exc
    if is_interrupt(exc):
        return Interrupted("interrupted")
    if isinstance(exc, OSError):  # also Arrow's I/O errors, which may carry no errno
        return AuditorError(exc.strerror or first_line(exc), file=exc.filename,
                            hint=_OS_HINTS.get(exc.errno, "check the path, its permissions and free space"))
    import duckdb

    if isinstance(exc, (MemoryError, duckdb.OutOfMemoryException)):
        return AuditorError(f"out of memory: {first_line(exc)}",
                            hint="lower AUDITOR_MEMORY_LIMIT (e.g. 1500MB), or run on a larger machine")
    if isinstance(exc, (duckdb.IOException, duckdb.PermissionException)):
        # DuckDB's own files (its spill folder) or an input it could not open
        return AuditorError(first_line(exc),
                            hint="check free space and permissions of the temp folder "
                                 "(TMPDIR) and of the files named")
    return None
