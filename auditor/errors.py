"""Typed errors and the exit-code contract (docs/interface.md#exit-codes), decided in one place.

Every user-fixable problem is an :class:`AuditorError` subclass carrying exit
code 2; the CLI's single top-level handler prints it without a traceback.
Anything else that escapes is a bug and exits 3.
"""
from __future__ import annotations

import enum


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
