"""``run_gate``: base vs head definitions on one frozen corpus, in one process (``auditor gate``).

1. Resolve the two rules folders (head: ``--head`` or the folder in use; base:
   a git revision read with ``git archive``, or a folder) and load each side's
   catalogue, options, tolerances and declared changes; anything that does not
   parse is a ConfigError naming the file and line (exit 2).
2. Fingerprint both (auditor.golden.fingerprint): a change to comments or
   descriptions only is "no data-affecting change", and is still run.
3. Run golden with each side's definitions on every corpus input, on one
   DuckDB connection, or with ``engine="spark"`` as Spark SQL (the same
   stages, auditor.golden.spark); SQL that fails is exit 2 naming the file
   and line.
4. Diff base vs head per metric, window and slice; the reclassification
   matrix from the per-session facts; declarations vs observations. These
   run on the driver's DuckDB connection on both engines: they read golden's
   aggregates and per-session facts, never the raw events (on Spark the
   matrix's few example sessions are fetched from Spark).
5. Run head's definition cases (on the engine) and the fault regression of
   the curated fixtures (head's golden on the engine against faulty pipelines
   simulated on the driver, auditor.synth).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from auditor import __version__
from auditor.config import AuditConfig
from auditor.errors import ConfigError
from auditor.findings import Comparison
from auditor.gate.cases import CaseResult, run_cases
from auditor.gate.changes import Declaration, Verdict, judge, load_manifest, mark_inherited
from auditor.gate.corpus import FIXTURE_DIMS, CorpusInput, build_corpus, find_fixtures
from auditor.gate.diff import MetricDiff, diff_metric, direction, join_aggregates, rollups
from auditor.gate.folders import base_folder, head_folder
from auditor.gate.reclassify import Reclassification, reclassify
from auditor.gate.regression import FaultCheck, check_faults
from auditor.golden import GoldenResult, RulesFolder, check_dims, compute_golden, connect, load_options
from auditor.golden.calculator import ENGINES
from auditor.golden.events import register_events
from auditor.golden.fingerprint import Fingerprint, fingerprint
from auditor.golden.metrics import Metric, load_catalogue
from auditor.golden.sqlfiles import quote_ident
from auditor.render.templating import fmt_num, fmt_pct
from auditor.tolerances import ToleranceRules, load_tolerance_rules

Progress = Callable[[str], None]
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Side:
    """One side's definitions: where they came from and what they say."""

    label: str
    rules: RulesFolder
    fingerprint: Fingerprint
    metrics: dict[str, Metric]
    options: Any
    declarations: list[Declaration]

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self.label, "fingerprint": self.fingerprint.digest,
                "files": dict(sorted(self.fingerprint.files.items())),
                "golden_options": self.options.to_dict()}


@dataclass(frozen=True)
class GateResult:
    status: str                                 # pass | fail
    headline: str
    base: Side
    head: Side
    data_affecting: bool
    changed_files: tuple[str, ...]              # data-affecting differences
    cosmetic_files: tuple[str, ...]             # text differs, data does not
    corpus: tuple[CorpusInput, ...]
    dimensions: tuple[str, ...]
    depth: int
    metrics: tuple[MetricDiff, ...]
    verdicts: tuple[Verdict, ...]
    reclassification: Reclassification
    cases: tuple[CaseResult, ...]
    faults: tuple[FaultCheck, ...]
    golden_stats: dict[str, int] = field(default_factory=dict)
    engine: str = "duckdb"                      # where golden ran (not in gate.json: the numbers are the same)
    auditor_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "pass" else 1

    def verdict(self, metric: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.metric == metric), None)

    @property
    def problems(self) -> list[str]:
        """Every reason the gate fails, one line each."""
        out = []
        for v in self.verdicts:
            if v.undeclared is not None:
                out.append(f"undeclared movement: {v.metric} {_move(v.undeclared)}")
            out += [d.message for d in v.declarations if d.failed]
        out += [f"definition case {c.id} ({c.where}) {c.message}" for c in self.cases if c.failed]
        out += [f.message for f in self.faults if f.failed]
        return out


def _move(c: Comparison) -> str:
    went = direction(c) or "moved"
    rel = f", {fmt_pct(c.rel_diff)}" if c.rel_diff is not None else ""
    return f"{went} ({fmt_num(c.golden)} -> {fmt_num(c.candidate)}{rel})"


def _sides(base: RulesFolder, head: RulesFolder, dims: Sequence[str]) -> tuple[Side, Side]:
    """Both sides' definitions; head's declarations may name a metric either side has
    (a removed one too), and those already in the base's manifest are inherited."""
    metrics = {"b": load_catalogue(base), "h": load_catalogue(head)}
    names = list(metrics["h"]) + [m for m in metrics["b"] if m not in metrics["h"]]
    b_decl = load_manifest(base, dims, names)
    h_decl = mark_inherited(load_manifest(head, dims, names), b_decl)
    return tuple(Side(label=rules.describe(), rules=rules, fingerprint=fingerprint(rules),
                      metrics=metrics[key], options=load_options(rules), declarations=decl)
                 for key, rules, decl in (("b", base, b_decl), ("h", head, h_decl)))


def _tolerances(rules: RulesFolder) -> ToleranceRules:
    if rules.exists("tolerances.yaml"):
        return load_tolerance_rules(rules.path("tolerances.yaml"))
    return load_tolerance_rules()


def run_gate(base: str, *, head: str | None = None, corpus: Sequence[str] = (),
             fixtures: str | Sequence[str] | None = None, config: AuditConfig | None = None,
             depth: int = 2, progress: Progress | None = None, engine: str | None = None
             ) -> GateResult:
    """Compare the definitions at ``base`` (git revision or folder) with ``head`` (a folder;
    default: the rules folder in use) on the curated ``fixtures`` ('all', 'none' or names)
    plus ``corpus`` (events paths).

    With ``config`` (audit.yaml): its rules in use are head's default, its ``gate:``
    section adds corpus inputs and picks the fixtures, its dimensions, event mapping
    and window length apply.

    ``engine``: where golden runs, ``duckdb`` or ``spark`` (default: the config's
    ``engine:``, else duckdb); the gate's result is the same on both (docs/spark.md).
    """
    say = progress or (lambda _msg: None)
    if depth < 1:
        raise ConfigError("depth must be at least 1", key="--depth")
    engine = engine or (config.engine if config else "duckdb")
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}", key="engine", hint="choose " + " or ".join(ENGINES))
    if engine == "spark":  # pyspark, sqlglot and Java before any work: exit 2 with the fix
        from auditor.golden import spark
        spark.check_available()
    head_rules = head_folder(head, config.rules_in_use() if config else None)
    chosen = find_fixtures(fixtures or (config.gate_fixtures if config else "all"))
    dims = check_dims(config.dimensions if config else FIXTURE_DIMS)
    mapping = config.mapping if config else None
    window_minutes = config.window_minutes if config else 60
    inputs = build_corpus(chosen, [*(config.gate_corpus if config else ()), *corpus])
    with base_folder(base, head_rules) as base_rules:
        say(f"[gate] base {base_rules.describe()}, head {head_rules.describe()}"
            + (", golden on Spark" if engine == "spark" else ""))
        b, h = _sides(base_rules, head_rules, dims)
        changed = tuple(b.fingerprint.changed_files(h.fingerprint))
        cosmetic = tuple(f for f in sorted(set(base_rules.files()) | set(head_rules.files()))
                         if f not in changed and f in h.fingerprint.files
                         and _text(base_rules, f) != _text(head_rules, f))
        say(f"[gate] fingerprint {b.fingerprint.short} -> {h.fingerprint.short}: "
            + (f"{len(changed)} definition file(s) changed" if changed else "no data-affecting change"))
        con = connect()
        try:
            return _run(con, b, h, changed, cosmetic, inputs, chosen, dims, mapping, window_minutes,
                        depth, head_rules, say, engine)
        finally:
            con.close()


def _text(rules: RulesFolder, rel: str) -> str | None:
    return rules.read(rel) if rules.exists(rel) else None


# Stages whose tables head may take over from base's run on the same input when both
# sides define them alike (load and deduplicate once).
SHARED_STAGES = ("golden/01_load.sql", "golden/02_dedup.sql")


def _golden(con, inp: CorpusInput, name: str, side: Side, dims, mapping, window_minutes, say,
            reuse: bool = False, engine: str = "duckdb") -> GoldenResult:
    say(f"[gate] golden with the {name} definitions on {inp.name} ({inp.path})"
        + (" on Spark" if engine == "spark" else ", reusing base's load and dedup" if reuse else ""))
    return compute_golden(inp.path, dims=dims, window_minutes=window_minutes, options=side.options,
                          with_sessions=True, mapping=mapping if inp.origin == "corpus" else None,
                          con=con, rules=side.rules, reuse_loaded=reuse, engine=engine)


def _spark_examples(con, inputs: Sequence[CorpusInput], dims, mapping):
    """The reclassification matrix's example sessions when the corpus was read by Spark: only
    those sessions' raw events, fetched from Spark and registered on ``con`` (the events
    themselves may be anywhere Spark reads)."""
    def fetch(wanted):
        from auditor.golden import spark

        views = {}
        for i, inp in enumerate(inputs):
            if wanted.get(inp.name):
                view = f"gate_examples_{i}"
                con.register(view, spark.session_events(
                    inp.path, wanted[inp.name], dims=dims,
                    mapping=mapping if inp.origin == "corpus" else None))
                views[inp.name] = view
        return views
    return fetch


def _tagged(table: pa.Table, name: str) -> pa.Table:
    return table.append_column("input", pa.array([name] * table.num_rows, pa.string()))


def _combine(con, tables: list[pa.Table], dims) -> pa.Table:
    """Aggregates of several inputs summed per window and slice."""
    if len(tables) == 1:
        return tables[0]
    con.register("gate_parts", pa.concat_tables(tables, promote_options="permissive"))
    keys = ", ".join(quote_ident(c) for c in ("window_start", *dims))
    comps = [c for c in tables[0].column_names if c not in ("window_start", *dims)]
    sums = ", ".join(f"sum(coalesce({quote_ident(c)}, 0))::BIGINT AS {quote_ident(c)}" for c in comps)
    out = con.sql(f"SELECT {keys}, {sums} FROM gate_parts GROUP BY ALL").to_arrow_table()
    con.unregister("gate_parts")
    return out


def _run(con: duckdb.DuckDBPyConnection, b: Side, h: Side, changed, cosmetic, inputs, chosen, dims,
         mapping, window_minutes, depth, head_rules, say, engine: str = "duckdb") -> GateResult:
    aggs: dict[str, list[pa.Table]] = {"b": [], "h": []}
    facts: dict[str, list[pa.Table]] = {"b": [], "h": []}
    views: dict[str, str] = {}
    head_fixture_golden = None
    stats = {"events": 0, "sessions": 0}
    for i, inp in enumerate(inputs):
        shared = all(b.fingerprint.files.get(f) == h.fingerprint.files.get(f) for f in SHARED_STAGES)
        for key, name, side in (("b", "base", b), ("h", "head", h)):
            result = _golden(con, inp, name, side, dims, mapping, window_minutes, say,
                             reuse=shared and key == "h", engine=engine)
            aggs[key].append(result.aggregates)
            facts[key].append(_tagged(result.sessions, inp.name))
            if key == "h":
                stats["events"] += result.stats.get("events", 0)
                stats["sessions"] += result.stats.get("sessions", 0)
                if inp.origin == "fixtures" and tuple(dims) == FIXTURE_DIMS:
                    head_fixture_golden = result
        if engine == "duckdb":  # on Spark the events are not on this connection
            view = f"gate_events_{i}"
            register_events(con, inp.path, dims=dims, mapping=mapping if inp.origin == "corpus" else None,
                            view=view)
            views[inp.name] = view
    say("[gate] comparing base and head")
    leaves = join_aggregates(con, _combine(con, aggs["b"], dims), _combine(con, aggs["h"], dims),
                             dims, window_minutes)
    slices = rollups(con, leaves, depth)
    tolerances = _tolerances(h.rules)
    names = list(h.metrics) + [m for m in b.metrics if m not in h.metrics]
    diffs, verdicts = [], []
    for name in names:
        tol = tolerances.resolve("", name)
        bm, hm = b.metrics.get(name), h.metrics.get(name)
        d = diff_metric(name, bm, hm, leaves, slices, tol, depth=depth)
        diffs.append(d)
        verdicts.append(judge(d, bm, hm, leaves, h.declarations, tol))
    matrix = reclassify(con, facts["b"], facts["h"],
                        views if engine == "duckdb" else _spark_examples(con, inputs, dims, mapping))
    say(f"[gate] {matrix.reclassified} session(s) changed outcome")
    cases = run_cases(head_rules, b.rules, h.options, con, engine=engine)
    if cases:
        say(f"[gate] definition cases: {sum(not c.failed for c in cases)}/{len(cases)} pass under head")
    faults: list[FaultCheck] = []
    if chosen:
        if head_fixture_golden is None:
            head_fixture_golden = compute_golden(str(chosen[0].events), dims=FIXTURE_DIMS,
                                                 window_minutes=60, options=h.options,
                                                 with_sessions=True, con=con, rules=head_rules,
                                                 engine=engine)
        say("[gate] fault regression: the curated faults under head")
        faults = check_faults(con, chosen, head_rules, head_fixture_golden, h.metrics, depth=depth)
    result = GateResult(status="pass", headline="", base=b, head=h, data_affecting=bool(changed),
                        changed_files=tuple(changed), cosmetic_files=tuple(cosmetic),
                        corpus=tuple(inputs), dimensions=tuple(dims), depth=depth,
                        metrics=tuple(diffs), verdicts=tuple(verdicts), reclassification=matrix,
                        cases=tuple(cases), faults=tuple(faults), golden_stats=stats, engine=engine)
    failed = bool(result.problems)
    return GateResult(**{**result.__dict__, "status": "fail" if failed else "pass",
                         "headline": headline(result, failed)})


def headline(r: GateResult, failed: bool) -> str:
    moved = [m for m in r.metrics if m.moved]
    what = ("no data-affecting change" if not r.data_affecting
            else f"{len(r.changed_files)} definition file(s) changed")
    if failed:
        n = len(r.problems)
        return f"FAIL: {what}; {n} problem{'s' if n != 1 else ''}: {r.problems[0]}" + (" ..." if n > 1 else "")
    if not moved:
        return f"PASS: {what}; no metric moved on the corpus"
    return (f"PASS: {what}; {len(moved)} metric(s) moved, every movement declared: "
            + ", ".join(f"{m.metric} {_move(m.total)}" for m in moved[:3]))
