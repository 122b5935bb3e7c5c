"""SQL files under rules/: loading, identifier quoting and execution.

Values always travel as bound parameters (``$name``). Identifiers that come
from configuration (dimension names) are the only text spliced into SQL, and
only through :func:`quote_ident`, via the ``prefixed`` template filter.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Any

import duckdb
import jinja2

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB (and ANSI SQL): wrap in double quotes, double inner quotes."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _prefixed(names: Iterable[str], prefix: str = "", suffix: str = "") -> str:
    """Render ``, <prefix>"a"<suffix>, <prefix>"b"<suffix>`` (empty for no names)."""
    return "".join(f", {prefix}{quote_ident(n)}{suffix}" for n in names)


# A rules file may {% include "golden/04_intervals.sql" %} another one (a query
# that is part of a larger statement).
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                          keep_trailing_newline=True,
                          loader=jinja2.FunctionLoader(lambda name: read_rule(name)))
_ENV.filters["prefixed"] = _prefixed
_ENV.filters["ident"] = quote_ident


def rules_path(*parts: str):
    """The packaged rules folder (or a file in it)."""
    return files("auditor.rules").joinpath(*parts)


@lru_cache(maxsize=None)
def read_rule(relpath: str) -> str:
    return rules_path(*relpath.split("/")).read_text(encoding="utf-8")


@lru_cache(maxsize=128)  # the rules files: compiled once per process, not per run
def _template(sql: str) -> jinja2.Template:
    return _ENV.from_string(sql)


def render(sql: str, **context: Any) -> str:
    return _template(sql).render(**context)


def split_statements(sql: str) -> list[str]:
    """Split a rules file into statements (no semicolons inside literals in our files)."""
    lines = [ln for ln in sql.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def execute_script(con: duckdb.DuckDBPyConnection, sql: str,
                   params: Mapping[str, Any] | None = None) -> None:
    """Run every statement of ``sql``, binding only the parameters each one names."""
    params = dict(params or {})
    for stmt in split_statements(sql):
        names = set(_PARAM.findall(stmt))
        missing = names - params.keys()
        if missing:
            raise KeyError(f"SQL parameter(s) not given: {sorted(missing)}")
        con.execute(stmt, {k: params[k] for k in names} if names else None)


def run_rule(con: duckdb.DuckDBPyConnection, relpath: str,
             params: Mapping[str, Any] | None = None, **context: Any) -> None:
    """Render the rules file ``relpath`` with ``context`` and execute it with ``params``."""
    execute_script(con, render(read_rule(relpath), **context), params)
