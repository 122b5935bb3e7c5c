"""Every difference between the DuckDB and the Spark SQL engines, in one place.

The golden stages under ``rules/golden/`` are written once, in DuckDB SQL.
:func:`to_spark` renders a stage's statement for Spark SQL: sqlglot transpiles
it (read ``duckdb``, write ``spark``) and the rewrites below handle what
sqlglot cannot know about our stages. Nothing else in auditor spells an
engine-specific construct for Spark (``tests/test_spark_dialect.py`` lints
for it), so a rules change reaches both engines, and a new difference found
later is added here with a test.

The differences, and how each is settled:

- **Session key.** DuckDB keys a session by ``hash(session_id, $salt)`` (a
  64-bit key, checked for collisions and re-salted); Spark's hash functions
  differ, so on Spark the key *is* the session id: ``sk`` is the string
  itself, and sorting or grouping by it never depends on a hash.
- **Duplicate-candidate key.** ``hash(session_id, event_id)`` (``ek``) only
  picks the rows that may be copies of one another; the exact path then
  ranks them by ``(sk, event_id)``. A collision merely sends a row down the
  exact path, where it ranks first alone, so Spark's ``xxhash64`` gives the
  same rows.
- **Event-type codes.** DuckDB casts to an ENUM and takes ``enum_code``
  (0-based, NULL for unknown); Spark looks the name up with
  ``array_position`` (1-based, 0 for unknown) minus one, NULL for NULL.
- **Timestamps.** ``make_timestamptz(micros)`` is ``timestamp_micros`` on
  Spark; both sessions run in UTC. Input columns of Spark type
  ``timestamp_ntz`` (no zone) are read as UTC wall clock, like DuckDB's
  ``TIMESTAMP``; ``timestamp`` (with zone) by its instant.
- **IGNORE NULLS placement.** DuckDB writes ``last_value(x IGNORE NULLS)``,
  Spark ``last_value(x) IGNORE NULLS``: sqlglot moves it.
- **first/any_value nulls.** DuckDB's ``any_value`` skips NULLs, Spark's
  does not by default: sqlglot writes ``any_value(x) IGNORE NULLS``.
- **NULL ordering.** DuckDB sorts NULLs last by default, Spark first:
  sqlglot writes ``NULLS LAST`` on every ascending key that does not say.
- **Integer division and overflow.** The stages divide only with ``%`` on
  64-bit integers (the same truncated remainder on both engines) and never
  with ``/``; Spark runs with ANSI mode on, so an overflow is an error on
  both engines (DuckDB's ``OutOfRangeException``, Spark's
  ``ARITHMETIC_OVERFLOW`` / ``CAST_OVERFLOW``), never a wrap-around.
- **Unsigned types.** ``UTINYINT``/``UBIGINT`` become Spark's signed types
  (sqlglot); our codes are small.
- **Statements.** Spark has no temporary tables, ``DELETE`` or ``INSERT``
  into a view: :func:`to_spark` returns what each statement means (a table
  to cache, a view, rows to drop or add) and ``auditor.golden.spark`` carries
  it out with DataFrames. ``MATERIALIZED`` on a CTE is dropped (a hint).
- **Parameters.** ``$name`` becomes Spark's named marker ``:name``; values
  stay bound (``spark.sql(..., args=...)``), never pasted into the text.

This module imports sqlglot, never pyspark.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

# sqlglot logs a warning when it falls back to an unparsed command; to_spark raises a
# DialectError naming the rules file and line instead (stderr stays the error's)
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# Spark session settings every golden run uses (auditor.golden.spark applies them).
SPARK_CONF = {
    "spark.sql.ansi.enabled": "true",           # overflow is an error, never a wrap-around
    "spark.sql.session.timeZone": "UTC",        # docs/definitions.md#timestamps
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",    # stdout stays parseable
}

_SALTED_HASH = "hash"


@dataclass(frozen=True)
class SparkStatement:
    """One rules statement as Spark runs it.

    ``kind``: ``table`` (cache ``sql``'s rows as ``target``), ``view`` (name ``sql`` as
    ``target``), ``delete`` (keep only ``sql``'s rows of ``target``: the rows the
    DELETE spares), ``insert`` (append ``sql``'s rows to ``target``), ``query``.
    """

    kind: str
    target: str | None
    sql: str


class DialectError(ValueError):
    """A rules statement sqlglot cannot read as DuckDB SQL; ``line``: where in the
    statement (1 = its first line), when sqlglot says."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def to_spark(statement: str) -> SparkStatement:
    """Transpile one statement of a rendered DuckDB rules file to Spark SQL."""
    try:
        tree = sqlglot.parse_one(statement, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise _parse_error(exc) from None
    if isinstance(tree, exp.Command):
        # sqlglot's fallback for text it cannot parse: passed on, Spark would get DuckDB
        # SQL with `::` casts read as parameter markers
        raise _unreadable(statement)
    if isinstance(tree, exp.Create):
        kind = "table" if str(tree.args.get("kind", "")).upper() == "TABLE" else "view"
        target = tree.this.name
        body = tree.expression
        return SparkStatement(kind, target, _generate(body))
    if isinstance(tree, exp.Delete):
        target = tree.this.name
        where = tree.args.get("where")
        keep = (exp.select("*").from_(target) if where is None else
                exp.select("*").from_(target).where(
                    exp.not_(exp.Coalesce(this=exp.paren(where.this), expressions=[exp.false()]))))
        if where is None:
            keep = keep.where(exp.false())
        return SparkStatement("delete", target, _generate(keep))
    if isinstance(tree, exp.Insert):
        target = tree.this.name
        body = tree.expression
        if tree.args.get("with") is not None:
            body.set("with", tree.args["with"])
        return SparkStatement("insert", target, _generate(body))
    return SparkStatement("query", None, _generate(tree))


_CREATE_AS = re.compile(r"^\s*CREATE\b.*?\bAS\b", re.IGNORECASE | re.DOTALL)


def _parse_error(exc: sqlglot.errors.ParseError, offset: int = 0) -> DialectError:
    """sqlglot's parse error as ours: its line counted in the statement (``offset`` lines
    before the parsed text), the column in the message."""
    first = (exc.errors or [{}])[0]
    line, col = first.get("line"), first.get("col")
    what = first.get("description") or str(exc).splitlines()[0]
    return DialectError(f"syntax error: {what}" + (f" (column {col})" if isinstance(col, int) else ""),
                        line=offset + line if isinstance(line, int) else None)


def _unreadable(statement: str) -> DialectError:
    """The error for a statement sqlglot fell back to an unparsed command on: where its
    query fails to parse when the statement is ``CREATE ... AS query`` (sqlglot drops that
    position in the fallback), else the statement's first line."""
    head = _CREATE_AS.match(statement)
    if head is not None:
        try:
            sqlglot.parse_one(statement[head.end():], read="duckdb")
        except sqlglot.errors.ParseError as exc:
            return _parse_error(exc, head.group(0).count("\n"))
    return DialectError("syntax error: not a statement sqlglot reads as DuckDB SQL, near "
                        + repr(" ".join(statement.split())[:40]))


def _generate(tree: exp.Expression) -> str:
    tree = tree.transform(_rewrite)
    return tree.sql(dialect="spark")


# Spark refuses a frame on ranking and offset functions; DuckDB ignores it.
_FRAMELESS = (exp.RowNumber, exp.Lead, exp.Lag, exp.Rank, exp.DenseRank)


def _inline_frameless(select: exp.Select) -> None:
    """``row_number() OVER w`` where the named window ``w`` has a frame: Spark wants the
    window spelled out without the frame (the rows and their order are the same)."""
    named = {w.name: w for w in select.args.get("windows") or []}
    for win in select.find_all(exp.Window):
        ref = win.args.get("alias")
        if not isinstance(win.this, _FRAMELESS) or ref is None or ref.name not in named:
            continue
        spec = named[ref.name]
        if win.parent_select is not select or spec.args.get("spec") is None:
            continue
        win.set("alias", None)
        win.set("partition_by", [p.copy() for p in spec.args.get("partition_by") or []])
        if spec.args.get("order") is not None:
            win.set("order", spec.args["order"].copy())


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Select) and node.args.get("windows"):
        _inline_frameless(node)
        return node
    if isinstance(node, exp.CTE) and node.args.get("materialized"):
        node.set("materialized", None)
        return node
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        args = node.expressions
        if name == _SALTED_HASH and len(args) == 2:
            if _is_salt(args[1]):
                return args[0].copy()  # the session key is the session id itself
            return exp.Anonymous(this="xxhash64", expressions=[a.copy() for a in args])
        if name == "enum_code" and len(args) == 1 and isinstance(args[0], exp.TryCast) \
                and args[0].to.this == exp.DataType.Type.ENUM:
            labels = [lbl.copy() for lbl in args[0].to.expressions]
            value = args[0].this.copy()
            position = exp.Anonymous(this="array_position",
                                     expressions=[exp.Array(expressions=labels), value])
            # unknown: array_position 0 -> NULL, as DuckDB's TRY_CAST to the ENUM gives
            return exp.Sub(this=exp.Nullif(this=position, expression=exp.Literal.number(0)),
                           expression=exp.Literal.number(1))
        if name == "make_timestamptz" and len(args) == 1:
            return exp.Anonymous(this="timestamp_micros", expressions=[args[0].copy()])
    return node


def _is_salt(node: exp.Expression) -> bool:
    while isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, exp.Placeholder) and node.name == "salt"


_MARKER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


def parameter_names(spark_sql: str) -> set[str]:
    """The named parameter markers (``:name``) a transpiled statement uses (our stages hold
    no string literal with a colon followed by a letter)."""
    return set(_MARKER.findall(re.sub(r"'[^']*'", "''", spark_sql)))


# -- the input: raw-event columns onto the canonical types, Spark side -------------------

def spark_ident(name: str) -> str:
    """Quote an identifier for Spark SQL (backticks, inner backticks doubled)."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier: {name!r}")
    return "`" + name.replace("`", "``") + "`"


_SPARK_INTS = ("tinyint", "smallint", "int", "bigint")


def _floor_ms(micros: str) -> str:
    """Microseconds -> milliseconds, floored (the contract truncates towards the past)."""
    return f"(({micros}) - pmod({micros}, 1000)) div 1000"


def spark_input_expr(col: str, src_col: str, spark_type: str, kind: str) -> str | None:
    """Spark SQL converting ``src_col`` (Spark type name ``spark_type``, e.g. ``bigint``,
    ``timestamp_ntz``) to the canonical type of contract column ``col``; ``kind`` is
    ``time``, ``int``, ``bool`` or ``text``. None: the type cannot hold it (the caller
    names the column and the types the Spark engine reads)."""
    q = spark_ident(src_col)
    if spark_type == "void":
        return {"time": "CAST(NULL AS BIGINT)", "int": "CAST(NULL AS BIGINT)",
                "bool": "CAST(NULL AS BOOLEAN)"}.get(kind, "CAST(NULL AS STRING)")
    if kind == "time":
        if spark_type == "timestamp":
            return _floor_ms(f"unix_micros({q})")
        if spark_type == "timestamp_ntz":  # no zone: UTC wall clock, as DuckDB's TIMESTAMP
            return _floor_ms(f"unix_micros(CAST({q} AS TIMESTAMP))")
        return f"CAST({q} AS BIGINT)" if spark_type in _SPARK_INTS else None
    if kind == "int":
        return f"CAST({q} AS BIGINT)" if spark_type in _SPARK_INTS else None
    if kind == "bool":
        if spark_type == "boolean":
            return q
        return f"({q} <> 0)" if spark_type in _SPARK_INTS else None
    if spark_type.startswith(("struct", "map", "array", "binary")):
        return None
    return f"CAST({q} AS STRING)"


def spark_epoch_micros(column: str) -> str:
    """A TIMESTAMP column as epoch microseconds (how results leave Spark: no zone games in
    the conversion to Arrow)."""
    return f"unix_micros({spark_ident(column)})"


def spark_select(exprs: list[tuple[str, str]], relation: str) -> str:
    """``SELECT expr AS col, ... FROM relation`` (relation: a temp view name of ours)."""
    return ("SELECT " + ", ".join(f"{e} AS {spark_ident(c)}" for e, c in exprs)
            + f" FROM {spark_ident(relation)}")
