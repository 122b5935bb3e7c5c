"""Command-line interface: each command parses options, calls one library
function, renders its result and returns an exit code (style.md habit 1)."""
from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click

from auditor import __version__
from auditor.errors import ExitCode, classify, first_line
from auditor.synth.faults import describe_kinds
from auditor.quality.judges import BUILTIN, ENGINES


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="auditor")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Recompute QoE metrics from raw player events, digit-exact, and prove
    which pipeline (streaming, batch, ...) publishes the right numbers.

    \b
    Start here:
      auditor demo                      see a full audit on synthetic data
      auditor golden --events E --out F golden metrics from raw events
      auditor run --config audit.yaml   the audit after each batch window

    Exit codes: 0 pass, 1 discrepancies found, 2 bad input or config,
    3 internal error, 130 interrupted.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the click group and maps every outcome to the exit-code contract
    (errors.classify). Ctrl-C exits 130 however it surfaces, even when a library caught it."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    with _sigint_noted(for_good=argv is None) as interrupted:
        try:
            rv = cli.main(args=args, prog_name="auditor", standalone_mode=False)
        except click.exceptions.Exit as exc:
            rv = exc.exit_code
        except click.ClickException as exc:
            exc.show()
            rv = ExitCode.USER_ERROR
        except click.Abort:
            rv = ExitCode.INTERRUPTED
        except Exception as exc:
            rv = _report(exc, debug)
        except KeyboardInterrupt:
            rv = ExitCode.INTERRUPTED
        if rv == ExitCode.INTERRUPTED:
            interrupted.append(True)
    if interrupted:
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    sys.exit(int(rv or 0))


def _report(exc: Exception, debug: bool) -> int:
    """Print ``exc`` as the contract says: a user error with its hint, or a bug (exit 3)."""
    error = classify(exc)
    if error is not None and error.exit_code == ExitCode.INTERRUPTED:
        return ExitCode.INTERRUPTED
    if error is not None:
        click.echo(f"error: {error}", err=True)
    else:  # a bug: never let it look like "findings found"
        click.echo(f"internal error: {type(exc).__name__}: {first_line(exc)}", err=True)
    if debug:
        traceback.print_exception(exc)
    elif error is None:
        click.echo("This is a bug in auditor; rerun with --debug for the traceback.", err=True)
    return error.exit_code if error is not None else ExitCode.INTERNAL_ERROR


@contextmanager
def _sigint_noted(for_good: bool = False) -> Iterator[list[bool]]:
    """While a command runs, note every SIGINT (then raise KeyboardInterrupt as Python
    does): DuckDB turns it into "Query interrupted", and a library may swallow it.

    ``for_good`` (the process is the command): once it was interrupted, SIGINT stays
    ignored until the process exits instead of going back to Python's handler, since a
    library may deliver the signal it caught again, late (pyarrow re-sends it from
    its worker thread): handled by Python's handler while exiting, it killed the process
    by SIGINT instead of exit 130. In-process callers (tests) get their handler back."""
    noted: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return

    def on_sigint(signum, frame):
        noted.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN if noted and for_good else previous)


def _quiet(f):
    """-q/--quiet, the same on every command that prints progress."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")(f)


def _progress(quiet: bool):
    return None if quiet else (lambda msg: click.echo(msg, err=True))


def _output(folder: bool):
    """A click callback that checks an output path before any work starts."""
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            from auditor.tables import check_output
            check_output(value, folder=folder, option=param.opts[0])
        return value
    return check


def _history_location(ctx: click.Context | None, param: click.Parameter | None,
                      value: str | None) -> str | None:
    """A history store's location, checked before any work: a URL, or a DuckDB path whose
    folder exists."""
    if value is None or "://" in value:
        return value
    import os
    from auditor.errors import ConfigError
    hint = "give a .duckdb file path (e.g. history.duckdb) or a SQLAlchemy URL"
    if os.path.isdir(value):
        raise ConfigError("the history store is a folder, not a file", file=value, key="--history", hint=hint)
    if not os.path.isdir(os.path.dirname(os.path.abspath(value))):
        raise ConfigError("the history store's folder does not exist", file=value, key="--history", hint=hint)
    return value


def _split_dims(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    dims = tuple(d.strip() for d in value.split(",") if d.strip())
    if not dims:
        raise click.BadParameter("give at least one dimension, e.g. --dims cdn,device")
    return dims


def _engine_option(default: str | None):
    """--engine: where golden runs (the same stages, the same numbers)."""
    return click.option(
        "--engine", type=click.Choice(["duckdb", "spark"]), default=default,
        show_default=default is not None,
        help="Where golden runs: duckdb (embedded) or spark (pip install -e '.[spark]' and a Java "
             "runtime; a local session, or the active one under spark-submit; docs/spark.md)."
             + ("" if default else " Default: engine: in audit.yaml, else duckdb."))


@cli.command()
@click.option("--events", "events", required=True, metavar="PATH",
              help="Raw events: a Parquet file, a glob, a (Hive-partitioned) folder, .jsonl or .csv.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              callback=_output(folder=False),
              help="Aggregate output; the suffix picks the format (.parquet, .csv, .json, .jsonl).")
@click.option("--window-minutes", default=60, show_default=True, type=click.IntRange(min=1),
              help="Window length; windows are aligned to multiples of it since the Unix epoch.")
@click.option("--window-start", metavar="ISO",
              help="Compute only the window starting here (e.g. 2025-03-20T14:00:00Z). "
                   "Default: every window in the data.")
@click.option("--dims", metavar="a,b,...",
              help="Dimensions to group by. Default: cdn,device,os,player_version,country,isp,"
                   "asset_id,content_type.")
@click.option("--sessions-out", type=click.Path(dir_okay=False), metavar="FILE",
              callback=_output(folder=False),
              help="Also write the per-session facts here (same formats).")
@click.option("--allow-empty", is_flag=True,
              help="Write the (empty) output when no session falls in the window, with a warning, "
                   "instead of failing.")
@_engine_option("duckdb")
@_quiet
def golden(events: str, out: str, window_minutes: int, window_start: str | None,
           dims: str | None, sessions_out: str | None, allow_empty: bool, engine: str,
           quiet: bool) -> int:
    """Golden metrics only: recompute the canonical aggregate from raw events.

    One row per window and combination of dimension values, with the additive
    components attempts, plays, ebvs, vsf, vpf, vst_ms_sum, play_ms, stall_ms
    and bitrate_kbps_ms (docs/definitions.md#canonical-aggregate). Example:

    \b
      auditor golden --events data/events/ --out golden.parquet \\
          --window-start 2025-03-20T14:00:00Z --dims cdn,device
      auditor golden --engine spark --events s3a://raw/events/dt=2025-03-20/ --out golden.parquet
    """
    from auditor.golden.events import DEFAULT_DIMS
    from auditor.golden.calculator import compute_golden, require_sessions
    from auditor.tables import table_writer, write_table

    table_writer(out)  # a bad suffix is a usage error before any work
    if sessions_out:
        table_writer(sessions_out)
    say = _progress(quiet) or (lambda _msg: None)
    say(f"recomputing golden from {events}" + (" on Spark" if engine == "spark" else ""))
    result = compute_golden(events, dims=_split_dims(dims) or DEFAULT_DIMS,
                            window_minutes=window_minutes, window_start=window_start,
                            with_sessions=bool(sessions_out), engine=engine)
    empty = require_sessions(result, events, window_start, allow_empty=allow_empty)
    if empty:
        click.echo(f"warning: {empty}", err=True)
    write_table(result.aggregates, out)
    if sessions_out and result.sessions is not None:
        write_table(result.sessions, sessions_out)
    say(f"{result.stats['events']} events, {result.stats['sessions']} sessions, "
        f"{result.aggregates.num_rows} aggregate rows -> {out}")


@cli.command(epilog="\b\nFault kinds [default pipeline]:\n" + describe_kinds())
@click.option("--sessions", type=click.IntRange(min=1), required=True, help="Number of sessions (about 30 events each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, byte-identical files.")
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=_output(folder=True),
              help="Folder to write.")
@click.option("--fault", "faults", multiple=True, metavar="[PIPELINE/]KIND:SLICE[:PARAM]",
              help="Inject a fault, repeatable. SLICE is * or dim=value&dim=value (quote it); "
                   "see the example above.")
@click.option("--windows", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--window-minutes", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
              default="2025-03-20T14:00:00Z", show_default=True, help="Start of the first window (UTC).")
@click.option("--batch-sessions/--no-batch-sessions", default=True, show_default=True,
              help="Also write the batch pipeline's session rows.")
@click.option("--events-only", is_flag=True, help="Write only events.parquet (no pipelines, no golden).")
@click.option("--no-dirt", is_flag=True, help="No duplicates, late tails, orphans, strays or unknown types.")
@_quiet
def generate(sessions, seed, out, faults, windows, window_minutes, start, batch_sessions, events_only, no_dirt,
             quiet) -> int:
    """Synthesize raw events and what a streaming and a batch pipeline published from them.

    Writes OUT/events.parquet, streaming.parquet, batch.parquet, batch_sessions.parquet,
    truth.json (every injected fault and its measured effect) and audit.yaml.
    Without --fault both pipelines equal golden exactly. Example:

    \b
      auditor generate --sessions 10000 --seed 7 --out demo-data \\
          --fault 'batch/missing_first_frame:device=roku&player_version=5.2:0.4'
    """
    from auditor.synth.dataset import write_dataset
    from auditor.synth.faults import parse_fault
    from auditor.synth.generate import DirtRates
    from auditor.synth.traffic import DIMENSIONS

    parsed = [parse_fault(f, DIMENSIONS) for f in faults]
    ds = write_dataset(out, sessions=sessions, seed=seed, faults=parsed, start=start,
                       windows=windows, window_minutes=window_minutes,
                       dirt=DirtRates.none() if no_dirt else DirtRates(),
                       batch_sessions=batch_sessions, events_only=events_only, progress=_progress(quiet))
    click.echo(f"{ds.events_rows} events, {len(parsed)} fault(s) -> {ds.out_dir}")
    for name, f in ds.files.items():
        click.echo(f"  {name}: {ds.out_dir / f}")
    return 0


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="audit.yaml: events, window, dimensions, pipelines, tolerances.")
@click.option("--window", "windows", multiple=True, metavar="START/DURATION",
              help="Window(s) to audit: START/DURATION (2025-03-20T14:00:00Z/PT1H) or START/END; "
                   "a range is split into windows of window.minutes. Repeatable for backfills. "
                   "Default: window.start in audit.yaml.")
@click.option("--out", "out", type=click.Path(file_okay=False), metavar="DIR", callback=_output(folder=True),
              help="Write report.json, summary.md and report.html here.")
@click.option("--junit", is_flag=True, help="Also write junit.xml (one test case per pipeline x metric).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json on stdout instead of the summary.")
@click.option("--allow-empty", is_flag=True,
              help="Audit windows without a single golden session with a warning instead of failing.")
@click.option("--history", "history", metavar="PATH_OR_URL", callback=_history_location,
              help="Append this run to the run history: a DuckDB file (created if absent) or a "
                   "SQLAlchemy URL (postgresql+psycopg://...). Default: history: in audit.yaml.")
@_engine_option(None)
@_quiet
def run(config_path: str, windows: tuple[str, ...], out: str | None, junit: bool, as_json: bool,
        allow_empty: bool, history: str | None, engine: str | None, quiet: bool) -> int:
    """The audit after each batch window: recompute golden, reconcile every pipeline.

    Compares golden with what each configured pipeline published for the
    audited window(s), metric by metric and slice by slice, at each
    pipeline's grain and dimensions. Prints the summary (or --json) on
    stdout; progress goes to stderr. Exit 0 when every metric is within
    tolerance (exact by default), 1 on discrepancies, 2 on a config or input
    problem (no report is written), 3 on an internal error. With a history
    (--history, or history: in audit.yaml) the run is appended to it in one
    transaction, and findings acknowledged with `auditor ack` do not fail it
    (docs/history.md). Example:

    \b
      auditor run --config audit.yaml --window 2025-03-20T14:00:00Z/PT1H --out reports/
      auditor run --config audit.yaml --window 2025-03-20T00:00:00Z/2025-03-21T00:00:00Z --junit --out r/
      auditor run --config audit.yaml --history history.duckdb --out reports/2025-03-20T14
    """
    from auditor.audit import describe_empty, run_audit
    from auditor.config import load_config
    from auditor.render import render_json, render_markdown, write_reports

    if junit and not out:
        raise click.UsageError("--junit writes junit.xml into --out DIR; give --out too")
    config = load_config(config_path, engine=engine)
    store_at = history or config.history
    if store_at and not history:
        _history_location(None, None, store_at)
    result = run_audit(config, windows, progress=_progress(quiet), allow_empty=allow_empty,
                       per_window=bool(store_at))
    if result.empty_windows:
        click.echo(f"warning: {describe_empty(result.empty_windows, result.windows)}", err=True)
    if out:
        for path in write_reports(result, out, junit=junit, templates=config.report_templates):
            if not quiet:
                click.echo(f"wrote {path}", err=True)
    code = result.exit_code
    if store_at:
        import os
        from auditor.history import record_audit
        recorded = record_audit(store_at, result, report_dir=os.path.abspath(out) if out else None,
                                late_arrival_minutes={p.name: p.late_arrival_minutes for p in config.pipelines},
                                progress=_progress(quiet))
        if not quiet:
            click.echo(f"history: recorded run {recorded.run_id} in {recorded.store}", err=True)
        if recorded.acknowledged:
            click.echo("note: acknowledged, not failing the run: " + ", ".join(recorded.acknowledged), err=True)
        code = recorded.exit_code
    click.echo(render_json(result) if as_json else render_markdown(result, config.report_templates), nl=False)
    return code


@cli.command()
@click.option("--events", "events", required=True, metavar="PATH",
              help="Raw events: a Parquet file, a glob, a (Hive-partitioned) folder, .jsonl or .csv.")
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE.json", callback=_output(folder=False),
              help="Also write the full result (checks and slices) as JSON here.")
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="A rules folder with your own quality.yaml (default: the packaged rules).")
@click.option("--dims", "dims", metavar="a,b,...",
              help="Dimensions to cut the rates by (default: the contract's dimensions).")
@click.option("--engine", type=click.Choice(ENGINES), default=BUILTIN,
              show_default=True,
              help="Who judges the counts: auditor itself (the default, as in `auditor run`), or "
                   "Great Expectations (same verdicts; importing GX costs seconds).")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON result instead of the table.")
@_quiet
def quality(events: str, out: str | None, rules_dir: str | None, dims: str | None, engine: str,
            as_json: bool, quiet: bool) -> int:
    """Data-quality expectations on raw events alone.

    Counts duplicates, orphan sessions, unknown event types, events after the
    end, late arrivals, clock problems and more (rules/quality.yaml), with the
    rate per check and the slices where the rates are highest. Exits 1 only
    when a check marked blocking fails; other failures are warnings. Example:

    \b
      auditor quality --events data/events/ --out quality.json
    """
    from auditor.golden.events import DEFAULT_DIMS
    from auditor.quality.checks import check_events
    from auditor.render.quality import render_json, render_text
    from auditor.tables import write_text

    report = check_events(events, dims=_split_dims(dims) or DEFAULT_DIMS, rules_dir=rules_dir, engine=engine,
                          progress=_progress(quiet))
    if out:
        write_text(out, render_json(report))
    click.echo(render_json(report) if as_json else render_text(report), nl=False)
    return report.exit_code


@cli.command()
@click.option("--out", "out", default="auditor-demo", show_default=True,
              type=click.Path(file_okay=False), metavar="DIR", callback=_output(folder=True),
              help="Folder for the generated data (DIR/data) and the reports (DIR/report).")
@click.option("--sessions", default=10_000, show_default=True, type=click.IntRange(min=500),
              help="Sessions to synthesize (about 32 events each).")
@click.option("--seed", type=int, default=None, help="Generator seed (default: the scenario's).")
@_quiet
def demo(out: str, sessions: int, seed: int | None, quiet: bool) -> int:
    """See a full audit in one command, with nothing to configure.

    Synthesizes player telemetry for one hour in which the batch pipeline
    loses first_frame events from part of one device x player-version slice
    (batch EBVS about 8% above golden), writes what the streaming and batch
    pipelines would have published, runs the full audit (golden recompute,
    reconciliation, localization) and writes report.html, report.json and
    summary.md. Exits 0 when the audit found the injected fault (it is a
    demo, not a gate). Example:

    \b
      auditor demo --out /tmp/auditor-demo
      open /tmp/auditor-demo/report/report.html
    """
    from auditor.synth.demo import describe, run_demo

    outcome = run_demo(out, sessions=sessions, seed=seed, progress=_progress(quiet))
    click.echo(describe(outcome), nl=False)
    return outcome.exit_code


@cli.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="audit.yaml: events, window, dimensions, pipelines.")
@click.option("--pipeline", required=True, metavar="NAME", help="The pipeline to drill into.")
@click.option("--metric", required=True, metavar="NAME", help="The metric, e.g. ebvs_rate.")
@click.option("--window", "windows", multiple=True, metavar="START/DURATION",
              help="Window(s) as in `auditor run` (default: window.start in audit.yaml).")
@click.option("--depth", default=3, show_default=True, type=click.IntRange(min=1),
              help="Most dimensions in one slice.")
@click.option("--sessions", "max_sessions", default=50, show_default=True, type=click.IntRange(min=0),
              help="Most disagreeing sessions to list (when the pipeline has session rows).")
@click.option("--json", "as_json", is_flag=True, help="Print the drill-down as JSON.")
@_engine_option(None)
@_quiet
def explain(config_path: str, pipeline: str, metric: str, windows: tuple[str, ...], depth: int,
            max_sessions: int, as_json: bool, engine: str | None, quiet: bool) -> int:
    """Drill into one gap: the slices that explain it, numerator vs denominator,
    and the sessions that disagree where the pipeline publishes session rows.

    Runs the same golden recompute and reconciliation as `auditor run` for one
    pipeline and metric. With `sessions:` configured for the pipeline, its
    session rows are joined with golden's on session_id, so the gap is also
    localized over every audit dimension, and the disagreeing sessions are
    listed. Golden runs where `auditor run` runs it (--engine, else audit.yaml's
    engine:). Exit 0 when the metric is within tolerance (or has no gap), 1 when
    it is beyond it, 2 on a config or input problem. Example:

    \b
      auditor explain --config audit.yaml --pipeline batch --metric ebvs_rate
      auditor explain --config audit.yaml --pipeline batch --metric ebvs_rate --depth 2 --json
      auditor explain --config audit.yaml --pipeline batch --metric ebvs_rate --engine spark
    """
    from auditor.config import load_config
    from auditor.explain import explain_metric
    from auditor.render.explain import render_explain_json, render_explain_text

    config = load_config(config_path, engine=engine)
    drill = explain_metric(config, pipeline, metric, windows, depth=depth, max_sessions=max_sessions,
                           progress=_progress(quiet))
    click.echo(render_explain_json(drill) if as_json else render_explain_text(drill), nl=False)
    return drill.exit_code


@cli.command()
@click.option("--base", required=True, metavar="REV_OR_DIR",
              help="The definitions before the change: a rules folder if one exists by that name, "
                   "else a git revision of the head folder's repository (origin/main, a tag, a "
                   "commit; read with git archive, the working tree is not touched).")
@click.option("--head", type=click.Path(file_okay=False), metavar="DIR",
              help="The rules folder after the change. Default: the one in use (audit.yaml's "
                   "with --config, else the shipped rules/).")
@click.option("--corpus", multiple=True, metavar="PATH",
              help="More raw events to run both sides on (repeatable), e.g. a pinned sample of "
                   "production events. Added to the curated fixtures.")
@click.option("--fixtures", metavar="all|none|NAME,...", default=None,
              help="Which curated fixtures join the corpus and the fault regression "
                   "(default: all, or audit.yaml's gate.fixtures).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="audit.yaml: its rules: folder, dimensions, event mapping and gate: section.")
@click.option("--depth", default=2, show_default=True, type=click.IntRange(min=1, max=3),
              help="Most dimensions in one slice of the diff.")
@click.option("--out", "out", type=click.Path(file_okay=False), metavar="DIR",
              help="Write gate.json, gate.md and gate.html here.")
@click.option("--junit", is_flag=True, help="Also write junit.xml (with the fingerprints as properties).")
@click.option("--json", "as_json", is_flag=True, help="Print gate.json on stdout instead of gate.md.")
@_engine_option(None)
@click.option("--quiet", "-q", is_flag=True, help="No progress on stderr.")
def gate(base: str, head: str | None, corpus: tuple[str, ...], fixtures: str | None,
         config_path: str | None, depth: int, out: str | None, junit: bool, as_json: bool,
         engine: str | None, quiet: bool) -> int:
    """The CI gate on metric-definition changes: base vs head on one frozen corpus.

    Runs golden with the base and the head definitions on the same events
    (the curated fixtures plus --corpus), and shows what moved: every metric
    base -> head with numerator and denominator, per window and slice, and
    the sessions that changed outcome (EBVS -> VSF ...) with examples. Checks
    the movements against the declared changes in the head folder's
    changes.yaml, runs its definition cases and checks that the audit still
    sees the curated faults. Prints gate.md (a pull-request comment). Exit 0
    when nothing moved or every movement was declared and observed, 1 on an
    undeclared movement, a stale declaration, a broken case or a fault the
    audit no longer sees, 2 on bad input (a missing revision, a rules file
    that does not parse, SQL that fails: the file and line are named).
    With --engine spark both sides' golden runs as Spark SQL and the gate's
    numbers and verdict are the same as on DuckDB (docs/spark.md).
    Example:

    \b
      auditor gate --base origin/main --out gate-out --junit
      auditor gate --base v1.4 --head rules/ --corpus samples/prod-hour.parquet
      auditor gate --base origin/main --engine spark --corpus samples/prod-hour.parquet
    """
    from auditor.config import load_config
    from auditor.gate import render_json, render_markdown, run_gate, write_gate_reports

    if junit and not out:
        raise click.UsageError("--junit writes junit.xml into --out DIR; give --out too")
    config = load_config(config_path, engine=engine) if config_path else None
    chosen = None if fixtures is None else fixtures if fixtures in ("all", "none") else \
        tuple(f.strip() for f in fixtures.split(",") if f.strip())
    result = run_gate(base, head=head, corpus=corpus, fixtures=chosen, config=config, depth=depth,
                      progress=None if quiet else (lambda msg: click.echo(msg, err=True)), engine=engine)
    if out:
        for path in write_gate_reports(result, out, junit=junit):
            if not quiet:
                click.echo(f"wrote {path}", err=True)
    click.echo(render_json(result) if as_json else render_markdown(result), nl=False)
    return result.exit_code


def _store_option(f):
    """--history / --config: where the run history is (the same on history, ack and report)."""
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Read the store's location from audit.yaml's history: key.")(f)
    return click.option("--history", "history", metavar="PATH_OR_URL",
                        help="The history store: a DuckDB file or a SQLAlchemy URL.")(f)


def _store_location(history: str | None, config_path: str | None) -> str:
    if history:
        return history
    if config_path:
        from auditor.config import load_config
        config = load_config(config_path)
        if config.history:
            return config.history
        from auditor.errors import ConfigError
        raise ConfigError("audit.yaml has no history: key", file=config.file, key="history",
                          hint="add history: history.duckdb to audit.yaml, or pass --history PATH_OR_URL")
    raise click.UsageError("give the store: --history PATH_OR_URL, or --config audit.yaml with history:")


def _when(value: str | None, option: str):
    from auditor.errors import ConfigError
    from auditor.windows import parse_time
    try:
        return None if value is None else parse_time(value, key=option)
    except ConfigError as exc:
        raise ConfigError(exc.message, key=option, hint="e.g. 2025-04-30 or 2025-04-30T12:00:00Z") from None


@cli.command("history")
@_store_option
@click.option("--pipeline", "pipelines", multiple=True, metavar="NAME", help="Only this pipeline (repeatable).")
@click.option("--open", "only_open", is_flag=True, help="Only open findings (failing, or unseen since).")
@click.option("--at", "at", metavar="ISO", help="Draw the statuses as of this time (default: now); "
                                                 "decides which windows are still provisional.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (every finding with its windows).")
def history_cmd(history: str | None, config_path: str | None, pipelines: tuple[str, ...], only_open: bool,
                at: str | None, as_json: bool) -> int:
    """List the findings of the run history with their status.

    A finding is a pipeline x metric x slice x direction (never a window or a
    size); its status is new, recurring, regressed, resolved-fixed or
    not-observed (the window is missing or still provisional), with first and
    last seen, the windows affected and the current streak (docs/history.md).
    Exit 0 whatever the findings (it reads; `auditor run` judges), 2 when the
    store cannot be read. Example:

    \b
      auditor history --history history.duckdb
      auditor history --config audit.yaml --open --json
    """
    from datetime import datetime, timezone
    from auditor.history import load_history, open_store
    from auditor.history.text import render_history_json, render_history_text

    now = _when(at, "--at") or datetime.now(timezone.utc)
    with open_store(_store_location(history, config_path)) as store:
        findings = load_history(store, now=now, pipelines=pipelines)
        where = store.where
    if only_open:
        findings = [f for f in findings if f.open]
    render = render_history_json if as_json else render_history_text
    click.echo(render(findings, store=where, now=now), nl=False)
    return 0


@cli.command()
@click.argument("finding", metavar="FINDING")
@click.option("--reason", required=True, metavar="TEXT", help="Why it is known and who owns it (shown in reports).")
@click.option("--until", "until", metavar="DATE",
              help="The acknowledgement expires then (ISO date or time, UTC); default: until replaced.")
@_store_option
@_quiet
def ack(finding: str, reason: str, until: str | None, history: str | None, config_path: str | None,
        quiet: bool) -> int:
    """Acknowledge a known finding: it stays visible, but does not fail `auditor run`.

    FINDING is the id `auditor history` prints, or the identity
    pipeline/metric/dim=value&dim=value/direction. The run exits 0 when every
    failing metric's findings are acknowledged and nothing else fails, until
    the acknowledgement expires. Exit 0 when recorded, 2 when the finding is
    not in the history or the date is in the past. Example:

    \b
      auditor ack 3fa1c2d9e0 --reason "batch drops late first_frame, fix in QOE-412" --until 2025-04-30
    """
    from auditor.history import acknowledge, open_store

    with open_store(_store_location(history, config_path), write=True, progress=_progress(quiet)) as store:
        done = acknowledge(store, finding, reason, until=_when(until, "--until"))
    until_text = f" until {done.until.date().isoformat()}" if done.until else ""
    click.echo(f"acknowledged {done.id} ({done.identity}){until_text}: {done.reason}")
    return 0


@cli.command()
@_store_option
@click.option("--since", "since", metavar="7d|DATE", help="Start of the period: 7d, 36h, 2w before --until, "
                                                        "or a date (default: 7d).")
@click.option("--until", "until", metavar="DATE", help="End of the period, exclusive (default: now).")
@click.option("--out", "out", type=click.Path(dir_okay=False), metavar="FILE.html", callback=_output(folder=False),
              help="Write the self-contained HTML report here.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), metavar="FILE", callback=_output(folder=False),
              help="Write the report's data as JSON here.")
@click.option("--at", "at", metavar="ISO", help="Draw the statuses as of this time (default: now).")
@_quiet
def report(history: str | None, config_path: str | None, since: str | None, until: str | None,
           out: str | None, json_out: str | None, at: str | None, quiet: bool) -> int:
    """The scheduled report of the run history: one self-contained HTML page for a period.

    A headline (open findings, new and resolved this period, the
    longest-running), a status heatmap of windows x pipeline/metric, the
    findings with their lifecycle, golden vs each pipeline window by window
    with markers where the definitions or golden options changed, the
    data-quality trends and links to the runs' own reports (docs/history.md).
    Inline SVG, no script, no network: mail it or publish it as is. Exit 0
    when written (it reports; `auditor run` judges), 2 on a bad store,
    period or path. Example:

    \b
      auditor report --history history.duckdb --since 7d --out weekly.html
      auditor report --config audit.yaml --since 2025-03-01 --until 2025-03-15 --out r.html --json r.json
    """
    from datetime import datetime, timezone
    from auditor.history import open_store
    from auditor.history.report import parse_period, write_scheduled_report

    if not out and not json_out:
        raise click.UsageError("give --out FILE.html and/or --json FILE")
    now = _when(at, "--at") or datetime.now(timezone.utc)
    start, end = parse_period(since, until, now=now)
    with open_store(_store_location(history, config_path)) as store:
        model = write_scheduled_report(store, since=start, until=end, now=now, out=out, json_out=json_out)
    h = model["headline"]
    if not quiet:
        for path in (out, json_out):
            if path:
                click.echo(f"wrote {path}", err=True)
    click.echo(f"{model['windows']} windows {model['since']} to {model['until']}: {h['open']} open, "
               f"{h['new']} new, {h['resolved']} resolved")
    return 0
