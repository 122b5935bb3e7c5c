"""``run_audit``: the job after each batch window (what ``auditor run`` calls).

Golden is recomputed once per contiguous run of audited windows, at the
finest grain any pipeline needs (the gcd of the audit window and every
pipeline's grain, so rolling up is exact), then each pipeline is reconciled
against it and a three-way verdict is drawn per metric.

Everything runs on one DuckDB connection. Unless audit.yaml says
``quality: false``, the data-quality checks (docs/quality.md) run once, after
the last golden run, on the tables golden left on that connection: they cover
every event in ``events:`` (golden reads all of them; only its last stage
keeps the audited windows), and each explanation of a failing metric gets
the quality rates of its slice. A failing blocking check fails the audit
(exit 1); a failing non-blocking one is a warning in the report. auditor
judges the counts itself unless audit.yaml says ``quality: {engine:
great_expectations}``: importing GX would cost more CPU than a small audit.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from datetime import timedelta

import duckdb
import pyarrow as pa

from auditor import __version__
from auditor.config import AuditConfig
from auditor.deviations import create_expected, golden_under_each, split_gap
from auditor.errors import ConfigError, InputError
from auditor.findings import FAIL, PASS, AuditResult, PipelineResult, Verdict
from auditor.golden.calculator import COMPONENTS, compute_golden, connect
from auditor.golden.fingerprint import fingerprint
from auditor.quality.judges import preload
from auditor.golden.metrics import catalogue
from auditor.quality.checks import QualityReport, explanation_quality, run_quality
from auditor.quality.rules import QualityRules
from auditor.reconcile import reconcile_pipeline
from auditor.golden.sqlfiles import quote_ident
from auditor.windows import (Window, check_on_grid, contiguous_runs, iso, merge_windows, ms_iso,
                             parse_window_spec)

Progress = Callable[[str], None]


def resolve_windows(config: AuditConfig, specs: Sequence[Window | str] = ()) -> tuple[Window, ...]:
    """The audited windows: ``--window`` specs (repeatable, ranges split), else audit.yaml's window."""
    if specs:
        return merge_windows([spec] if isinstance(spec, Window) else
                             parse_window_spec(spec, config.window_minutes) for spec in specs)
    if config.window_start is None:
        raise ConfigError("no window to audit", file=config.file, key="window",
                          hint="pass --window 2025-03-20T14:00:00Z/PT1H, or set window.start in audit.yaml")
    try:
        check_on_grid(config.window_start, config.window_minutes, what=iso(config.window_start))
    except ConfigError as exc:
        raise ConfigError(exc.message, file=config.file, key="window.start", hint=exc.hint) from None
    return (Window(config.window_start, config.window_start + timedelta(minutes=config.window_minutes)),)


def pipeline_grains(config: AuditConfig) -> dict[str, int]:
    """Each pipeline's grain in minutes; a grain the audit window cannot be cut into is an error."""
    w = config.window_minutes
    grains = {}
    for p in config.pipelines:
        g = p.grain_minutes or w
        if g > w or w % g:
            hint = (f"audit with window.minutes a multiple of {g} (e.g. {g * math.ceil(w / g)})"
                    if g > w else f"a grain must divide the {w}-minute audit window (e.g. 5m, 15m, 1h)")
            raise ConfigError(f"the pipeline publishes {g}-minute rows, which cannot be aligned with "
                              f"{w}-minute audit windows", file=config.file,
                              key=f"pipelines.{p.name}.grain", hint=hint)
        grains[p.name] = g
    return grains


def run_audit(config: AuditConfig, windows: Sequence[Window | str] = (), *,
              progress: Progress | None = None, explain: bool = True,
              con: duckdb.DuckDBPyConnection | None = None, allow_empty: bool = False,
              per_window: bool = False) -> AuditResult:
    """Recompute golden for the audited windows and reconcile every configured pipeline.

    A window without a single golden session is an :class:`InputError` (an audit of
    nothing must not pass); with ``allow_empty`` it is listed in ``empty_windows``.
    ``per_window`` also explains each failing window on its own (for the run history)."""
    say = progress or (lambda _msg: None)
    audited = resolve_windows(config, windows)
    grains = pipeline_grains(config)
    base = math.gcd(config.window_minutes, *grains.values())
    rules = config.quality_rules
    if rules is not None:
        preload(config.quality_engine)  # GX (if it judges) imports on a thread while DuckDB computes golden
    own = con is None
    con = con or connect()
    quality = None
    try:
        declared = [(i, p) for i, p in enumerate(config.pipelines, 1) if p.deviations]
        parts: dict[int, list[list[pa.Table]]] = {i: [[] for _ in p.deviations] for i, p in declared}

        def under_deviations(run: Sequence[Window]) -> None:
            for i, p in declared:
                say(f"[deviations] golden under {p.name}'s declared "
                    + ", ".join(d.label() for d in p.deviations))
                tables = golden_under_each(con, p.deviations, dims=config.dimensions, grain_minutes=base,
                                           window_ms_from=run[0].start_ms, window_ms_to=run[-1].end_ms,
                                           options=config.golden_options)
                for k, table in enumerate(tables):
                    parts[i][k].append(table)

        golden_stats = _load_golden(con, config, audited, base, say,
                                    after_run=under_deviations if declared else None)
        for i, p in declared:
            create_expected(con, f"r_expected_{i}", [pa.concat_tables(t) for t in parts[i]],
                            config.dimensions)
        empty = check_empty_windows(con, config, audited, allow_empty=allow_empty,
                                    key="--window" if windows else "window.start")
        if rules is not None:
            quality = _run_quality(con, config, rules, say)
        results = []
        for i, pipeline in enumerate(config.pipelines, 1):
            say(f"[{i}/{len(config.pipelines)}] reconciling {pipeline.name} ({pipeline.source.describe()})")
            kwargs = dict(index=i, dims=pipeline.dimensions if pipeline.dimensions is not None
                          else config.dimensions, grain_minutes=grains[pipeline.name], windows=audited,
                          window_minutes=config.window_minutes,
                          tolerance_for=lambda m, p=pipeline: config.tolerance_rules.resolve(
                              p.name, m, p.tolerances))
            # with declarations the judged gap is against golden under them (r_expected_i), and
            # the search runs on it while r_joined is its comparison; then the whole gap (against
            # golden), on which the search tries what the remainder left unnamed
            # (docs/deviations.md#mechanisms)
            result = reconcile_pipeline(con, pipeline, explain=explain, per_window=per_window,
                                        golden_table=f"r_expected_{i}" if pipeline.deviations else "r_golden",
                                        **kwargs)
            if quality is not None:
                result = _annotate(con, result, quality, rules)
            search = explain and config.mechanisms and any(m.failed for m in result.metrics)
            mech_kw = dict(grain=grains[pipeline.name], golden_grain=base)
            if search:
                say(f"[{i}/{len(config.pipelines)}] naming the mechanism of {pipeline.name}'s "
                    + ("remainder" if pipeline.deviations else "gaps"))
                result = name_mechanisms(con, result, config, **mech_kw)
            if pipeline.deviations:
                whole = reconcile_pipeline(con, pipeline, explain=False, **kwargs)
                if search:
                    result = name_mechanisms(con, result, config, whole_gap=True, **mech_kw)
                result = split_gap(result, whole, pipeline.deviations)
            off = [m.metric for m in result.metrics if m.failed]
            say(f"[{i}/{len(config.pipelines)}] {pipeline.name}: "
                + (f"FAIL ({', '.join(off)})" if off else f"pass ({len(result.metrics)} metrics)"))
            results.append(result)
    finally:
        if own:
            con.close()
    verdicts = tuple(draw_verdicts(results))
    failed = any(p.status == FAIL for p in results) or (quality is not None and quality.exit_code)
    return AuditResult(status=FAIL if failed else PASS, windows=audited,
                       window_minutes=config.window_minutes,
                       dimensions=config.dimensions, events=str(config.events),
                       pipelines=tuple(results), verdicts=verdicts, golden_stats=golden_stats,
                       golden_options=config.golden_options.to_dict(),
                       quality=quality.to_dict() if quality is not None else None,
                       config_file=config.file, auditor_version=__version__, empty_windows=empty,
                       definitions_fingerprint=fingerprint(config.rules_in_use()).digest)


def check_empty_windows(con: duckdb.DuckDBPyConnection, config: AuditConfig, audited: Sequence[Window],
                        *, allow_empty: bool, key: str) -> tuple[Window, ...]:
    """The audited windows to which golden attributed no session (table ``r_golden``).

    Without ``allow_empty`` any such window is an :class:`InputError` naming them all and
    the events' time span: an audit of nothing must never pass."""
    w_ms = config.window_minutes * 60_000
    held = {r[0] for r in con.execute(f"SELECT DISTINCT window_ms // {w_ms} * {w_ms} FROM r_golden").fetchall()}
    empty = tuple(w for w in audited if w.start_ms not in held)
    if not empty or allow_empty:
        return empty
    seen = ""
    if config.engine == "duckdb":  # on Spark the events are not on this connection
        span = con.execute("SELECT min(ts), max(ts) FROM g_input").fetchone()
        seen = (f" (the events run from {ms_iso(span[0])} to {ms_iso(span[1])})"
                if span[0] is not None else " (the events hold no rows)")
    raise InputError(f"{describe_empty(empty, audited)}{seen}", file=str(config.events), key=key,
                     hint="audit windows the events cover (--window, or window.start in audit.yaml); "
                          "--allow-empty audits them anyway, with a warning")


def describe_empty(empty: Sequence[Window], audited: Sequence[Window]) -> str:
    """'3 of 24 audited windows hold no golden sessions: A/B (2 windows), C/D'."""
    what = (f"{len(empty)} of {len(audited)} audited windows hold" if len(audited) > 1
            else "the audited window holds")
    runs = [run[0].label() if len(run) == 1 else f"{iso(run[0].start)}/{iso(run[-1].end)} ({len(run)} windows)"
            for run in contiguous_runs(empty)]
    return f"{what} no golden sessions: {', '.join(runs)}"


def _run_quality(con: duckdb.DuckDBPyConnection, config: AuditConfig, rules: QualityRules,
                 say: Progress) -> QualityReport:
    say(f"[quality] checking the events ({rules.source})")
    report = run_quality(con, rules=rules, dims=config.dimensions, engine=config.quality_engine)
    issues = [f"{c.name} {c.status}" for c in report.checks if c.status != "pass"]
    say(f"[quality] {report.status}" + (f" ({', '.join(issues)})" if issues else ""))
    return report


def _annotate(con: duckdb.DuckDBPyConnection, result: PipelineResult, quality: QualityReport,
              rules: QualityRules) -> PipelineResult:
    """Each explanation gets ``quality``: the sliced checks' rates within its slice."""
    metrics = []
    for m in result.metrics:
        if m.explanations:
            m = dataclasses.replace(m, explanations=tuple(
                {**e, "quality": explanation_quality(con, quality, e["slice"],
                                                     min_support=rules.slice_min_support)}
                for e in m.explanations))
        metrics.append(m)
    return dataclasses.replace(result, metrics=tuple(metrics))


MECHANISM_SLICES = 3   # distinct slices per pipeline the mechanism search evaluates


def mechanism_slices(result: PipelineResult, max_slices: int = MECHANISM_SLICES) -> list[dict]:
    """The slices the mechanism search evaluates for a pipeline: the top explanation of each
    failing metric published as components (every session, ``{}``, for one without an
    explanation), the slice that explains most failing metrics first."""
    votes: dict[tuple, float] = {}
    for m in result.metrics:
        if not m.failed or m.published_as != "components":
            continue
        for e in m.explanations[:1] or [{"slice": {}, "share_of_gap": 1.0}]:
            key = tuple(sorted(dict(e["slice"]).items()))
            votes[key] = votes.get(key, 0.0) + 1.0 + float(e.get("share_of_gap") or 0.0)
    return [dict(k) for k in sorted(votes, key=lambda k: -votes[k])][:max_slices]


def name_mechanisms(con: duckdb.DuckDBPyConnection, result: PipelineResult, config: AuditConfig, *,
                    grain: int, golden_grain: int, max_slices: int = MECHANISM_SLICES,
                    whole_gap: bool = False) -> PipelineResult:
    """The mechanism search (docs/mechanisms.md#the-search) on the last reconciliation on ``con``
    (table ``r_joined``): the top explanation slices of ``result``'s failing metrics (up to
    ``max_slices`` distinct ones, most explanatory first) get a ``mechanism`` finding, and a
    failing metric no slice explains gets one for every session (``mechanism``).

    ``whole_gap``: ``result`` is judged against golden under declared deviations and already
    searched, and ``r_joined`` is the comparison against golden itself; only the slices whose
    finding names no mechanism are searched again, on the whole gap, and such a finding
    replaces theirs when it names one (marked ``whole_gap``)."""
    from auditor.mechanisms.search import search_slice
    from auditor.mechanisms.variant import SlicesRows
    columns = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() "
                                         "WHERE table_name = 'r_joined'").fetchall()}
    published = [c for c in COMPONENTS if f"c_{c}" in columns and f"g_{c}" in columns]
    rows, facts = _session_rows(con, config, result.name)
    found = {}
    named = {tuple(sorted(dict(f["slice"]).items())) for m in result.metrics
             for f in [*(e.get("mechanism") for e in m.explanations or ()), m.mechanism]
             if f and f.get("mechanism")} if whole_gap else set()
    slices = [s for s in mechanism_slices(result, max_slices) if tuple(sorted(s.items())) not in named]
    with SlicesRows(con, slices) as raw:
        for s in slices:
            finding = search_slice(con, s, dims=result.dimensions, grain_minutes=grain,
                                   golden_grain_minutes=golden_grain, components=published,
                                   options=config.golden_options, rules=config.rules_in_use(),
                                   session_rows=rows, session_facts=facts, rows=raw)
            if finding is not None and (not whole_gap or finding.named):
                found[tuple(sorted(s.items()))] = dataclasses.replace(finding, whole_gap=whole_gap).to_dict()
    metrics = []
    for m in result.metrics:
        if m.failed and m.published_as == "components":
            if m.explanations:
                m = dataclasses.replace(m, explanations=tuple(
                    {**e, "mechanism": found[k]} if (k := tuple(sorted(dict(e["slice"]).items()))) in found
                    else e for e in m.explanations))
            elif () in found:
                m = dataclasses.replace(m, mechanism=found[()])
        metrics.append(m)
    return dataclasses.replace(result, metrics=tuple(metrics))


def _session_rows(con: duckdb.DuckDBPyConnection, config: AuditConfig, pipeline: str
                  ) -> tuple[str | None, tuple[str, ...]]:
    """The pipeline's session rows as table ``x_pipe_sessions`` (auditor.session_rows), with the
    facts they carry, for the mechanism's session evidence; (None, ()) when it has none."""
    spec = config.pipeline(pipeline)
    if not spec.sessions:
        return None, ()
    from auditor.golden.calculator import SESSION_FACTS
    from auditor.session_rows import join_sessions
    join_sessions(con, spec, con.sql("SELECT * FROM g_sessions").to_arrow_table(), config.dimensions,
                  config.window_minutes)
    present = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() "
                                         "WHERE table_name = 'x_pipe_sessions'").fetchall()}
    return "x_pipe_sessions", tuple(f for f in SESSION_FACTS if f in present)


def _load_golden(con: duckdb.DuckDBPyConnection, config: AuditConfig, audited: Sequence[Window],
                 grain: int, say: Progress, session_facts: list[pa.Table] | None = None,
                 after_run: Callable[[Sequence[Window]], None] | None = None) -> dict[str, int]:
    """Golden at ``grain`` minutes for every audited window, into table ``r_golden`` (and the
    windows' starts into ``r_windows``); with a ``session_facts`` list, golden's per-session
    facts of each run are appended to it. ``after_run(run)`` is called after each
    contiguous run of windows, while golden's tables of that run are on ``con``."""
    tables, events, sessions = [], 0, 0
    runs = contiguous_runs(audited)
    for k, run in enumerate(runs, 1):
        span = f"{iso(run[0].start)}..{iso(run[-1].end)}"
        say(f"[golden {k}/{len(runs)}] recomputing {span} from {config.events}")
        golden = compute_golden(config.events, dims=config.dimensions, window_minutes=grain,
                                window_start=run[0].start, window_end=run[-1].end,
                                options=config.golden_options, mapping=config.mapping, con=con,
                                with_sessions=session_facts is not None, engine=config.engine)
        if session_facts is not None:
            session_facts.append(golden.sessions)
        events = max(events, golden.stats.get("events", 0))
        sessions += golden.stats.get("sessions", 0)
        tables.append(golden.aggregates.select(["window_start", *config.dimensions, *COMPONENTS]))
        if after_run is not None:
            after_run(run)
        say(f"[golden {k}/{len(runs)}] {golden.stats.get('sessions', 0)} sessions in {span}")
    con.register("r_golden_src", pa.concat_tables(tables))
    cols = ", ".join(quote_ident(c) for c in (*config.dimensions, *COMPONENTS))
    con.execute(f"CREATE OR REPLACE TEMP TABLE r_golden AS SELECT epoch_ms(window_start) AS window_ms, "
                f"{cols} FROM r_golden_src")
    con.unregister("r_golden_src")
    con.execute("CREATE OR REPLACE TEMP TABLE r_windows AS SELECT unnest($starts::BIGINT[]) AS start_ms",
                {"starts": [w.start_ms for w in audited]})
    return {"events": events, "sessions": sessions, "grain_minutes": grain}


def draw_verdicts(results: Sequence[PipelineResult]) -> list[Verdict]:
    """Per metric: pipelines that agree with golden, those that are off, and whether the
    off ones agree with each other (same exact sums in every window) but not with golden."""
    out = []
    for name in catalogue():
        per = {p.name: p.metric(name) for p in results}
        if all(m is None for m in per.values()):
            continue
        agree = tuple(p for p, m in per.items() if m is not None and not m.failed)
        off = tuple(p for p, m in per.items() if m is not None and m.failed)
        missing = tuple(p for p, m in per.items() if m is None)
        together = False
        if len(off) >= 2 and all(per[p].published_as == "components" for p in off):
            sums = {tuple((w.cand_num, w.cand_den) for w in per[p].windows) for p in off}
            together = len(sums) == 1
        out.append(Verdict(metric=name, agree=agree, off=off, not_published=missing,
                           candidates_agree_not_golden=together))
    return out
