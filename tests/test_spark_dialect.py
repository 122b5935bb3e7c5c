"""The DuckDB -> Spark SQL dialect (auditor/golden/dialect.py): each known difference is
rewritten the way its docstring says, every golden stage transpiles, and no module outside
the dialect module spells an engine-specific construct for Spark (the lint). These need
sqlglot, not Spark."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

sqlglot = pytest.importorskip("sqlglot", reason="the spark extra: pip install -e '.[spark]'")

from auditor.golden.dialect import parameter_names, spark_input_expr, to_spark  # noqa: E402
from auditor.golden.sqlfiles import read_rule, render, statements  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / "auditor"
RULES = Path(__file__).resolve().parents[1] / "rules"


def one(sql: str) -> str:
    return to_spark(sql).sql


def test_the_session_key_is_the_session_id_itself_on_spark():
    out = one("SELECT hash(session_id, $salt::BIGINT) AS sk FROM g_input")
    assert out == "SELECT session_id AS sk FROM g_input"


def test_the_duplicate_candidate_key_uses_a_64_bit_spark_hash():
    assert "XXHASH64(session_id, event_id)" in one("SELECT hash(session_id, event_id) AS ek FROM t")


def test_event_type_codes_match_duckdb_enum_codes():
    out = one("SELECT enum_code(TRY_CAST(event_type AS ENUM('a', 'b'))) AS c FROM t")
    # 0-based like enum_code, NULL for an unknown or NULL name like TRY_CAST to the ENUM
    assert out == "SELECT NULLIF(ARRAY_POSITION(ARRAY('a', 'b'), event_type), 0) - 1 AS c FROM t"


def test_ignore_nulls_moves_outside_the_call():
    out = one("SELECT last_value(x IGNORE NULLS) OVER (PARTITION BY k ORDER BY o) FROM t")
    assert "LAST_VALUE(x) IGNORE NULLS OVER" in out


def test_any_value_skips_nulls_on_spark_as_on_duckdb():
    assert "ANY_VALUE(x) IGNORE NULLS" in one("SELECT any_value(x) FROM t GROUP BY k")


def test_ascending_keys_sort_nulls_last_as_duckdb_does():
    out = one("SELECT row_number() OVER (PARTITION BY k ORDER BY a, b DESC) FROM t")
    assert "ORDER BY a NULLS LAST, b DESC" in out  # DESC: NULLs first on both engines


def test_ranking_functions_lose_the_named_frame_spark_refuses():
    out = one("SELECT row_number() OVER w AS pos, lead(ts) OVER w AS nx, "
              "last_value(x IGNORE NULLS) OVER w AS lv FROM t "
              "WINDOW w AS (PARTITION BY k ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)")
    assert "ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts NULLS LAST)" in out
    assert "LEAD(ts) OVER (PARTITION BY k ORDER BY ts NULLS LAST)" in out
    assert "LAST_VALUE(x) IGNORE NULLS OVER w" in out


def test_micros_to_timestamp():
    assert one("SELECT make_timestamptz(ms * 1000) AS t FROM f") == "SELECT TIMESTAMP_MICROS(ms * 1000) AS t FROM f"


def test_statements_become_what_spark_can_do():
    table = to_spark("CREATE OR REPLACE TEMP TABLE g_x AS SELECT 1 AS a")
    assert (table.kind, table.target, table.sql) == ("table", "g_x", "SELECT 1 AS a")
    assert to_spark("CREATE OR REPLACE TEMP VIEW g_v AS SELECT 1 AS a").kind == "view"
    delete = to_spark("DELETE FROM g_facts WHERE tied")
    # the rows DELETE spares: where the condition is false or NULL
    assert (delete.kind, delete.sql) == ("delete", "SELECT * FROM g_facts WHERE NOT COALESCE((tied), FALSE)")
    insert = to_spark("INSERT INTO g_facts WITH r AS (SELECT 1 AS a) SELECT a FROM r")
    assert (insert.kind, insert.target) == ("insert", "g_facts")
    assert insert.sql == "WITH r AS (SELECT 1 AS a) SELECT a FROM r"
    assert "MATERIALIZED" not in one("WITH r AS MATERIALIZED (SELECT 1 AS a) SELECT a FROM r")


@pytest.mark.parametrize("sql,line", [
    ("SELECT a\nFROM t\nGROUP BY BY a", 3),
    ("CREATE OR REPLACE TEMP TABLE x AS\nSELECT a\nFROM t GROUP BY BY a", 3),  # sqlglot: a Command
    ("CREATE FOO x", None),
], ids=["parse-error", "create-as-unparsed", "unparsed-command"])
def test_sql_sqlglot_cannot_read_is_a_dialect_error(sql, line):
    """A rules folder's broken SQL is a DialectError (the gate and run make it exit 2 naming
    the file and line), never DuckDB text passed on to Spark with `::` read as a parameter."""
    from auditor.golden.dialect import DialectError

    with pytest.raises(DialectError, match="^syntax error") as err:
        to_spark(sql)
    assert err.value.line == line


def test_parameters_stay_bound():
    out = one("SELECT x FROM t WHERE x > $window_ms::BIGINT AND y = 'a:b'")
    assert ":window_ms" in out and parameter_names(out) == {"window_ms"}


GOLDEN_CONTEXTS = [
    ("01_load", dict(spool=False)),
    ("02_dedup", {}),
    ("03_live", {}),
    ("05_session_facts", dict(exact_ties=False, timeout=False)),
    ("05_session_facts", dict(exact_ties=False, timeout=True)),
    ("05_session_facts", dict(exact_ties=True, timeout=True)),
    ("06_attributes", dict(dims=("cdn", 'we"ird`dim'))),
    ("07_aggregate", dict(dims=("cdn",))),
]
# DuckDB-only spellings that must not survive transpiling
DUCKDB_ONLY = re.compile(r"\b(HASH|ENUM_CODE|ENUM|MAKE_TIMESTAMPTZ|UTINYINT|UBIGINT|MATERIALIZED|"
                         r"ARG_MIN|ARG_MAX|LIST_\w+|EPOCH_\w+)\b|::|\$\w", re.I)


@pytest.mark.parametrize("stage,context", GOLDEN_CONTEXTS,
                         ids=[f"{s}-{'-'.join(f'{k}={v}' for k, v in c.items() if k != 'dims')}"
                              for s, c in GOLDEN_CONTEXTS])
def test_every_golden_stage_transpiles_without_duckdb_constructs(stage, context):
    for _, stmt in statements(render(read_rule(f"golden/{stage}.sql"), **context)):
        out = to_spark(stmt).sql
        sqlglot.parse_one(out, read="spark")  # Spark SQL that parses
        assert not DUCKDB_ONLY.search(out.replace("XXHASH64", "")), (stage, out)


def test_a_global_window_is_not_in_the_stages():
    """A window without PARTITION BY runs in one Spark task: no golden stage may have one."""
    for path in sorted((RULES / "golden").glob("*.sql")):
        for match in re.finditer(r"OVER\s*\(([^)]*)\)", path.read_text(encoding="utf-8")):
            assert "PARTITION BY" in match[1], (path.name, match[0])


def test_input_conversions():
    assert spark_input_expr("ts", "ts", "bigint", "time") == "CAST(`ts` AS BIGINT)"
    floor = spark_input_expr("ts", "ts", "timestamp", "time")
    assert "unix_micros(`ts`)" in floor and "pmod" in floor  # floored, not truncated
    assert "CAST(`t` AS TIMESTAMP)" in spark_input_expr("ts", "t", "timestamp_ntz", "time")
    assert spark_input_expr("seq", "seq", "double", "int") is None  # refused by name
    assert spark_input_expr("fatal", "f", "int", "bool") == "(`f` <> 0)"
    assert spark_input_expr("cdn", "c`dn", "string", "text") == "CAST(`c``dn` AS STRING)"


# -- the lint: engine-specific constructs live in one module ---------------------------------

SPARK_ONLY = re.compile(r"\b(xxhash64|timestamp_micros|unix_micros|unix_millis|array_position|"
                        r"min_by|max_by|timestamp_ntz|spark\.sql\.ansi)\b", re.I)


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_spark_sql_outside_the_dialect_module():
    offenders = [f"{p.relative_to(PACKAGE)}: {m[0]}" for p in _modules()
                 if p.name != "dialect.py"
                 for m in [SPARK_ONLY.search(p.read_text(encoding="utf-8"))] if m]
    assert not offenders, offenders
    for path in sorted(RULES.rglob("*.sql")):  # the rules are DuckDB SQL, for both engines
        assert not SPARK_ONLY.search(path.read_text(encoding="utf-8")), path


def test_the_lint_finds_a_spark_construct():
    assert SPARK_ONLY.search("SELECT xxhash64(a) FROM t")
    assert not SPARK_ONLY.search("SELECT hash(a) FROM t")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_pyspark_and_sqlglot_each_behind_one_door():
    users = {lib: sorted(str(p.relative_to(PACKAGE)) for p in _modules() if lib in _imports(p))
             for lib in ("pyspark", "sqlglot")}
    assert users == {"pyspark": ["golden/spark.py"], "sqlglot": ["golden/dialect.py"]}
    spark_module = (PACKAGE / "golden" / "spark.py").read_text(encoding="utf-8")
    top = [n for n in ast.parse(spark_module).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("pyspark" in ast.dump(n) for n in top), "pyspark is imported lazily"
