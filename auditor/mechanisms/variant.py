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

Many variants are evaluated side by side (:meth:`SliceVariants.deltas`): each
variant's copy of a session is keyed apart, so one rerun of stages 2-5 serves
every ``events`` variant (and every ``option`` variant with the same options),
and one query every ``facts`` overlay. :meth:`SliceVariants.sampled` gives the
same over a stable sample of the slice's sessions, for screening.

A mechanism's parameters are given by their reported names and units
(``{"watermark_s": 120}``, ``{"share": 0.15}``); a share below 1 hits the
sessions chosen by a hash of their key (stable, unrelated to outcomes).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import NamedTuple

import duckdb
import numpy as np
import pyarrow as pa

from auditor.golden.calculator import COMPONENTS, SESSION_FACTS, GoldenOptions, session_stages
from auditor.golden.sqlfiles import RulesFolder, quote_ident, run_rule
from auditor.mechanisms.catalogue import Catalogue, Mechanism, load_catalogue

Slice = Mapping[str, "str | None"]
_FACTS = ", ".join(SESSION_FACTS)
_ids = itertools.count(1)
_SAMPLE_SALT = 16381   # hash(sk, salt) draws a sample; a share's sessions are drawn by hash(sk)


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
    facts overlays place sessions on it. ``rows``: :class:`SlicesRows` holding this
    slice's sessions' raw rows (else they are read from ``g_narrow``). Call :meth:`close` (or use ``with``) to
    drop the tables it made.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, slice_: Slice, *, grain_ms: int,
                 options: GoldenOptions | None = None, rules: RulesFolder | None = None,
                 dims: Sequence[str] = (), rows: "SlicesRows | None" = None,
                 _sample_of: "tuple[SliceVariants, int] | None" = None) -> None:
        self.con, self.slice, self.grain_ms = con, dict(slice_), grain_ms
        self.options = options or GoldenOptions()
        self.rules = rules
        self.dims = tuple(dims)
        self.tag = f"m{next(_ids)}"
        self._cursor: duckdb.DuckDBPyConnection | None = None
        self.scale = 1.0           # a sample's sessions stand for this many of the slice's each
        self.touched: dict[int, int] = {}   # after deltas(): sessions touched per variant index
        where, params = slice_predicate(self.slice)
        # the slice's sessions with the dimensions deltas are cut by
        self._attrs = tuple(dict.fromkeys([*self.dims, *sorted(self.slice)]))
        source, narrow = "g_attrs", (rows.table if rows is not None else None) or "g_narrow"
        if _sample_of is not None:
            parent, ppm = _sample_of
            source, narrow = f"{parent.tag}_attrs", f"main.{parent.tag}_narrow"
            where, params = f"hash(sk, {_SAMPLE_SALT}) % 1000000 < $ppm", {"ppm": ppm}
            self._attrs = parent._attrs
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_attrs AS SELECT sk"
                    f"{''.join(', ' + quote_ident(d) for d in self._attrs)} FROM {source} WHERE {where}", params)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_sk AS SELECT sk FROM {self.tag}_attrs")
        # the slice's raw rows, read once; rid: a dense number per session (its copy under
        # variant k of n is keyed rid * n + k)
        con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_rid AS "
                    f"SELECT sk, (row_number() OVER ())::UBIGINT AS rid FROM {self.tag}_sk")
        con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_narrow AS "
                    f"SELECT n.*{' EXCLUDE (m_rid)' if _sample_of else ''}, r.rid AS m_rid "
                    f"FROM {narrow} n JOIN main.{self.tag}_rid r ON r.sk = n.sk")
        self._gaps = False
        if _sample_of is not None:
            parent = _sample_of[0]
            con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_slice AS SELECT * FROM {parent.tag}_slice "
                        f"WHERE sk IN (SELECT sk FROM {self.tag}_sk)")
            self._gaps = parent._gaps
            self.scale = parent.sessions / max(self.sessions, 1)
            return
        # golden facts of the slice's sessions, with what touches predicates read
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.tag}_slice AS
            WITH narrow AS (
                SELECT n.sk,
                       count(*) FILTER (WHERE n.et = 3) AS attempt_rows,
                       count(*) FILTER (WHERE n.seq < a.a_seq OR (n.seq = a.a_seq AND n.ts < a.a_ts))
                           AS stray_rows
                FROM main.{self.tag}_narrow n JOIN g_first_attempt a USING (sk)
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

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        for name in ("sk", "slice", "attrs"):
            self.con.execute(f"DROP TABLE IF EXISTS temp.{self.tag}_{name}")
        for name in ("narrow", "rid", "in_b", "out_b"):
            self.con.execute(f"DROP TABLE IF EXISTS main.{self.tag}_{name}")
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def __enter__(self) -> "SliceVariants":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def sampled(self, sessions: int) -> "SliceVariants | None":
        """Variants over about ``sessions`` of this slice's sessions (a stable hash sample,
        independent of the hash that picks a share's sessions), reading this one's tables;
        its :attr:`scale` is how many of the slice's sessions each stands for. None when
        the slice has no more than twice that many."""
        total = self.sessions
        if total <= 2 * sessions:
            return None
        return SliceVariants(self.con, self.slice, grain_ms=self.grain_ms, options=self.options, rules=self.rules,
                             dims=self.dims, _sample_of=(self, int(round(sessions / total * 1_000_000))))

    @property
    def sessions(self) -> int:
        return self.con.execute(f"SELECT count(*) FROM {self.tag}_slice").fetchall()[0][0]

    def noise(self, components: Sequence[str]) -> np.ndarray:
        """Per component: sqrt of the sum of squared per-session facts over the slice (the
        scale of the sampling noise when a random share of its sessions is hit)."""
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
        return self.deltas([Variant(mechanism, params, share)], dims=dims, grain_ms=grain_ms)[0]

    def deltas(self, variants: Sequence["Variant"], *, dims: Sequence[str], grain_ms: int) -> list[pa.Table]:
        """:meth:`delta` of each variant, evaluated together: one golden rerun per set of
        named options for all the ``events`` and ``option`` variants (each variant's
        sessions under a key of their own), one query for all the ``facts`` ones. A
        variant that touches no session costs nothing. Until the next call, the touched
        sessions' golden facts (``in``) and their variant facts (``out``) stay in tables
        for :meth:`delta_squares` and :meth:`session_evidence`, by variant index."""
        resolved = [self._resolve(v) for v in variants]
        self._touch(resolved)
        touched = self.touched = dict(self.con.execute(
            f"SELECT idx, count(*) FROM main.{self.tag}_in_b GROUP BY idx").fetchall())
        self.con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_out_b AS SELECT 0::INTEGER AS idx, sk, "
                         f"window_ms, {_FACTS} FROM {self.tag}_slice LIMIT 0")
        live = [k for k in range(len(resolved)) if touched.get(k)]
        facts = [k for k in live if resolved[k][0].how == "facts"]
        if facts:
            self._facts_overlays(resolved, facts)
        groups: dict[tuple, list[int]] = {}
        for k in live:
            if resolved[k][0].how != "facts":
                groups.setdefault(tuple(sorted(self._options(*resolved[k][:2]).__dict__.items())), []).append(k)
        for ks in groups.values():
            self._rerun(resolved, ks)
        self._ensure_attrs(dims)
        dim_cols = ", ".join(f"a.{quote_ident(d)}" for d in dims)
        sums = ", ".join(f"sum(v.{f})::BIGINT AS {c}" for f, c in zip(SESSION_FACTS, COMPONENTS))
        g = int(grain_ms)
        neg = ", ".join(f"-{f} AS {f}" for f in SESSION_FACTS)
        table = self.con.sql(f"""
            SELECT v.idx, v.window_ms - (((v.window_ms % {g}) + {g}) % {g}) AS window_ms
                   {', ' + dim_cols if dims else ''}, {sums}
            FROM (SELECT idx, sk, window_ms, {_FACTS} FROM main.{self.tag}_out_b
                  UNION ALL
                  SELECT idx, sk, window_ms, {neg} FROM main.{self.tag}_in_b) v
            JOIN {self.tag}_attrs a USING (sk)
            GROUP BY ALL
            ORDER BY v.idx""").to_arrow_table()
        idx = table.column("idx").to_numpy()
        starts = np.searchsorted(idx, np.arange(len(resolved) + 1))
        table = table.drop_columns(["idx"])
        return [table.slice(starts[k], starts[k + 1] - starts[k]) for k in range(len(resolved))]

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
                 v AS (SELECT sk, {variant} FROM main.{self.tag}_out_b GROUP BY sk),
                 touched AS (SELECT sk FROM main.{self.tag}_in_b)
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

    def delta_squares(self, *, grain_ms: int, index: int = 0) -> pa.Table:
        """After :meth:`deltas`: for variant ``index``, per window (on ``grain_ms``) the sum
        over sessions of each component's squared per-session change, the variance scale
        of hitting a random share of them."""
        per = ", ".join(f"coalesce(o.{f}, 0) - coalesce(i.{f}, 0) AS {f}" for f in SESSION_FACTS)
        sq = ", ".join(f"sum({f}::DOUBLE * {f}) AS {c}" for f, c in zip(SESSION_FACTS, COMPONENTS))
        g, k = int(grain_ms), int(index)
        return self.con.sql(f"""
            SELECT w - (((w % {g}) + {g}) % {g}) AS window_ms, {sq}
            FROM (SELECT coalesce(i.window_ms, o.window_ms) AS w, {per}
                  FROM (SELECT sk, min(window_ms) AS window_ms, {', '.join(f'sum({f}) AS {f}' for f in SESSION_FACTS)}
                        FROM main.{self.tag}_out_b WHERE idx = {k} GROUP BY sk) o
                  FULL JOIN (SELECT * FROM main.{self.tag}_in_b WHERE idx = {k}) i USING (sk))
            GROUP BY ALL""").to_arrow_table()

    def _resolve(self, variant: "Variant") -> tuple[Mechanism, dict, float | None]:
        """(mechanism, its bound SQL parameters, share of touched sessions hit)."""
        mechanism, params, share = variant
        if share is None and mechanism.param is not None and mechanism.param.fit == "share":
            share = (params or {}).get(mechanism.param.name)
        return mechanism, self.sql_params(mechanism, params), share

    def _touch(self, resolved: Sequence[tuple]) -> None:
        """Table {tag}_in_b: per variant index, the touched sessions' golden facts (the
        overlay's m_in). The raw-row predicates of all variants are read in one pass."""
        if any("max_gap_ms" in (m.touches_sessions or "") for m, _, _ in resolved):
            self._ensure_gaps()
        branches, flags, params = [], [], {}
        for k, (mechanism, bound, share) in enumerate(resolved):
            cond = ["true"]
            if mechanism.touches_sessions:
                cond.append(f"({mechanism.touches_sessions})")
            if mechanism.touches_events:
                text, used = _suffixed(mechanism.touches_events, bound, k)
                flags.append(f"bool_or({text}) AS t{k}")
                params.update(used)
                cond.append(f"sk IN (SELECT sk FROM m_touched WHERE t{k})")
            values = dict(bound)
            if share is not None and share < 1:
                cond.append("hash(sk) % 1000000 < $share_ppm")
                values["share_ppm"] = int(round(share * 1_000_000))
            text, used = _suffixed(" AND ".join(cond), values, k)
            params.update(used)
            branches.append(f"SELECT {k}::INTEGER AS idx, * FROM {self.tag}_slice WHERE {text}")
        with_ = (f"WITH m_touched AS (SELECT sk, {', '.join(flags)} FROM main.{self.tag}_narrow GROUP BY sk) "
                 if flags else "")
        self.con.execute(f"CREATE OR REPLACE TABLE main.{self.tag}_in_b AS {with_}"
                         + "\nUNION ALL\n".join(branches), params)

    def _facts_overlays(self, resolved: Sequence[tuple], ks: Sequence[int]) -> None:
        """The facts overlays of variants ``ks``, each over its own m_in, in one query."""
        branches, params = [], {}
        for k in ks:
            mechanism, bound = resolved[k][:2]
            text, used = _suffixed(self._overlay_sql(mechanism), bound, k)
            params.update(used)
            branches.append(f"SELECT {k} AS idx, sk, window_ms, {_FACTS} FROM ("
                            f"WITH m_in AS (SELECT * EXCLUDE (idx) FROM main.{self.tag}_in_b WHERE idx = {k}) "
                            f"SELECT * FROM (\n{text}\n))")
        try:
            self.con.execute(f"INSERT INTO main.{self.tag}_out_b " + "\nUNION ALL\n".join(branches), params)
        except duckdb.Error as exc:
            if len(ks) == 1:
                raise _overlay_error(resolved[ks[0]][0], self.rules, exc) from None
            for k in ks:   # which overlay fails: each alone names it
                self._facts_overlays(resolved, [k])
            raise

    def _overlay_sql(self, mechanism: Mechanism) -> str:
        rules = self.rules or RulesFolder()
        text = rules.render(mechanism.sql)
        return "\n".join(line for line in text.splitlines() if not line.strip().startswith("--")
                         ).strip().rstrip(";")

    def _options(self, mechanism: Mechanism, bound: dict) -> GoldenOptions:
        opts = dict(mechanism.options)
        if mechanism.param is not None and mechanism.param.option:
            opts[mechanism.param.option] = bound[mechanism.param.bound]
        return replace(self.options, **opts) if opts else self.options

    def _ensure_attrs(self, dims: Sequence[str]) -> None:
        """{tag}_attrs: the slice's sessions with the ``dims`` a delta is cut by."""
        if not set(dims) <= set(self._attrs):
            self._attrs = tuple(dict.fromkeys([*self._attrs, *dims]))
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.tag}_attrs AS SELECT sk"
                             f"{''.join(', ' + quote_ident(d) for d in self._attrs)} FROM g_attrs "
                             f"WHERE sk IN (SELECT sk FROM {self.tag}_sk)")

    def _ensure_gaps(self) -> None:
        """max_gap_ms per session: the longest pause between consecutive raw events."""
        if self._gaps:
            return
        self.con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {self.tag}_slice AS
            SELECT s.*, coalesce(g.max_gap_ms, 0) AS max_gap_ms
            FROM {self.tag}_slice s LEFT JOIN (
                SELECT sk, max(gap) AS max_gap_ms FROM (
                    SELECT sk, ts - lag(ts) OVER (PARTITION BY sk ORDER BY seq, ts) AS gap
                    FROM main.{self.tag}_narrow) GROUP BY sk) g USING (sk)""")
        self._gaps = True

    def _rerun(self, resolved: Sequence[tuple], ks: Sequence[int]) -> None:
        """Golden stages 2-5, once, on a cursor over the raw rows of the sessions variants
        ``ks`` touch (which share their named options), each variant's copy edited by its
        overlay and keyed apart (rid * n + k; event keys xor k, so copies of one event do
        not meet in deduplication)."""
        n, cur = len(resolved), self._cursor or self.con.cursor()
        self._cursor = cur
        cur.execute("DROP TABLE IF EXISTS g_batch")
        for j, k in enumerate(ks):
            mechanism, bound = resolved[k][:2]
            cur.execute(f"CREATE OR REPLACE TEMP TABLE g_narrow AS "
                        f"SELECT * EXCLUDE (m_rid) "
                        f"REPLACE ((m_rid * {n} + {k})::UBIGINT AS sk, xor(ek, {k}::UBIGINT) AS ek) "
                        f"FROM main.{self.tag}_narrow "
                        f"WHERE sk IN (SELECT sk FROM main.{self.tag}_in_b WHERE idx = {k})")
            if mechanism.how == "events":
                try:
                    run_rule(cur, mechanism.sql, {p: v for p, v in bound.items()
                                                  if f"${p}" in (self.rules or RulesFolder()).read(mechanism.sql)},
                             rules=self.rules)
                except duckdb.Error as exc:
                    raise _overlay_error(mechanism, self.rules, exc) from None
            if j == 0:
                cur.execute("ALTER TABLE g_narrow RENAME TO g_batch")
            else:
                cur.execute("INSERT INTO g_batch SELECT * FROM g_narrow")
        cur.execute("DROP TABLE IF EXISTS g_narrow")
        cur.execute("ALTER TABLE g_batch RENAME TO g_narrow")
        options = self._options(*resolved[ks[0]][:2])
        stage_params = {
            "salt": 0,
            "any_frame": options.start_anchor == "any_frame",
            "session_end": options.attribution == "session_end",
            "inactivity_timeout_ms": options.inactivity_timeout_ms,
            "ebvs_min_wait_ms": options.ebvs_min_wait_ms,
            "window_ms": self.grain_ms,
        }
        session_stages(cur, self.dims, stage_params, self.rules)
        cur.execute(f"INSERT INTO main.{self.tag}_out_b SELECT (f.sk % {n})::INTEGER, r.sk, f.window_ms, "
                    f"{', '.join('f.' + c for c in SESSION_FACTS)} "
                    f"FROM g_facts f JOIN main.{self.tag}_rid r ON r.rid = f.sk // {n}")


class SlicesRows:
    """The raw rows (``g_narrow``) of the sessions of several slices, read once for all of
    them: golden's rows may be a spool of Parquet files as large as the input, and each
    :class:`SliceVariants` would read it whole to find its slice's. Use as a context
    manager; ``table`` is None when a slice is every session (nothing to share)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, slices: Sequence[Slice]) -> None:
        self.con, self.table = con, None
        if len(slices) < 2 or any(not s for s in slices):
            return
        terms, params = [], {}
        for k, slice_ in enumerate(slices):
            where, values = slice_predicate(slice_)
            text, used = _suffixed(where, values, k)
            terms.append(f"({text})")
            params.update(used)
        self.table = f"main.m_rows{next(_ids)}"
        con.execute(f"CREATE OR REPLACE TABLE {self.table} AS SELECT * FROM g_narrow WHERE sk IN "
                    f"(SELECT sk FROM g_attrs WHERE {' OR '.join(terms)})", params)

    def __enter__(self) -> "SlicesRows":
        return self

    def __exit__(self, *exc) -> None:
        if self.table is not None:
            self.con.execute(f"DROP TABLE IF EXISTS {self.table}")


class Variant(NamedTuple):
    """One evaluation: a mechanism, its parameters (reported names and units) and the share
    of its touched sessions hit (None: its own share parameter, else all)."""

    mechanism: Mechanism
    params: Mapping[str, float] | None = None
    share: float | None = None


def _suffixed(text: str, values: Mapping[str, object], k: int) -> tuple[str, dict]:
    """``text`` with each ``$name`` of ``values`` it uses renamed ``$name__k``, and those
    values under the new names: variants bound side by side in one statement."""
    used = {}
    for name, value in values.items():
        pattern = re.compile(rf"\${re.escape(name)}\b")
        if pattern.search(text):
            text = pattern.sub(lambda _m: f"${name}__{k}", text)
            used[f"{name}__{k}"] = value
    return text, used


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
