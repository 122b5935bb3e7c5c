"""audit.yaml: the audit's configuration, loaded and validated up front.

Every problem (unknown key, wrong type, missing file, unset environment
variable) is a :class:`ConfigError` naming ``file:line``, the key and a hint.
Relative paths resolve against the folder of audit.yaml. Connection strings
(``url``, ``duckdb``, ``path``) may reference environment variables as
``${NAME}``.

    events: data/events/
    window: {start: 2025-03-20T14:00:00Z, minutes: 60}
    dimensions: [cdn, device, player_version, country]
    pipelines:
      streaming: {path: out/streaming.parquet, grain: 5m, dimensions: [cdn, device]}
      batch: {duckdb: warehouse.duckdb, table: qoe_hourly,
              columns: {attempts: n_attempts}, metrics: [attempts, ebvs_rate]}
      legacy: {url: "postgresql+psycopg://${PG_USER}@db/qoe", query: "SELECT ..."}
      # known deviations, judged apart (docs/deviations.md):
      #   deviations: [{mechanism: late_events_dropped, params: {watermark_s: 120}}]
    rules: rules/        # optional: tolerances.yaml / quality.yaml overriding the shipped defaults
    gate: {corpus: [sample.parquet]}   # optional: events `auditor gate` adds to its corpus
    report: {templates: reports/templates/}   # optional: the team's own report templates
    quality: true        # optional: false (or {enabled: false}) skips the data-quality checks;
                         # {engine: great_expectations} has GX judge them (default: builtin)
    history: history.duckdb   # optional: the run history (a DuckDB file or a SQLAlchemy URL);
                              # pipelines.NAME.late_arrival: 6h keeps its windows provisional that long
"""
from __future__ import annotations

import dataclasses
import difflib
import glob
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from auditor.deviations import Deviation, parse_deviations
from auditor.golden.events import DEFAULT_DIMS, CatalogTable, EventMapping
from auditor.golden.calculator import COMPONENTS, GoldenOptions, check_dims, default_options
from auditor.errors import ConfigError
from auditor.quality.judges import BUILTIN, check_engine
from auditor.golden.metrics import catalogue
from auditor.golden.sqlfiles import RulesFolder
from auditor.quality.rules import QualityRules, load_rules
from auditor.tolerances import Tolerance, ToleranceRules, load_tolerance_rules, parse_metric_rules
from auditor.windows import check_on_grid, iso, parse_minutes, parse_time
from auditor.yamldoc import Path, YamlDoc, load_yaml

TOP_KEYS = ("events", "mapping", "window", "dimensions", "pipelines", "rules", "golden", "quality",
            "gate", "history", "report", "engine", "mechanisms")
PIPELINE_KEYS = ("path", "format", "duckdb", "url", "table", "query", "columns", "grain",
                 "dimensions", "metrics", "sessions", "tolerances", "late_arrival", "deviations")
FILE_FORMATS = ("parquet", "csv", "json")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class SourceSpec:
    """Where a pipeline's published aggregates live: exactly one kind.

    ``file``: a file or glob (Parquet, CSV, JSON Lines); ``duckdb``: a table or
    query in a DuckDB database file; ``sql``: a table or query on any engine
    SQLAlchemy can reach (``url``); ``spark``: a table or query of the Spark
    session's catalog (``engine: spark``, e.g. the batch pipeline's Hive warehouse).
    """

    kind: str
    path: str | None = None
    format: str | None = None
    database: str | None = None
    url: str | None = None
    table: str | None = None
    query: str | None = None

    def describe(self) -> str:
        if self.kind == "file":
            return self.path or ""
        what = f"table {self.table}" if self.table else "query"
        if self.kind == "duckdb":
            return f"{self.database} ({what})"
        if self.kind == "spark":
            return f"Spark catalog ({what})"
        return f"{redact_url(self.url or '')} ({what})"


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    source: SourceSpec
    columns: Mapping[str, str] = field(default_factory=dict)   # canonical name -> source column
    grain_minutes: int | None = None          # None: the audit window length
    dimensions: tuple[str, ...] | None = None  # None: every audit dimension
    metrics: tuple[str, ...] | None = None     # None: every metric the source can provide
    sessions: str | None = None                # session-level rows (used by `auditor explain`)
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)
    late_arrival_minutes: int = 0              # a window stays provisional this long after its end
    # known deviations from golden, declared on purpose (docs/deviations.md)
    deviations: tuple[Deviation, ...] = ()


@dataclass(frozen=True)
class AuditConfig:
    events: Any
    pipelines: tuple[PipelineConfig, ...]
    dimensions: tuple[str, ...] = DEFAULT_DIMS
    window_minutes: int = 60
    window_start: datetime | None = None
    mapping: EventMapping = field(default_factory=EventMapping)
    golden_options: GoldenOptions = field(default_factory=default_options)
    tolerance_rules: ToleranceRules = field(default_factory=load_tolerance_rules)
    # the data-quality rules (rules/quality.yaml or the `rules:` folder's); None: checks off
    quality_rules: QualityRules | None = field(default_factory=load_rules)
    # who judges the checks' counts (auditor.quality.judges): builtin (no GX import) or great_expectations
    quality_engine: str = BUILTIN
    file: str | None = None
    rules_folder: str | None = None            # audit.yaml's `rules:` folder, resolved
    # `auditor gate` (docs/gate.md): events added to its corpus, and which curated fixtures run
    gate_corpus: tuple[str, ...] = ()
    gate_fixtures: str | tuple[str, ...] = "all"
    history: str | None = None                 # the run history store: a DuckDB path or a SQLAlchemy URL
    # `report: {templates: DIR}`: templates there override the shipped ones of the same name
    report_templates: str | None = None
    # where golden runs: duckdb (embedded) or spark (docs/spark.md)
    engine: str = "duckdb"
    # name the mechanism of each failing gap (docs/mechanisms.md#the-search); `mechanisms: false` turns it off
    mechanisms: bool = True

    def rules_in_use(self) -> RulesFolder:
        """The definitions this audit runs with: the packaged rules, with the files the
        `rules:` folder overrides (tolerances.yaml, quality.yaml, quality/*.sql,
        mechanisms.yaml, mechanisms/*.sql)."""
        if self.rules_folder is None:
            return RulesFolder()
        own = RulesFolder(root=self.rules_folder)
        return RulesFolder(overrides=tuple(
            (rel, own.path(rel)) for rel in own.files()
            if rel in ("tolerances.yaml", "quality.yaml", "mechanisms.yaml")
            or (rel.startswith(("quality/", "mechanisms/")) and rel.endswith(".sql"))))

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.name == name:
                return p
        raise ConfigError(f"no pipeline named {name!r}", file=self.file, key="pipelines",
                          hint="configured: " + ", ".join(p.name for p in self.pipelines))


def redact_url(url: str) -> str:
    """A connection URL without its password, for reports and messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<url>"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def load_config(path: str | os.PathLike, *, engine: str | None = None) -> AuditConfig:
    """Read and validate audit.yaml; ``engine`` (``--engine``) overrides its ``engine:``."""
    doc = load_yaml(path, what="audit config")
    data = doc.data
    if not isinstance(data, Mapping):
        raise doc.error((), "audit.yaml must be a mapping of keys (events, window, dimensions, pipelines)",
                        "e.g. events: data/events/ and pipelines: {batch: {path: out/batch.parquet}}")
    doc.check_keys((), data, TOP_KEYS, required=("events", "pipelines"))
    engine = engine or _engine(doc, data.get("engine", "duckdb"))
    events = _events(doc, data["events"], engine)
    mapping = _mapping(doc, data.get("mapping"))
    dims = _str_list(doc, ("dimensions",), data.get("dimensions", list(DEFAULT_DIMS)))
    try:
        dims = check_dims(dims)
    except ConfigError as exc:
        raise doc.error(("dimensions",), exc.message, exc.hint) from None
    window_start, window_minutes = _window(doc, data.get("window"))
    options = _golden_options(doc, data.get("golden"))
    rules = _rules(doc, data.get("rules"))
    asked = data.get("quality", False)
    if isinstance(asked, Mapping):
        asked = asked.get("enabled", True)
    if engine == "spark" and asked is not False:
        raise doc.error(("quality",), "the data-quality checks run on the DuckDB engine only",
                        "leave quality: out (off with engine: spark) or set quality: false; "
                        "`auditor quality --events` checks a sample on DuckDB (docs/spark.md)")
    quality, quality_engine = _quality(doc, data.get("quality", engine != "spark"), data.get("rules"))
    pipes = data["pipelines"]
    if not isinstance(pipes, Mapping) or not pipes:
        raise doc.error(("pipelines",), "pipelines must map each pipeline's name to its source",
                        "e.g. pipelines: {batch: {path: out/batch.parquet}}")
    pipelines = tuple(_pipeline(doc, str(name), spec, dims, engine) for name, spec in pipes.items())
    declaring = [p.name for p in pipelines if p.deviations]
    if engine == "spark" and declaring:
        raise doc.error(("pipelines", declaring[0], "deviations"),
                        "declared deviations are computed on the DuckDB engine only",
                        "run this audit with engine: duckdb, or leave deviations: out (docs/deviations.md)")
    unknown = set(rules.pipelines) - {p.name for p in pipelines}
    if unknown:
        raise ConfigError(f"tolerances name pipelines that audit.yaml does not configure: {sorted(unknown)}",
                          file=rules.file or doc.file, key="pipelines",
                          hint="configured: " + ", ".join(p.name for p in pipelines))
    gate_corpus, gate_fixtures = _gate(doc, data.get("gate"))
    report_templates = _report(doc, data.get("report"))
    mechanisms = data.get("mechanisms", engine != "spark")
    if not isinstance(mechanisms, bool):
        raise doc.error(("mechanisms",), "mechanisms is true or false",
                        "false turns the mechanism search off (docs/mechanisms.md#the-search)")
    if engine == "spark" and mechanisms:
        # the search reruns golden variants on the DuckDB connection's loaded tables
        raise doc.error(("mechanisms",), "the mechanism search runs on the DuckDB engine only",
                        "leave mechanisms: out (off with engine: spark) or set mechanisms: false; "
                        "rerun the failing window with engine: duckdb to name the mechanism (docs/spark.md)")
    return AuditConfig(events=events, pipelines=pipelines, dimensions=dims,
                       window_minutes=window_minutes, window_start=window_start, mapping=mapping,
                       golden_options=options, tolerance_rules=rules, quality_rules=quality,
                       quality_engine=quality_engine, file=doc.file, engine=engine,
                       rules_folder=_resolve(doc, data["rules"]) if data.get("rules") is not None else None,
                       gate_corpus=gate_corpus, gate_fixtures=gate_fixtures,
                       history=_history(doc, data.get("history")),
                       report_templates=report_templates, mechanisms=mechanisms)


def _history(doc: YamlDoc, value: Any) -> str | None:
    """``history:`` a DuckDB file (relative to audit.yaml) or a SQLAlchemy URL (``${ENV}`` expanded)."""
    if value is None:
        return None
    text = _expand_env(doc, ("history",), _string(doc, ("history",), value))
    return text if "://" in text else _resolve(doc, text)


def _report(doc: YamlDoc, value: Any) -> str | None:
    """``report: {templates: DIR}``: a folder of report templates (report.html.j2,
    summary.md.j2, pipeline.html.j2, quality.html.j2, report.css) overriding the shipped ones."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise doc.error(("report",), "report takes {templates: DIR}", "e.g. report: {templates: reports/templates/}")
    doc.check_keys(("report",), value, ("templates",))
    if value.get("templates") is None:
        return None
    folder = _resolve(doc, _string(doc, ("report", "templates"), value["templates"]))
    if not os.path.isdir(folder):
        raise doc.error(("report", "templates"), f"no such folder: {folder}",
                        "templates names a folder holding report.html.j2 and/or summary.md.j2 "
                        "(relative to audit.yaml); the shipped ones fill in the rest")
    return folder


def _expand_env(doc: YamlDoc, path: Path, value: str) -> str:
    def sub(m: re.Match) -> str:
        if m[1] not in os.environ:
            raise doc.error(path, f"environment variable {m[1]} is not set",
                            f"export {m[1]}=... before running, or write the value in audit.yaml")
        return os.environ[m[1]]
    return _ENV.sub(sub, value)


def _string(doc: YamlDoc, path: Path, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(path, f"expected a non-empty string, got {value!r}", "quote the value if it is not text")
    return value


def _resolve(doc: YamlDoc, value: str) -> str:
    return value if os.path.isabs(value) else os.path.normpath(os.path.join(doc.folder, value))


ENGINES = ("duckdb", "spark")


def _engine(doc: YamlDoc, value: Any) -> str:
    if value not in ENGINES:
        raise doc.error(("engine",), f"engine must be duckdb or spark, not {value!r}",
                        "duckdb (embedded, the default) or spark (docs/spark.md)")
    return value


def _events(doc: YamlDoc, value: Any, engine: str) -> Any:
    """``events:`` a path, glob or folder; on Spark also a URL (s3a://, hdfs://, ...) or
    ``{table: db.events}`` (the session's catalog)."""
    if isinstance(value, Mapping):
        doc.check_keys(("events",), value, ("table",), required=("table",))
        name = value["table"]
        if not isinstance(name, str) or not name.strip():
            raise doc.error(("events", "table"), "expected a table name", "e.g. table: raw.player_events")
        if engine != "spark":
            raise doc.error(("events", "table"), "events from a catalog table are read by engine: spark",
                            "set engine: spark, or give the events as files (events: data/events/)")
        return CatalogTable(name.strip())
    if engine == "spark" and isinstance(value, str) and "://" in value:
        return _expand_env(doc, ("events",), value)  # the cluster's file system: Spark checks it
    return _existing_path(doc, ("events",), value, allow_dir=True)


def _existing_path(doc: YamlDoc, path: Path, value: Any, *, allow_dir: bool = False) -> str:
    resolved = _resolve(doc, _expand_env(doc, path, _string(doc, path, value)))
    if any(ch in resolved for ch in "*?["):
        if not [f for f in glob.glob(resolved, recursive=True) if os.path.isfile(f)]:
            raise doc.error(path, f"no file matches {resolved}",
                            "relative paths are resolved against the folder of audit.yaml")
    elif not (os.path.isfile(resolved) or (allow_dir and os.path.isdir(resolved))):
        raise doc.error(path, f"no such file: {resolved}",
                        "relative paths are resolved against the folder of audit.yaml")
    return resolved


def _str_list(doc: YamlDoc, path: Path, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise doc.error(path, f"expected a list of names, got {value!r}", "e.g. [cdn, device]")
    return tuple(value)


def _mapping(doc: YamlDoc, value: Any) -> EventMapping:
    if value is None:
        return EventMapping()
    if not isinstance(value, Mapping):
        raise doc.error(("mapping",), "mapping takes {columns: {...}, event_types: {...}}",
                        "e.g. mapping: {columns: {session_id: sid}, event_types: {play_start: first_frame}}")
    doc.check_keys(("mapping",), value, ("columns", "event_types"))
    for key in ("columns", "event_types"):
        sub = value.get(key) or {}
        if not isinstance(sub, Mapping) or not all(isinstance(v, str) for v in sub.values()):
            raise doc.error(("mapping", key), f"mapping.{key} maps names to names",
                            "e.g. {session_id: sid}")
    return EventMapping.from_dict(value)


def _window(doc: YamlDoc, value: Any) -> tuple[datetime | None, int]:
    if value is None:
        return None, 60
    if not isinstance(value, Mapping):
        raise doc.error(("window",), "window takes {start: ISO time, minutes: N}",
                        "e.g. window: {start: 2025-03-20T14:00:00Z, minutes: 60}")
    doc.check_keys(("window",), value, ("start", "minutes"))
    try:
        minutes = parse_minutes(value.get("minutes", 60), key="window.minutes")
    except ConfigError as exc:
        raise doc.error(("window", "minutes"), exc.message, exc.hint) from None
    try:
        start = parse_time(value["start"]) if value.get("start") is not None else None
        if start is not None:
            check_on_grid(start, minutes, what=iso(start))
    except ConfigError as exc:
        raise doc.error(("window", "start"), exc.message, exc.hint) from None
    return start, minutes


def _golden_options(doc: YamlDoc, value: Any) -> GoldenOptions:
    if value is None:
        return default_options()
    if not isinstance(value, Mapping):
        raise doc.error(("golden",), "golden takes the named options of "
                        "docs/definitions.md#named-options",
                        "e.g. golden: {start_anchor: any_frame}; the options: start_anchor, "
                        "attribution, inactivity_timeout_ms, ebvs_min_wait_ms")
    fields = list(GoldenOptions.__dataclass_fields__)
    doc.check_keys(("golden",), value, fields)
    try:
        return dataclasses.replace(default_options(), **value)
    except ConfigError as exc:
        raise doc.error(("golden", exc.key or ""), exc.message, exc.hint) from None


def _gate(doc: YamlDoc, value: Any) -> tuple[tuple[str, ...], str | tuple[str, ...]]:
    """``gate: {corpus: [events paths], fixtures: all | none | [names]}`` (docs/gate.md)."""
    if value is None:
        return (), "all"
    if not isinstance(value, Mapping):
        raise doc.error(("gate",), "gate takes {corpus: [events paths], fixtures: all | none | [names]}")
    doc.check_keys(("gate",), value, ("corpus", "fixtures"))
    corpus = value.get("corpus") or []
    corpus = [corpus] if isinstance(corpus, str) else corpus
    if not isinstance(corpus, list):
        raise doc.error(("gate", "corpus"), "corpus takes a list of events paths")
    paths = tuple(_existing_path(doc, ("gate", "corpus", i), p, allow_dir=True) for i, p in enumerate(corpus))
    fixtures = value.get("fixtures", "all")
    if fixtures in ("all", "none"):
        return paths, fixtures
    return paths, _str_list(doc, ("gate", "fixtures"), fixtures)


def _rules(doc: YamlDoc, value: Any) -> ToleranceRules:
    if value is None:
        return load_tolerance_rules()
    folder = _resolve(doc, _string(doc, ("rules",), value))
    if not os.path.isdir(folder):
        raise doc.error(("rules",), f"no such folder: {folder}",
                        "rules names a folder holding tolerances.yaml")
    file = os.path.join(folder, "tolerances.yaml")
    return load_tolerance_rules(file) if os.path.isfile(file) else load_tolerance_rules()


def _quality(doc: YamlDoc, value: Any, rules: Any) -> tuple[QualityRules | None, str]:
    """``quality: true|false`` or ``quality: {enabled: true|false, engine: builtin|great_expectations}``
    -> (rules, engine); the rules come from the ``rules:`` folder's quality.yaml if it has
    one, else the packaged rules."""
    path: Path = ("quality",)
    engine = BUILTIN
    if isinstance(value, Mapping):
        doc.check_keys(path, value, ("enabled", "engine"))
        try:
            engine = check_engine(value.get("engine", BUILTIN))
        except ConfigError as exc:
            raise doc.error((*path, "engine"), exc.message, exc.hint) from None
        path, value = (*path, "enabled"), value.get("enabled", True)
    if not isinstance(value, bool):
        raise doc.error(path, "expected true or false",
                        "quality: false (or quality: {enabled: false}) turns the data-quality checks off")
    if not value:
        return None, engine
    return load_rules(_resolve(doc, rules) if rules is not None else None), engine


def _pipeline(doc: YamlDoc, name: str, spec: Any, audit_dims: tuple[str, ...],
              engine: str = "duckdb") -> PipelineConfig:
    base: Path = ("pipelines", name)
    if not isinstance(spec, Mapping):
        raise doc.error(base, "a pipeline is a mapping with a source (path, duckdb or url)",
                        "e.g. batch: {path: out/batch.parquet}")
    doc.check_keys(base, spec, PIPELINE_KEYS)
    source = _source(doc, base, spec, engine)
    columns = spec.get("columns") or {}
    metric_names = list(catalogue())
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) and v for v in columns.values()):
        raise doc.error((*base, "columns"), "columns maps canonical names to the source's columns",
                        "e.g. columns: {window_start: ts_5m, attempts: n_attempts}")
    doc.check_keys((*base, "columns"), columns, ["window_start", *audit_dims, *COMPONENTS, *metric_names])
    grain = None
    if spec.get("grain") is not None:
        try:
            grain = parse_minutes(spec["grain"], key="grain")
        except ConfigError as exc:
            raise doc.error((*base, "grain"), exc.message, exc.hint) from None
    dims = None
    if "dimensions" in spec:
        dims = _str_list(doc, (*base, "dimensions"), spec["dimensions"] or [])
        extra = [d for d in dims if d not in audit_dims]
        if extra:
            raise doc.error((*base, "dimensions"),
                            f"{extra} are not audit dimensions {list(audit_dims)}",
                            "a pipeline keeps a subset of the audit's dimensions; add them to `dimensions`")
    metrics = None
    if "metrics" in spec:
        metrics = _str_list(doc, (*base, "metrics"), spec["metrics"])
        for i, m in enumerate(metrics):
            if m not in metric_names:
                close = difflib.get_close_matches(m, metric_names, n=1)
                raise doc.error((*base, "metrics", i), f"unknown metric {m!r}",
                                f"did you mean {close[0]!r}?" if close else "metrics: " + ", ".join(metric_names))
    sessions = (_existing_path(doc, (*base, "sessions"), spec["sessions"])
                if spec.get("sessions") is not None else None)
    tolerances = parse_metric_rules(doc, (*base, "tolerances"), spec.get("tolerances"),
                                    f"audit.yaml pipelines.{name}.tolerances")
    late = 0
    if spec.get("late_arrival") not in (None, 0, "0"):
        try:
            late = parse_minutes(spec["late_arrival"], key="late_arrival")
        except ConfigError as exc:
            raise doc.error((*base, "late_arrival"), exc.message,
                            "how long after a window ends its data can still change, e.g. 6h or 2d") from None
    deviations = parse_deviations(doc, (*base, "deviations"), spec.get("deviations"), audit_dims)
    return PipelineConfig(name=name, source=source, columns=dict(columns), grain_minutes=grain,
                          dimensions=dims, metrics=metrics, sessions=sessions, tolerances=tolerances,
                          late_arrival_minutes=late, deviations=deviations)


def _source(doc: YamlDoc, base: Path, spec: Mapping, engine: str = "duckdb") -> SourceSpec:
    kinds = [k for k in ("path", "duckdb", "url") if k in spec]
    if not kinds and engine == "spark" and ("table" in spec or "query" in spec):
        has = [k for k in ("table", "query") if spec.get(k) is not None]
        if len(has) != 1:
            raise doc.error(base, "a Spark catalog source needs exactly one of table or query",
                            "e.g. table: warehouse.qoe_hourly")
        return SourceSpec(kind="spark", table=_string(doc, (*base, has[0]), spec[has[0]])
                          if has[0] == "table" else None,
                          query=_string(doc, (*base, has[0]), spec[has[0]]) if has[0] == "query" else None)
    if len(kinds) != 1:
        raise doc.error(base, "give exactly one source: path (file or glob), duckdb (database file) "
                        f"or url (SQLAlchemy); found {kinds or 'none'}",
                        "e.g. {path: out/batch.parquet} or {duckdb: wh.duckdb, table: qoe}"
                        + ("; with engine: spark, {table: db.qoe} alone reads the Spark catalog"
                           if engine == "spark" else ""))
    kind = kinds[0]
    if kind == "path":
        for key in ("table", "query"):
            if key in spec:
                raise doc.error((*base, key), f"{key} needs a database source (duckdb or url), not a file path",
                                "a file source is read whole: drop the key, or use duckdb: or url:")
        fmt = spec.get("format")
        if fmt is not None and fmt not in FILE_FORMATS:
            raise doc.error((*base, "format"), f"unknown format {fmt!r}", "one of: " + ", ".join(FILE_FORMATS))
        return SourceSpec(kind="file", path=_existing_path(doc, (*base, "path"), spec["path"]), format=fmt)
    if "format" in spec:
        raise doc.error((*base, "format"), "format applies to file sources only",
                        "drop format: a database source has typed columns")
    has = [k for k in ("table", "query") if spec.get(k) is not None]
    if len(has) != 1:
        raise doc.error(base, f"a {kind} source needs exactly one of table or query",
                        "e.g. table: analytics.qoe_5m")
    table = _string(doc, (*base, "table"), spec["table"]) if "table" in has else None
    query = _string(doc, (*base, "query"), spec["query"]) if "query" in has else None
    if kind == "duckdb":
        return SourceSpec(kind="duckdb", database=_existing_path(doc, (*base, "duckdb"), spec["duckdb"]),
                          table=table, query=query)
    url = _expand_env(doc, (*base, "url"), _string(doc, (*base, "url"), spec["url"]))
    if "://" not in url:
        raise doc.error((*base, "url"), f"not a SQLAlchemy URL: {redact_url(url)!r}",
                        "e.g. postgresql+psycopg://user@host:5432/db")
    return SourceSpec(kind="sql", url=url, table=table, query=query)
