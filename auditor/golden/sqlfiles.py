"""SQL files under rules/: loading, identifier quoting and execution.

Values always travel as bound parameters (``$name``). Identifiers that come
from configuration (dimension names) are the only text spliced into SQL, and
only through :func:`quote_ident`, via the ``prefixed`` template filter.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any

import duckdb
import jinja2

from auditor.errors import ConfigError

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


def statements(sql: str) -> list[tuple[int, str]]:
    """The statements of a rules file with the line each starts on (no semicolons inside
    literals in our files; comment lines are blanked, so lines keep their numbers)."""
    text = "\n".join("" if ln.lstrip().startswith("--") else ln for ln in sql.splitlines())
    out, pos = [], 0
    for chunk in text.split(";"):
        body = chunk.strip()
        if body:
            lead = len(chunk) - len(chunk.lstrip())
            out.append((text.count("\n", 0, pos + lead) + 1, body))
        pos += len(chunk) + 1
    return out


def split_statements(sql: str) -> list[str]:
    """Split a rules file into statements."""
    return [body for _, body in statements(sql)]


def _execute(con: duckdb.DuckDBPyConnection, stmt: str, params: Mapping[str, Any]) -> None:
    names = set(_PARAM.findall(stmt))
    missing = names - params.keys()
    if missing:
        raise KeyError(f"SQL parameter(s) not given: {sorted(missing)}")
    con.execute(stmt, {k: params[k] for k in names} if names else None)


def execute_script(con: duckdb.DuckDBPyConnection, sql: str,
                   params: Mapping[str, Any] | None = None) -> None:
    """Run every statement of ``sql``, binding only the parameters each one names."""
    params = dict(params or {})
    for _, stmt in statements(sql):
        _execute(con, stmt, params)


# Errors that mean the SQL itself is wrong (it does not parse, names an unknown
# column or function), as opposed to the data it reads.
_SQL_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)


def run_rule(con: duckdb.DuckDBPyConnection, relpath: str,
             params: Mapping[str, Any] | None = None, *, rules: "RulesFolder | None" = None,
             **context: Any) -> None:
    """Render the rules file ``relpath`` of ``rules`` (default: the packaged folder) with
    ``context`` and execute it with ``params``."""
    if rules is None or not rules.custom:
        execute_script(con, render(read_rule(relpath), **context), params)
        return
    params = dict(params or {})
    for line, stmt in statements(rules.render(relpath, **context)):
        try:
            _execute(con, stmt, params)
        except _SQL_ERRORS as exc:
            text = str(exc)
            at = re.search(r"LINE (\d+):", text)
            raise ConfigError(f"the SQL fails: {text.splitlines()[0]}",
                              file=f"{rules.path(relpath)}:{line + int(at[1]) - 1 if at else line}",
                              hint="fix the statement there (the line counts from the rendered "
                                   "template; an {% include %} shifts it)") from None


def packaged_rules_dir() -> str:
    """The packaged rules folder on disk (the repository's rules/ in a development install)."""
    return str(rules_path())


@dataclass(frozen=True)
class RulesFolder:
    """Where definitions are read from, passed explicitly (no process-wide state).

    ``root`` None is the packaged rules folder; otherwise any folder with its
    layout (a base revision's, a pull request's). ``overrides`` replace single
    files (relative path -> file), e.g. audit.yaml's ``rules:`` folder's
    tolerances.yaml. SQL from a folder given this way that fails to parse or
    bind is a ConfigError naming the file and line (exit 2): it is the user's
    definition, not a bug in auditor.
    """

    root: str | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    label: str | None = None

    @property
    def custom(self) -> bool:
        return self.root is not None or bool(self.overrides)

    def describe(self) -> str:
        return self.label or self.root or packaged_rules_dir()

    def _override(self, relpath: str) -> str | None:
        return next((file for rel, file in self.overrides if rel == relpath), None)

    def path(self, relpath: str) -> str:
        """The file ``relpath`` is read from (for messages)."""
        return self._override(relpath) or os.path.join(self.root or packaged_rules_dir(),
                                                       *relpath.split("/"))

    def exists(self, relpath: str) -> bool:
        if self.root is None and self._override(relpath) is None:
            return rules_path(*relpath.split("/")).is_file()
        return os.path.isfile(self.path(relpath))

    def read(self, relpath: str) -> str:
        if self.root is None and self._override(relpath) is None:
            return read_rule(relpath)
        try:
            with open(self.path(relpath), encoding="utf-8") as fh:
                return fh.read()
        except (FileNotFoundError, IsADirectoryError):
            raise ConfigError("rules file not found", file=self.path(relpath),
                              hint=f"the rules folder {self.describe()} has no {relpath}") from None

    def files(self) -> list[str]:
        """Every file in the folder (relative, '/'-separated, sorted), overrides included."""
        root = self.root or packaged_rules_dir()
        found = {rel for rel, _ in self.overrides}
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            found.update(name if rel_dir == "." else f"{rel_dir}/{name}"
                         for name in filenames if not name.endswith((".py", ".pyc")))
        return sorted(found)

    def render(self, relpath: str, **context: Any) -> str:
        """Render a template of this folder; its includes are read from the same folder."""
        try:
            return _folder_environment(self).get_template(relpath).render(**context)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template syntax error: {exc.message}",
                              file=f"{self.path(exc.name or relpath)}:{exc.lineno}") from None
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"template error: {exc.message}", file=self.path(relpath)) from None


@lru_cache(maxsize=16)
def _folder_environment(rules: RulesFolder) -> jinja2.Environment:
    """The template environment of a rules folder: templates compiled once, recompiled
    when their file changes (size or modification time)."""
    def load(relpath: str):
        path = rules.path(relpath)
        text = rules.read(relpath)
        stamp = _stamp(path)
        return text, path, lambda: _stamp(path) == stamp
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True, auto_reload=True,
                             loader=jinja2.FunctionLoader(load))
    env.filters.update(_ENV.filters)
    return env


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size
