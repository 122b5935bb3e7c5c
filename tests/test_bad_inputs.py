"""Fail closed: one row per bad input, the command it is given to, the exit code and a
fragment of the message the user must see.

Every row also checks what failing closed means beyond the code: no traceback, a
hint line on every exit 2, and nothing written: the folder the command works in
holds exactly the files it held before (no partial output, no temporary file, no
previous output removed). Rows that must not even start the work (an output path
that cannot be written) also check that no progress line was printed.

Beside the table: the inputs that must now be accepted (integral float bitrates,
Parquet files storing ``ts`` with different types), SIGINT sent to a real
subprocess of each long command, output modes under a umask, -q everywhere, one
data-quality default, and hostile values in every report format.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from auditor.cli import main
from auditor.golden.events import REQUIRED_COLUMNS

SESSIONS = 300


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A small complete audit input: events, two correct pipelines, audit.yaml (one hour)."""
    from auditor.synth.dataset import write_dataset

    out = tmp_path_factory.mktemp("dataset")
    write_dataset(out, sessions=SESSIONS, seed=3)
    return out


# ---- building the bad inputs ------------------------------------------------------------

def edit_yaml(d: Path, change: Callable[[dict], None]) -> str:
    path = d / "audit.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def edit_table(d: Path, name: str, change: Callable[[pa.Table], pa.Table]) -> str:
    path = d / name
    pq.write_table(change(pq.read_table(path)), path)
    return str(path)


def drop(column: str) -> Callable[[pa.Table], pa.Table]:
    return lambda t: t.drop_columns([column])


def set_first(column: str, value, typ: pa.DataType) -> Callable[[pa.Table], pa.Table]:
    """The column cast to ``typ`` with its first non-null value replaced by ``value``."""
    def change(t: pa.Table) -> pa.Table:
        values = t[column].cast(typ).to_pylist()
        i = next(k for k, v in enumerate(values) if v is not None)
        values[i] = value
        return t.set_column(t.schema.get_field_index(column), column, pa.array(values, typ))
    return change


def damage_pages(d: Path, name: str) -> str:
    """Flip bytes in the middle of a Parquet file: the footer still reads, the pages do not."""
    path = d / name
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 4, len(data) // 2, 7):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return str(path)


def truncate(d: Path, name: str, size: int = 500) -> str:
    path = d / name
    path.write_bytes(path.read_bytes()[:size])
    return str(path)


def write(d: Path, name: str, text: str) -> str:
    (d / name).parent.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(text)
    return str(d / name)


def gzip_half(d: Path, name: str) -> str:
    """The first rows of the events as gzip-compressed JSON Lines, cut in the middle of the stream."""
    import gzip

    rows = pq.read_table(d / "events.parquet").slice(0, 2000).to_pylist()
    text = "".join(json.dumps(r, default=str) + "\n" for r in rows).encode()
    data = gzip.compress(text)
    (d / name).write_bytes(data[:len(data) // 2])
    return str(d / name)


def events_as_csv(d: Path, column: str, value: str) -> str:
    """events.parquet as events.csv (times as text), with ``column`` of the first row set to ``value``."""
    import pyarrow.csv as pacsv

    t = pq.read_table(d / "events.parquet")
    t = t.set_column(t.schema.get_field_index("ts"), "ts", t["ts"].cast(pa.string()))
    t = set_first(column, value, pa.string())(t)
    pacsv.write_csv(t, d / "events.csv")
    (d / "events.parquet").unlink()
    return str(d / "events.csv")


def run_args(*extra: str) -> Callable[[Path], list[str]]:
    return lambda d: ["run", "--config", str(d / "audit.yaml"), "--out", str(d / "report"), *extra]


def golden_args(*extra: str, events: str = "events.parquet") -> Callable[[Path], list[str]]:
    return lambda d: ["golden", "--events", str(d / events), "--out", str(d / "golden.parquet"), *extra]


def then(prepare: Callable[[Path], object], args: Callable[[Path], list[str]]) -> Callable[[Path], list[str]]:
    """Prepare the bad input in the row's folder, then build the command line."""
    def build(d: Path) -> list[str]:
        prepare(d)
        return args(d)
    return build


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], list[str]]   # makes the bad input in a fresh copy, returns argv
    code: int
    fragment: str                        # must appear in stderr
    also: tuple[str, ...] = ()           # more fragments
    never: tuple[str, ...] = ()          # must not appear in stderr (e.g. progress: work never started)
    writes: bool = False                 # the command succeeds and writes (warnings)


def _window(start: str | None = None, minutes=None):
    def change(data: dict) -> None:
        if start is not None:
            data["window"]["start"] = start
        if minutes is not None:
            data["window"]["minutes"] = minutes
    return change


def _pipeline(name: str, **keys):
    def change(data: dict) -> None:
        data["pipelines"][name].update(keys)
    return change


def _rules_file(file: str, text: str):
    def prepare(d: Path) -> None:
        write(d, f"rules/{file}", text)
        edit_yaml(d, lambda data: data.update(rules="rules/"))
    return prepare


NOT_STARTED = ("[golden", "recomputing", "generating", "[quality]")

CASES = [
    # -- silent passes: an audit of nothing, a dropped column -------------------------------
    Case("run: window without events", run_args("--window", "2024-03-20T14:00:00Z/PT1H"), 2,
         "the audited window holds no golden sessions: 2024-03-20T14:00:00Z/2024-03-20T15:00:00Z",
         also=("the events run from 2025-03-20T14:",)),
    Case("run: backfill of mostly empty windows", run_args("--window", "2025-03-20T00:00:00Z/2025-03-21T00:00:00Z"), 2,
         "23 of 24 audited windows hold no golden sessions: 2025-03-20T00:00:00Z/2025-03-20T14:00:00Z (14 windows), "
         "2025-03-20T15:00:00Z/2025-03-21T00:00:00Z (9 windows)"),
    Case("run: audit.yaml window without events", then(lambda d: edit_yaml(d, _window("2024-03-20T14:00:00Z")),
                                                        run_args()), 2, "window.start: the audited window holds no"),
    Case("run: --allow-empty warns instead", run_args("--window", "2025-03-20T00:00:00Z/2025-03-21T00:00:00Z",
                                                      "--allow-empty"), 0,
         "warning: 23 of 24 audited windows hold no golden sessions", writes=True),
    Case("golden: window without events", golden_args("--window-start", "2024-03-20T14:00:00Z"), 2,
         "the window starting 2024-03-20T14:00:00Z (60 minutes) holds no golden sessions"),
    Case("explain: window without events",
         lambda d: ["explain", "--config", str(d / "audit.yaml"), "--pipeline", "batch", "--metric", "ebvs_rate",
                    "--window", "2024-03-20T14:00:00Z/PT1H"], 2, "holds no golden sessions"),
    Case("pipeline without a component column", then(lambda d: edit_table(d, "batch.parquet", drop("ebvs")),
                                                      run_args()), 2,
         "column 'ebvs' is missing (ebvs_rate needs 'ebvs'", also=("list the metrics this pipeline publishes in "
                                                                   "pipelines.batch.metrics",)),
    Case("pipeline stops publishing a declared metric",
         then(lambda d: (edit_table(d, "batch.parquet", drop("ebvs")),
                         edit_yaml(d, _pipeline("batch", metrics=["attempts", "ebvs_rate"]))), run_args()), 2,
         "column 'ebvs' is missing", also=("drop the metric from pipelines.batch.metrics",)),
    Case("pipeline without window_start", then(lambda d: edit_table(d, "batch.parquet", drop("window_start")),
                                               run_args()), 2, "window start column 'window_start' is missing"),
    Case("pipeline without a dimension", then(lambda d: edit_table(d, "streaming.parquet", drop("cdn")),
                                              run_args()), 2, "dimension 'cdn' is missing"),
    # -- one row per required column of the events -------------------------------------------
    *[Case(f"events without {c}", then(lambda d, c=c: edit_table(d, "events.parquet", drop(c)), golden_args()), 2,
           f"required column '{c}' is missing") for c in REQUIRED_COLUMNS],
    # -- damaged files of each format ---------------------------------------------------------
    Case("events: damaged Parquet pages (golden)", then(lambda d: damage_pages(d, "events.parquet"), golden_args()), 2,
         "cannot read the events", also=("events.parquet",), never=("LINE 1", "SELECT")),
    Case("events: damaged Parquet pages (run)", then(lambda d: damage_pages(d, "events.parquet"), run_args()), 2,
         "cannot read the events", never=("LINE 1", "SELECT")),
    Case("events: truncated Parquet", then(lambda d: truncate(d, "events.parquet"), golden_args()), 2,
         "cannot read the events", also=("events.parquet",), never=("LINE 1",)),
    Case("events: not Parquet at all", then(lambda d: write(d, "events.parquet", "a,b\n1,2\n"), golden_args()), 2,
         "cannot read the events", never=("LINE 1",)),
    Case("events: broken JSON Lines", then(lambda d: write(d, "events.jsonl", '{"event_id": "e1", "session_id": \n'),
                                           golden_args(events="events.jsonl")), 2, "cannot read the events",
         never=("LINE 1",)),
    Case("events: truncated gzip JSON Lines", then(lambda d: gzip_half(d, "events.jsonl.gz"),
                                                   golden_args(events="events.jsonl.gz")), 2,
         "events.jsonl.gz: cannot read the events", never=("LINE 1",)),
    Case("pipeline: DuckDB file that is not a database",
         then(lambda d: (write(d, "wh.duckdb", "not a database\n"),
                         edit_yaml(d, lambda c: c["pipelines"].update(batch={"duckdb": "wh.duckdb", "table": "qoe"}))),
              run_args()), 2, "wh.duckdb: cannot open the DuckDB database"),
    Case("pipeline: CSV with a broken quote",
         then(lambda d: (write(d, "batch.csv", 'window_start,cdn\n"2025-03-20T14:00:00Z,akamai\n'),
                         edit_yaml(d, lambda c: c["pipelines"].update(batch={"path": "batch.csv"}))),
              run_args()), 2, "batch.csv", never=("LINE 1",)),
    Case("events: CSV with a text ts", then(lambda d: events_as_csv(d, "ts", "yesterday"),
                                            golden_args(events="events.csv")), 2,
         "column 'ts' has 1 value(s) that are not a timestamp", also=("'yesterday'",)),
    Case("events: CSV with a text seq", then(lambda d: events_as_csv(d, "seq", "one"),
                                             golden_args(events="events.csv")), 2,
         "column 'seq' has 1 value(s) that are not an integer"),
    Case("pipeline: truncated Parquet", then(lambda d: truncate(d, "batch.parquet"), run_args()), 2,
         "batch.parquet: cannot read the pipeline's output", never=("LINE 1", "CREATE")),
    Case("pipeline: not Parquet at all", then(lambda d: write(d, "batch.parquet", "hello\n"), run_args()), 2,
         "batch.parquet: cannot read the pipeline's output", never=("LINE 1", "CREATE")),
    Case("pipeline: damaged Parquet pages", then(lambda d: damage_pages(d, "batch.parquet"), run_args()), 2,
         "batch.parquet", never=("LINE 1", "SELECT")),
    Case("pipeline: session rows truncated",
         then(lambda d: truncate(d, "batch_sessions.parquet"),
              lambda d: ["explain", "--config", str(d / "audit.yaml"), "--pipeline", "batch", "--metric", "ebvs_rate"]), 2,
         "batch_sessions.parquet", never=("LINE 1", "CREATE")),
    Case("audit.yaml: not YAML", then(lambda d: write(d, "audit.yaml", "events: [\n"), run_args()), 2,
         "not valid YAML"),
    Case("rules: quality.yaml not YAML",
         lambda d: ["quality", "--events", str(d / "events.parquet"), "--rules",
                    str(Path(write(d, "myrules/quality.yaml", "checks: [\n")).parent)], 2, "not valid YAML"),
    Case("rules: tolerances.yaml not YAML", then(_rules_file("tolerances.yaml", "pipelines: {\n"), run_args()), 2,
         "not valid YAML"),
    # -- outputs that cannot be written: refused before any work ---------------------------
    Case("run: --out under a file", then(lambda d: write(d, "taken", ""),
                                         lambda d: ["run", "--config", str(d / "audit.yaml"), "--out",
                                                    str(d / "taken" / "report")]), 2,
         "--out: cannot create", also=("taken is a file, not a folder",), never=NOT_STARTED),
    Case("run: --out is a file", then(lambda d: write(d, "report", ""), run_args()), 2,
         "Invalid value for '--out'", also=("is a file",), never=NOT_STARTED),
    Case("golden: --out under a file", then(lambda d: write(d, "taken", ""),
                                            lambda d: ["golden", "--events", str(d / "events.parquet"),
                                                       "--out", str(d / "taken" / "g.parquet")]), 2,
         "taken is a file, not a folder", never=NOT_STARTED),
    Case("golden: --out is a folder", then(lambda d: (d / "golden.parquet").mkdir(), golden_args()), 2,
         "Invalid value for '--out'", also=("is a directory",), never=NOT_STARTED),
    Case("golden: --sessions-out under a file",
         then(lambda d: write(d, "taken", ""),
              lambda d: [*golden_args()(d), "--sessions-out", str(d / "taken" / "s.parquet")]), 2,
         "--sessions-out: cannot create", never=NOT_STARTED),
    Case("quality: --out under a file", then(lambda d: write(d, "taken", ""),
                                             lambda d: ["quality", "--events", str(d / "events.parquet"),
                                                        "--out", str(d / "taken" / "q.json")]), 2,
         "taken is a file, not a folder", never=NOT_STARTED),
    Case("demo: --out under a file", then(lambda d: write(d, "taken", ""),
                                          lambda d: ["demo", "--out", str(d / "taken" / "demo")]), 2,
         "taken is a file, not a folder", never=NOT_STARTED),
    Case("generate: --out under a file", then(lambda d: write(d, "taken", ""),
                                              lambda d: ["generate", "--sessions", "10", "--out",
                                                         str(d / "taken" / "gen")]), 2,
         "taken is a file, not a folder", never=NOT_STARTED),
    # -- messages that name the right place ----------------------------------------------------
    Case("audit.yaml window.start off the grid", then(lambda d: edit_yaml(d, _window("2025-03-20T14:07:00Z")),
                                                      run_args()), 2,
         "audit.yaml:3: window.start: 2025-03-20T14:07:00Z is not on the 60-minute grid", never=("--window",)),
    Case("--window with a short duration", run_args("--window", "2025-03-20T14:00:00Z/1h"), 2,
         "--window: '2025-03-20T14:00:00Z/1h'", also=("e.g. --window 2025-03-20T14:00:00Z/PT1H",
                                                      "2025-03-20T00:00:00Z/2025-03-21T00:00:00Z")),
    Case("--window off the grid", run_args("--window", "2025-03-20T14:07:00Z/PT1H"), 2,
         "--window: window '2025-03-20T14:07:00Z/PT1H' is not on the 60-minute grid"),
    Case("window.minutes: 0", then(lambda d: edit_yaml(d, _window(minutes=0)), run_args()), 2,
         "window.minutes: a length of time must be positive"),
    Case("window.minutes negative", then(lambda d: edit_yaml(d, _window(minutes=-5)), run_args()), 2,
         "window.minutes: a length of time must be positive"),
    Case("negative tolerance", then(lambda d: edit_yaml(d, _pipeline("batch", tolerances={"ebvs_rate": {"relative": -1}})),
                                    run_args()), 2, "relative must be a number >= 0"),
    Case("golden: no such events path", golden_args(events="nowhere/"), 2, "no such file or folder"),
    Case("quality: no such events path", lambda d: ["quality", "--events", str(d / "nowhere")], 2,
         "no such file or folder"),
    Case("--dims with a typo", golden_args("--dims", "cdn,devise"), 2, "dimension 'devise' is missing",
         also=("did you mean 'device'?",)),
    Case("audit.yaml dimensions with a typo", then(lambda d: edit_yaml(d, lambda c: c.update(dimensions=["cdn", "devise"])),
                                                   run_args()), 2, "did you mean 'device'?"),
    # -- values the contract refuses, by name -------------------------------------------------
    Case("bitrate overflows 64 bits", then(lambda d: edit_table(d, "events.parquet", set_first("bitrate_kbps", 2**60, pa.int64())),
                                           golden_args()), 2, "out of range", also=("bitrate_kbps",)),
    Case("bitrate NaN", then(lambda d: edit_table(d, "events.parquet", set_first("bitrate_kbps", float("nan"), pa.float64())),
                             golden_args()), 2, "column 'bitrate_kbps' has 1 value(s) that are not whole numbers",
         also=("'nan'",)),
    Case("bitrate infinite", then(lambda d: edit_table(d, "events.parquet", set_first("bitrate_kbps", float("inf"), pa.float64())),
                                  golden_args()), 2, "column 'bitrate_kbps' has 1 value(s)", also=("'inf'",)),
    Case("bitrate fractional", then(lambda d: edit_table(d, "events.parquet", set_first("bitrate_kbps", 1500.5, pa.float64())),
                                    golden_args()), 2, "column 'bitrate_kbps' has 1 value(s)", also=("'1500.5'",)),
    Case("seq as text in Parquet", then(lambda d: edit_table(d, "events.parquet", set_first("seq", "x", pa.string())),
                                        golden_args()), 2, "column 'seq' has 1 value(s) that are not an integer"),
]


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a digest of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, dataset: Path, tmp_path: Path, capsys) -> None:
    import shutil

    work = tmp_path / "work"
    shutil.copytree(dataset, work)
    argv = case.build(work)
    before = _tree(work)
    code, out, err = _run(capsys, argv)
    assert code == case.code, err
    for fragment in (case.fragment, *case.also):
        assert fragment in err, err
    for fragment in case.never:
        assert fragment not in err, err
    assert "Traceback" not in err + out and "internal error" not in err
    if case.code == 2:  # our errors carry a hint line; click's usage errors point at --help
        assert "\nhint: " in err or "--help' for help." in err, err
    if not case.writes:
        assert _tree(work) == before, "a failed command changed the files"
    assert not [p for p in work.rglob("*.tmp")], "a temporary file was left behind"


# ---- inputs that must be accepted ---------------------------------------------------------

def test_integral_float_bitrate_reads_as_integers(dataset, tmp_path, capsys):
    """pandas writes an integer column with nulls as float64: whole values are accepted
    and give the same golden result as the integer column."""
    t = pq.read_table(dataset / "events.parquet")
    pq.write_table(t.set_column(t.schema.get_field_index("bitrate_kbps"), "bitrate_kbps",
                                t["bitrate_kbps"].cast(pa.float64())), tmp_path / "float.parquet")
    for name, src in (("int", dataset / "events.parquet"), ("float", tmp_path / "float.parquet")):
        code, _, err = _run(capsys, ["golden", "--events", str(src), "--out", str(tmp_path / f"{name}.out.parquet"),
                                     "-q"])
        assert code == 0, err
    assert pq.read_table(tmp_path / "float.out.parquet").equals(pq.read_table(tmp_path / "int.out.parquet"))


def test_parquet_files_storing_ts_with_different_types_are_read_alike(dataset, tmp_path, capsys):
    """The input contract allows ts as a timestamp or as epoch milliseconds; a folder
    mixing the two (one per file) gives the result of either alone."""
    t = pq.read_table(dataset / "events.parquet")
    half = t.num_rows // 2
    as_ms = t.slice(half).set_column(t.schema.get_field_index("ts"), "ts",
                                     t.slice(half)["ts"].cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()))
    (tmp_path / "mixed").mkdir()
    pq.write_table(t.slice(0, half), tmp_path / "mixed" / "a.parquet")
    pq.write_table(as_ms, tmp_path / "mixed" / "b.parquet")
    assert pq.read_schema(tmp_path / "mixed" / "a.parquet").field("ts").type != pa.int64()
    for name, src in (("one", dataset / "events.parquet"), ("mixed", tmp_path / "mixed")):
        code, _, err = _run(capsys, ["golden", "--events", str(src), "--out", str(tmp_path / f"{name}.parquet"),
                                     "--sessions-out", str(tmp_path / f"{name}.sessions.parquet"), "-q"])
        assert code == 0, err
    assert pq.read_table(tmp_path / "mixed.parquet").equals(pq.read_table(tmp_path / "one.parquet"))
    one, mixed = (pq.read_table(tmp_path / f"{n}.sessions.parquet") for n in ("one", "mixed"))
    assert mixed.sort_by("session_id").equals(one.sort_by("session_id"))


# ---- SIGINT: a real signal to a real process ----------------------------------------------

@pytest.fixture(scope="module")
def large(tmp_path_factory) -> Path:
    """Enough events (about 900k) that golden runs for a while after its progress line."""
    from auditor.synth.dataset import write_dataset

    out = tmp_path_factory.mktemp("large")
    write_dataset(out, sessions=30_000, seed=5, batch_sessions=False)
    return out


def _interrupt(argv: list[str], wait_for: str, cwd: Path) -> tuple[int, str]:
    """Start ``auditor ARGV``, wait until stderr shows ``wait_for`` (the work has begun),
    send SIGINT, and return (exit code, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *argv], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if wait_for in line:
            proc.send_signal(signal.SIGINT)
            break
    out, rest = proc.communicate(timeout=300)
    return proc.returncode, "".join(seen) + rest + out


def _previous(path: Path, text: str = "previous output\n") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


SIGINT_CASES = {
    "run": (lambda d, o: ["run", "--config", str(d / "audit.yaml"), "--out", str(o / "report")],
            "recomputing", "report/report.json"),
    "golden": (lambda d, o: ["golden", "--events", str(d / "events.parquet"), "--out", str(o / "golden.parquet")],
               "recomputing", "golden.parquet"),
    "quality": (lambda d, o: ["quality", "--events", str(d / "events.parquet"), "--out", str(o / "quality.json")],
                "[golden] reading", "quality.json"),
    "demo": (lambda d, o: ["demo", "--out", str(o / "demo")], "generating", "demo/data/events.parquet"),
    "generate": (lambda d, o: ["generate", "--sessions", "200000", "--out", str(o / "gen")], "generating",
                 "gen/events.parquet"),
}


@pytest.mark.parametrize("command", list(SIGINT_CASES))
def test_sigint_exits_130_and_keeps_previous_output(command, large, tmp_path):
    build, wait_for, output = SIGINT_CASES[command]
    previous = _previous(tmp_path / output)
    code, err = _interrupt(build(large, tmp_path), wait_for, tmp_path)
    assert code == 130, err
    assert err.rstrip().endswith("interrupted"), err
    assert "Traceback" not in err and "internal error" not in err
    assert (tmp_path / output).read_text() == previous
    assert not [p for p in tmp_path.rglob("*.tmp")], "a temporary file was left behind"


# ---- files follow the umask ---------------------------------------------------------------

def test_outputs_follow_the_umask(dataset, tmp_path):
    """Reports, tables and generated files get 0666 less the umask: 0644 under 022."""
    def umask_022():
        os.umask(0o022)
    commands = [["run", "--config", str(dataset / "audit.yaml"), "--out", str(tmp_path / "report"), "--junit", "-q"],
                ["golden", "--events", str(dataset / "events.parquet"), "--out", str(tmp_path / "g.parquet"), "-q"],
                ["quality", "--events", str(dataset / "events.parquet"), "--out", str(tmp_path / "q.json"), "-q"],
                ["generate", "--sessions", "20", "--out", str(tmp_path / "gen"), "-q"]]
    for argv in commands:
        done = subprocess.run([sys.executable, "-m", "auditor", *argv], capture_output=True, text=True,
                              preexec_fn=umask_022)
        assert done.returncode in (0, 1), done.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 12
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in files} == {p.name: "0o644" for p in files}


def test_atomic_writes_take_the_current_umask(tmp_path):
    from auditor.tables import write_text

    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


# ---- the same flags and defaults everywhere ------------------------------------------------

def test_quiet_silences_progress_on_every_command(dataset, tmp_path, capsys):
    commands = {
        "run": ["run", "--config", str(dataset / "audit.yaml"), "--out", str(tmp_path / "r")],
        "golden": ["golden", "--events", str(dataset / "events.parquet"), "--out", str(tmp_path / "g.parquet")],
        "quality": ["quality", "--events", str(dataset / "events.parquet")],
        "explain": ["explain", "--config", str(dataset / "audit.yaml"), "--pipeline", "batch", "--metric", "ebvs_rate"],
        "generate": ["generate", "--sessions", "20", "--out", str(tmp_path / "gen")],
        "demo": ["demo", "--sessions", "500", "--out", str(tmp_path / "demo")],
    }
    for name, argv in commands.items():
        code, _, err = _run(capsys, argv)
        assert code in (0, 1) and err, (name, err)       # progress by default
        code, _, err = _run(capsys, [*argv, "-q"])
        assert code in (0, 1) and err == "", (name, err)  # none with -q


def test_quality_and_run_share_the_builtin_judge_and_count_the_same_columns(dataset, tmp_path, capsys):
    code, _, err = _run(capsys, ["quality", "--events", str(dataset / "events.parquet"),
                                 "--out", str(tmp_path / "q.json"), "-q"])
    assert code in (0, 1), err
    alone = json.loads((tmp_path / "q.json").read_text())
    code, _, err = _run(capsys, ["run", "--config", str(dataset / "audit.yaml"), "--out", str(tmp_path / "r"), "-q"])
    assert code in (0, 1), err
    inside = json.loads((tmp_path / "r" / "report.json").read_text())["quality"]
    assert alone["engine"] == inside["engine"] == "auditor builtin"
    count = {r["name"]: r["denominator"] for r in alone["checks"]}["required_columns"]
    assert count == {r["name"]: r["denominator"] for r in inside["checks"]}["required_columns"] == 11


def test_generate_help_example_is_not_wrapped():
    from click.testing import CliRunner

    from auditor.cli import cli

    text = CliRunner().invoke(cli, ["generate", "--help"], terminal_width=80).output
    assert "  --fault 'batch/missing_first_frame:device=roku&player_version=5.2:0.4'\n" in text


# ---- hostile values in each report format ---------------------------------------------------

HOSTILE = "<script>alert(1)</script>"


def test_hostile_dimension_value_in_every_report_format(dataset, tmp_path, capsys):
    """A dimension value that is markup stays data: escaped in HTML, a string in JSON,
    well-formed XML in JUnit. (summary.md's escaping belongs to the report renderers.)"""
    import shutil

    work = tmp_path / "work"
    shutil.copytree(dataset, work)
    victim = pq.read_table(work / "events.parquet")["cdn"][0].as_py()
    hostile = lambda t: t.set_column(t.schema.get_field_index("cdn"), "cdn",  # noqa: E731
                                     pc.if_else(pc.equal(t["cdn"], victim), HOSTILE, t["cdn"]))
    for name in ("events.parquet", "streaming.parquet", "batch.parquet"):
        edit_table(work, name, hostile)
    edit_table(work, "batch.parquet", lambda t: t.set_column(   # batch counts one EBVS too many per row
        t.schema.get_field_index("ebvs"), "ebvs", pc.add(t["ebvs"], 1)))
    edit_yaml(work, lambda c: c["pipelines"]["batch"].pop("sessions"))
    code, _, err = _run(capsys, ["run", "--config", str(work / "audit.yaml"), "--out", str(work / "r"),
                                 "--junit", "-q"])
    assert code == 1, err
    report = json.loads((work / "r" / "report.json").read_text())
    assert [p["status"] for p in report["pipelines"]] == ["pass", "fail"]
    assert HOSTILE in json.dumps(report, ensure_ascii=False)
    html = (work / "r" / "report.html").read_text()
    assert HOSTILE not in html and "&lt;script&gt;" in html
    ET.parse(work / "r" / "junit.xml")


# ---- one classification of what escapes a command ------------------------------------------

def _duckdb_error(kind: str, text: str):
    import duckdb
    return getattr(duckdb, kind)(text)


@pytest.mark.parametrize("exc,code,fragment", [
    (KeyboardInterrupt(), 130, "interrupted"),
    (RuntimeError("Query interrupted"), 130, "interrupted"),
    (_duckdb_error("InterruptException", "INTERRUPT Error: Interrupted!"), 130, "interrupted"),
    (OSError(28, "No space left on device", "/reports/report.json"), 2, "/reports/report.json: No space left"),
    (PermissionError(13, "Permission denied", "/reports"), 2, "/reports: Permission denied"),
    (pa.ArrowIOError("Failed to open local file"), 2, "Failed to open local file"),
    (_duckdb_error("OutOfMemoryException", "Out of Memory Error: failed to allocate\nLINE 1: SELECT"), 2,
     "out of memory: Out of Memory Error: failed to allocate"),
    (_duckdb_error("IOException", "IO Error: No space left on device\nLINE 1: COPY"), 2, "No space left"),
    (_duckdb_error("BinderException", "Binder Error: column x not found"), 3, None),
    (KeyError("x"), 3, None),
], ids=["keyboard", "duckdb_runtime", "duckdb_interrupt", "disk_full", "permission", "arrow_io", "duckdb_oom",
        "duckdb_io", "duckdb_binder_is_a_bug", "bug"])
def test_classify_maps_what_escapes_onto_the_exit_codes(exc, code, fragment):
    from auditor.errors import ExitCode, classify

    error = classify(exc)
    if code == ExitCode.INTERNAL_ERROR:
        assert error is None
        return
    assert error.exit_code == code
    assert fragment in str(error) and "LINE 1" not in str(error)
    if code == 2:
        assert error.hint
