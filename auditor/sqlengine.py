"""The one door to SQLAlchemy (style.md habit 12): imported here, lazily, and nowhere else.

Pipeline sources on another engine (``auditor/sources.py``) and a history store on a
team's server (``auditor/history/store.py``) both reach their database through
:func:`create_engine`, so a bad URL or a missing driver reads the same everywhere and a
major-version change of SQLAlchemy touches this file only.
"""
from __future__ import annotations

from typing import Any

from auditor.errors import ConfigError, first_line

DRIVER_HINT = ("install the engine's driver, e.g. pip install 'auditor[postgres]' "
               "for postgresql+psycopg://")


def sqlalchemy() -> Any:
    """The sqlalchemy module, imported on first use."""
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - a core dependency
        raise ConfigError("SQL engines need SQLAlchemy", hint="pip install sqlalchemy") from None
    return sa


def create_engine(url: str, *, where: str, **options: Any) -> Any:
    """An Engine for ``url``; a URL SQLAlchemy cannot use (no driver, bad syntax) is a
    :class:`ConfigError` naming ``where`` (the URL without its password)."""
    sa = sqlalchemy()
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError
    try:
        return sa.create_engine(url, **options)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use this connection URL: {first_line(exc)}", file=where,
                          hint=DRIVER_HINT) from None


def text(sql: str) -> Any:
    """A textual statement with ``:name`` parameters."""
    return sqlalchemy().text(sql)


def error_types() -> tuple[type[BaseException], ...]:
    """The exceptions a statement on an engine raises (SQLAlchemyError)."""
    from sqlalchemy.exc import SQLAlchemyError
    return (SQLAlchemyError,)


def connection_error_types() -> tuple[type[BaseException], ...]:
    """The exceptions that mean the server or the connection failed (not the statement)."""
    from sqlalchemy.exc import InterfaceError, OperationalError
    return (OperationalError, InterfaceError)


def original(exc: BaseException) -> BaseException:
    """The driver's own exception behind a SQLAlchemy one (its message names the problem)."""
    return getattr(exc, "orig", None) or exc
