"""Golden under a mechanism: the variant evaluator every mechanism hypothesis runs through.

It works on a connection on which the golden calculator has run (tables
``g_narrow``, ``g_first_attempt``, ``g_facts``, ``g_attrs`` of
rules/golden/): the loaded events are reused, never read again. Only the
sessions of a slice that a mechanism can change (its ``touches``) are
recomputed; every other session keeps its golden facts.

- ``events`` and ``option`` mechanisms copy the touched sessions' raw rows
  (``g_narrow``) into a table of the same in-memory database and rerun golden
  stages 2-5 on a cursor of the connection (its own temporary namespace, so
  golden's tables stay intact), after the mechanism's overlay SQL edited them
  or under its named options;
- ``facts`` mechanisms run their overlay SELECT over ``m_in``, the touched
  sessions' golden facts.

A mechanism's parameters are given by their reported names and units
(``{"watermark_s": 120}``, ``{"share": 0.15}``); a share below 1 hits the
sessions chosen by a hash of their key (stable, unrelated to outcomes).
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import replace

import duckdb
import pyarrow as pa

from auditor.golden.calculator import COMPONENTS, SESSION_FACTS, GoldenOptions, session_stages
from auditor.golden.sqlfiles import RulesFolder, quote_ident, run_rule
from auditor.mechanisms.catalogue import Catalogue, Mechanism, load_catalogue

Slice = Mapping[str, "str | None"]
_FACTS = ", ".join(SESSION_FACTS)
_ids = itertools.count(1)


def slice_predicate(slice_: Slice, alias: str = "") -> tuple[str, dict]:
    """``dim = $p AND ...`` over g_attrs columns (NULL-safe), with its bound values."""
    terms, params = [], {}
    for k, (dim, value) in enumerate(sorted(slice_.items())):
        terms.append(f"{alias}{quote_ident(dim)} IS NOT DISTINCT FROM $s{k}")
        params[f"s{k}"] = value
    return " AND ".join(terms) or "true", params


class SliceVariants:
    """The sessions of one slice, ready for any number of variant evaluations.

    ``grain_ms`` is the grain of golden's ``g_facts`` (the audit's base grain):
    facts overlays place sessions on it. Call :meth:`close` (or use ``with``) to
    drop the tables it made.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, slice_: Slice, *, grain_ms: int,
                 options: GoldenOptions | None = None, rules: RulesFolder | None = None,
                 dims: Sequence[str] = ()) -> None:
        self.con, self.slice, self.grain_ms = con, dict(slice_), grain_ms
        self.options = options or GoldenOptions()
        self.rules = rules
        self.dims = tuple(dims)
        self.tag = f"m{next(_ids)}"
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self._narrow = False
        where, params = slice_predicate(self.slice)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_sk AS SELECT sk FROM g_attrs WHERE {where}",
                    params)
        # golden facts of the slice's sessions, with what touches predicates read
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.tag}_slice AS
            WITH narrow AS (
                SELECT n.sk,
                       count(*) FILTER (WHERE n.et = 3) AS attempt_rows,
                       count(*) FILTER (WHERE n.seq < a.a_seq OR (n.seq = a.a_seq AND n.ts < a.a_ts))
                           AS stray_rows
                FROM g_narrow n JOIN g_first_attempt a USING (sk)
                WHERE n.sk IN (SELECT sk FROM {self.tag}_sk)
                GROUP BY n.sk
            )
            SELECT f.sk, f.window_ms, a.a_ts AS start_ts, a.a_ts + f.duration_ms AS end_ts,
                   (a.a_ts + f.duration_ms) - ((((a.a_ts + f.duration_ms) % $g) + $g) % $g) AS end_window_ms,
                   {', '.join('f.' + c for c in SESSION_FACTS)}, f.after_end,
                   coalesce(n.attempt_rows, 0) AS attempt_rows, coalesce(n.stray_rows, 0) AS stray_rows
            FROM g_facts f
            JOIN g_first_attempt a USING (sk)
            LEFT JOIN narrow n USING (sk)
            WHERE f.sk IN (SELECT sk FROM {self.tag}_sk)""", {"g": grain_ms})
        self._gaps = False

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        for name in ("sk", "slice", "touched", "out", "in"):
            self.con.execute(f"DROP TABLE IF EXISTS temp.{self.tag}_{name}")
        for name in ("narrow", "touched_sk", "out_ev"):
            self.con.execute(f"DROP TABLE IF EXISTS main.{self.tag}_{name}")
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def __enter__(self) -> "SliceVariants":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def sessions(self) -> int:
        return self.con.execute(f"SELECT count(*) FROM {self.tag}_slice").fetchall()[0][0]

    def noise(self, components: Sequence[str]) -> "np.ndarray":
        """Per component: sqrt of the sum of squared per-session facts over the slice (the
        scale of the sampling noise when a random share of its sessions is hit)."""
        import numpy as np
        facts = dict(zip(COMPONENTS, SESSION_FACTS))
        row = self.con.execute("SELECT " + ", ".join(
            f"sqrt(coalesce(sum({facts[c]}::DOUBLE * {facts[c]}), 0))" for c in components)
            + f" FROM {self.tag}_slice").fetchall()[0]
        return np.array(row, dtype="float64")

    # -- evaluation ----------------------------------------------------------------------
    def sql_params(self, mechanism: Mechanism, params: Mapping[str, float] | None) -> dict:
        out = {"grain_ms": self.grain_ms}
        if mechanism.param is not None and mechanism.param.fit != "share":
            value = (params or {}).get(mechanism.param.name)
            if value is None:
                from auditor.errors import ConfigError
                raise ConfigError(f"mechanism {mechanism.name!r} needs its parameter "
                                  f"{mechanism.param.name!r}", key=mechanism.name,
                                  hint=f"e.g. {{{mechanism.param.name}: {mechanism.param.grid[0]:g}}}")
            out[mechanism.param.bound] = mechanism.param.to_sql(float(value))
        return out

    def delta(self, mechanism: Mechanism, params: Mapping[str, float] | None = None, *,
              dims: Sequence[str], grain_ms: int, share: float | None = None) -> pa.Table:
        """What the mechanism changes: per (``window_ms`` on ``grain_ms``, ``dims``) cell the
        variant's components minus golden's (only cells it changes are guaranteed; a
        cell with all zeros may appear). ``share`` (0-1]: only that share of the touched
        sessions (by a hash of their key); None: the mechanism's own share parameter
        from ``params``, else all."""
        if share is None and mechanism.param is not None and mechanism.param.fit == "share":
            share = (params or {}).get(mechanism.param.name)
        bound = self.sql_params(mechanism, params)
        self._touch(mechanism, bound, share)
        if mechanism.how == "facts":
            self._facts_overlay(mechanism, bound)
        else:
            self._rerun(mechanism, bound, params)
        dim_cols = ", ".join(f"a.{quote_ident(d)}" for d in dims)
        sums = ", ".join(f"sum(v.{f})::BIGINT AS {c}" for f, c in zip(SESSION_FACTS, COMPONENTS))
        sel = f"v.window_ms - (((v.window_ms % {int(grain_ms)}) + {int(grain_ms)}) % {int(grain_ms)}) AS window_ms"
        neg = ", ".join(f"-{f} AS {f}" for f in SESSION_FACTS)
        return self.con.sql(f"""
            SELECT {sel}{', ' + dim_cols if dims else ''}, {sums}
            FROM (SELECT sk, window_ms, {_FACTS} FROM {self.tag}_out
                  UNION ALL
                  SELECT sk, window_ms, {neg} FROM {self.tag}_in) v
            JOIN g_attrs a USING (sk)
            GROUP BY ALL""").to_arrow_table()

    def session_evidence(self, mechanism: Mechanism, params: Mapping[str, float] | None, session_rows: str,
                         facts: Sequence[str], *, limit: int = 5) -> dict:
        """RATest-style evidence from a pipeline's session rows (table ``session_rows``:
        ``session_id``, ``pipeline_rows`` and summed ``facts``, the audited windows only):
        among the slice's sessions golden counts in ``g_sessions``, those whose facts
        differ between golden and the pipeline (``differing``), how many of them the
        mechanism (at full strength) reproduces to the fact (``reproduced``), how many it
        changes at all (``variant_changes``), and the fewest sessions that show it: one per
        distinct way the facts changed, up to ``limit``."""
        full = {mechanism.param.name: 1.0} if mechanism.param and mechanism.param.fit == "share" else params
        self.delta(mechanism, full, dims=(), grain_ms=self.grain_ms, share=1.0)
        fs = [f for f in facts if f in SESSION_FACTS]
        variant = ", ".join(f"sum({f}) AS {f}" for f in fs)
        rows = self.con.execute(f"""
            WITH g AS (SELECT s.sk, a.session_id, {', '.join('s.' + f for f in fs)}
                       FROM {self.tag}_slice s JOIN g_attrs a USING (sk)
                       WHERE a.session_id IN (SELECT session_id FROM g_sessions)),
                 v AS (SELECT sk, {variant} FROM {self.tag}_out GROUP BY sk),
                 touched AS (SELECT sk FROM {self.tag}_in)
            SELECT g.session_id, coalesce(p.pipeline_rows, 0),
                   {', '.join(f'g.{f}' for f in fs)},
                   {', '.join(f'coalesce(p.{quote_ident(f)}, 0)' for f in fs)},
                   {', '.join(f'CASE WHEN g.sk IN (SELECT sk FROM touched) THEN coalesce(v.{f}, 0) ELSE g.{f} END' for f in fs)}
            FROM g
            LEFT JOIN {quote_ident(session_rows)} p ON p.session_id = g.session_id
            LEFT JOIN v ON v.sk = g.sk
            ORDER BY g.session_id""").fetchall()
        n = len(fs)
        differing = reproduced = changes = 0
        shown: dict[tuple, dict] = {}
        for r in rows:
            golden, pipe, var = r[2:2 + n], r[2 + n:2 + 2 * n], r[2 + 2 * n:]
            changes += tuple(var) != tuple(golden)
            if tuple(golden) == tuple(pipe):
                continue
            differing += 1
            if tuple(var) != tuple(pipe):
                continue
            reproduced += 1
            changed = tuple((f, (p > g) - (p < g)) for f, g, p in zip(fs, golden, pipe) if g != p)
            if changed not in shown and len(shown) < limit:
                shown[changed] = {"session_id": r[0], "pipeline_rows": r[1],
                                  "golden": {f: g for f, g, p in zip(fs, golden, pipe) if g != p},
                                  "pipeline": {f: p for f, g, p in zip(fs, golden, pipe) if g != p}}
        return {"differing": differing, "reproduced": reproduced, "variant_changes": changes,
                "sessions": list(shown.values())}

    def delta_squares(self, *, grain_ms: int) -> pa.Table:
        """After :meth:`delta`: per window (on ``grain_ms``) the sum over sessions of each
        component's squared per-session change, the variance scale of hitting a random
        share of them."""
        per = ", ".join(f"coalesce(o.{f}, 0) - coalesce(i.{f}, 0) AS {f}" for f in SESSION_FACTS)
        sq = ", ".join(f"sum({f}::DOUBLE * {f}) AS {c}" for f, c in zip(SESSION_FACTS, COMPONENTS))
        g = int(grain_ms)
        return self.con.sql(f"""
            SELECT w - (((w % {g}) + {g}) % {g}) AS window_ms, {sq}
            FROM (SELECT coalesce(i.window_ms, o.window_ms) AS w, {per}
                  FROM (SELECT sk, min(window_ms) AS window_ms, {', '.join(f'sum({f}) AS {f}' for f in SESSION_FACTS)}
                        FROM {self.tag}_out GROUP BY sk) o
                  FULL JOIN {self.tag}_in i USING (sk))
            GROUP BY ALL""").to_arrow_table()

    def _touch(self, mechanism: Mechanism, bound: dict, share: float | None) -> None:
        """Table {tag}_in: the touched sessions' golden facts (the overlay's m_in)."""
        cond = ["true"]
        params: dict = {}
        if mechanism.touches_sessions:
            cond.append(f"({mechanism.touches_sessions})")
        if mechanism.touches_events:
            self._ensure_narrow()
            cond.append(f"sk IN (SELECT sk FROM main.{self.tag}_narrow WHERE {mechanism.touches_events})")
        if share is not None and share < 1:
            cond.append("hash(sk) % 1000000 < $share_ppm")
            params["share_ppm"] = int(round(share * 1_000_000))
        if "max_gap_ms" in (mechanism.touches_sessions or ""):
            self._ensure_gaps()
        text = " AND ".join(cond)
        params.update({k: v for k, v in bound.items() if f"${k}" in text})
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_in AS "
                         f"SELECT * FROM {self.tag}_slice WHERE {text}", params)

    def _facts_overlay(self, mechanism: Mechanism, bound: dict) -> None:
        sql = self._overlay_sql(mechanism)
        params = {k: v for k, v in bound.items() if f"${k}" in sql}
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW m_in AS SELECT * FROM {self.tag}_in")
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_out AS "
                             f"SELECT sk, window_ms, {_FACTS} FROM ({sql})", params)
        except duckdb.Error as exc:
            raise _overlay_error(mechanism, self.rules, exc) from None
        finally:
            self.con.execute("DROP VIEW IF EXISTS m_in")

    def _overlay_sql(self, mechanism: Mechanism) -> str:
        rules = self.rules or RulesFolder()
        text = rules.render(mechanism.sql)
        return "\n".join(line for line in text.splitlines() if not line.strip().startswith("--")
                         ).strip().rstrip(";")

    def _ensure_narrow(self) -> None:
        if not self._narrow:
            self.con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_narrow AS "
                             f"SELECT * FROM g_narrow WHERE sk IN (SELECT sk FROM {self.tag}_sk)")
            self._narrow = True

    def _ensure_gaps(self) -> None:
        """max_gap_ms per session: the longest pause between consecutive raw events."""
        if self._gaps:
            return
        self._ensure_narrow()
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.tag}_slice AS
            SELECT s.*, coalesce(g.max_gap_ms, 0) AS max_gap_ms
            FROM {self.tag}_slice s LEFT JOIN (
                SELECT sk, max(gap) AS max_gap_ms FROM (
                    SELECT sk, ts - lag(ts) OVER (PARTITION BY sk ORDER BY seq, ts) AS gap
                    FROM main.{self.tag}_narrow) GROUP BY sk) g USING (sk)""")
        self._gaps = True

    def _rerun(self, mechanism: Mechanism, bound: dict, params: Mapping[str, float] | None) -> None:
        """Golden stages 2-5 on a cursor over the touched sessions' raw rows."""
        self._ensure_narrow()
        con = self.con
        con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_touched_sk AS SELECT sk FROM {self.tag}_in")
        cur = self._cursor = self._cursor or con.cursor()
        cur.execute(f"CREATE OR REPLACE TEMP TABLE g_narrow AS SELECT * FROM main.{self.tag}_narrow "
                    f"WHERE sk IN (SELECT sk FROM main.{self.tag}_touched_sk)")
        opts = dict(mechanism.options)
        if mechanism.param is not None and mechanism.param.option:
            opts[mechanism.param.option] = bound[mechanism.param.bound]
        options = replace(self.options, **opts) if opts else self.options
        if mechanism.how == "events":
            sql = mechanism.sql
            try:
                run_rule(cur, sql, {k: v for k, v in bound.items()
                                    if f"${k}" in (self.rules or RulesFolder()).read(sql)},
                         rules=self.rules)
            except duckdb.Error as exc:
                raise _overlay_error(mechanism, self.rules, exc) from None
        stage_params = {
            "salt": 0,
            "any_frame": options.start_anchor == "any_frame",
            "session_end": options.attribution == "session_end",
            "inactivity_timeout_ms": options.inactivity_timeout_ms,
            "ebvs_min_wait_ms": options.ebvs_min_wait_ms,
            "window_ms": self.grain_ms,
        }
        session_stages(cur, self.dims, stage_params, self.rules)
        cur.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_out_ev AS SELECT sk, window_ms, {_FACTS} FROM g_facts")
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_out AS SELECT * FROM main.{self.tag}_out_ev")


def _overlay_error(mechanism: Mechanism, rules: RulesFolder | None, exc: Exception):
    from auditor.errors import ConfigError, first_line
    return ConfigError(f"the overlay of mechanism {mechanism.name!r} fails: {first_line(exc)}",
                       file=(rules or RulesFolder()).path(mechanism.sql or "mechanisms.yaml"),
                       hint="docs/mechanisms.md#adding-a-mechanism lists the tables and columns an overlay reads")


def golden_under(con: duckdb.DuckDBPyConnection, mechanism: str | Mechanism,
                 params: Mapping[str, float] | None = None, *, slice: Slice | None = None,
                 dims: Sequence[str], grain_minutes: int, golden_grain_minutes: int | None = None,
                 window_ms_from: int | None = None, window_ms_to: int | None = None,
                 options: GoldenOptions | None = None, rules: RulesFolder | None = None,
                 catalogue: Catalogue | None = None) -> pa.Table:
    """Golden computed as if ``mechanism`` (with ``params``) acted on the sessions of ``slice``
    (None or ``{}``: every session).

    Needs the golden tables on ``con`` (any ``compute_golden`` run with these ``options``
    and ``rules``; ``golden_grain_minutes``: the window length that run used, default
    ``grain_minutes``). Returns ``r_golden``'s shape: ``window_ms`` on ``grain_minutes``,
    ``dims``, the nine components, one row per cell with sessions, restricted to windows
    starting in [``window_ms_from``, ``window_ms_to``) when given.
    """
    cat = catalogue or load_catalogue(rules)
    mech = cat.get(mechanism) if isinstance(mechanism, str) else mechanism
    grain_ms = grain_minutes * 60_000
    base_ms = (golden_grain_minutes or grain_minutes) * 60_000
    dim_cols = ", ".join(quote_ident(d) for d in dims)
    with SliceVariants(con, slice or {}, grain_ms=base_ms, options=options, rules=rules,
                       dims=dims) as sv:
        con.register(f"{sv.tag}_delta", sv.delta(mech, params, dims=dims, grain_ms=grain_ms))
        sums = ", ".join(f"sum({c})::BIGINT AS {c}" for c in COMPONENTS)
        facts = ", ".join(f"f.{f} AS {c}" for f, c in zip(SESSION_FACTS, COMPONENTS))
        a_dims = ", ".join(f"a.{quote_ident(d)}" for d in dims)
        where = []
        if window_ms_from is not None:
            where.append(f"window_ms >= {int(window_ms_from)}")
        if window_ms_to is not None:
            where.append(f"window_ms < {int(window_ms_to)}")
        try:
            return con.sql(f"""
                SELECT window_ms{', ' + dim_cols if dims else ''}, {sums} FROM (
                    SELECT f.window_ms - (((f.window_ms % {grain_ms}) + {grain_ms}) % {grain_ms}) AS window_ms
                           {', ' + a_dims if dims else ''}, {facts}
                    FROM g_facts f JOIN g_attrs a USING (sk)
                    UNION ALL
                    SELECT * FROM {sv.tag}_delta)
                {'WHERE ' + ' AND '.join(where) if where else ''}
                GROUP BY ALL
                HAVING sum(attempts) <> 0 OR {' OR '.join(f'sum({c}) <> 0' for c in COMPONENTS[1:])}
                ORDER BY ALL""").to_arrow_table()
        finally:
            con.unregister(f"{sv.tag}_delta")
