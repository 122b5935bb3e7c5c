"""The history store under a kill and under concurrent writers, on DuckDB and on PostgreSQL.

Real `auditor run` processes: one is SIGKILLed inside its history transaction (the
test hook AUDITOR_TEST_HISTORY_PAUSE makes it stop there), or two write at once.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import write_config
from test_history import T14, T15, W14, faulty

PG_DSN = os.environ.get("AUDITOR_TEST_PG_DSN")


@pytest.fixture
def setup(workdir, golden_of):
    pq.write_table(faulty(golden_of(), windows=(W14,)), workdir / "batch.parquet")
    write_config(workdir, {"batch": {"path": "batch.parquet", "metrics": ["attempts"]}})
    return workdir


def start(workdir: Path, store: str, window: str, *, pause: Path | None = None,
          seconds: float = 60) -> subprocess.Popen:
    env = {**os.environ}
    env.pop("AUDITOR_TEST_HISTORY_PAUSE", None)
    if pause is not None:
        env["AUDITOR_TEST_HISTORY_PAUSE"] = str(pause)
        env["AUDITOR_TEST_HISTORY_PAUSE_SECONDS"] = str(seconds)
    return subprocess.Popen([sys.executable, "-m", "auditor", "run", "--config", str(workdir / "audit.yaml"),
                             "-q", "--history", store, "--window", window],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended before its history write: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the run never reached its history write"
        time.sleep(0.05)


def snapshot(store: str) -> dict:
    from auditor.history import open_store
    with open_store(store) as s:
        return {table: sorted(tuple(sorted(r.items())) for r in s.query(f"SELECT * FROM {table}"))
                for table in ("runs", "window_results", "findings", "quality_counts", "acks")}


def kill_mid_write(workdir: Path, store: str) -> None:
    first = start(workdir, store, T14)
    assert first.wait(timeout=300) == 1, first.stderr.read()
    before = snapshot(store)
    assert len(before["runs"]) == 1
    flag = workdir / f"paused-{uuid.uuid4().hex}"
    victim = start(workdir, store, T14, pause=flag)     # a rerun: it would supersede the first
    wait_for(flag, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=60)
    assert snapshot(store) == before                    # exactly the previous run, nothing marked
    after = start(workdir, store, T15)                  # and the store still takes runs
    assert after.wait(timeout=300) == 0, after.stderr.read()
    assert len(snapshot(store)["runs"]) == 2


def two_at_once(workdir: Path, store: str) -> None:
    flag = workdir / f"paused-{uuid.uuid4().hex}"
    holder = start(workdir, store, T14, pause=flag, seconds=3)
    wait_for(flag, holder)                               # the first holds the store, mid-write
    other = start(workdir, store, T15)
    assert holder.wait(timeout=300) == 1, holder.stderr.read()
    assert other.wait(timeout=300) == 0, other.stderr.read()
    snap = snapshot(store)
    assert len(snap["runs"]) == 2
    assert sorted(dict(r)["window_ms"] for r in snap["window_results"]) == [W14, W14 + 3_600_000]


def test_sigkill_during_the_history_write_leaves_the_previous_runs(setup):
    kill_mid_write(setup, str(setup / "h.duckdb"))


def test_sigkill_at_random_moments_leaves_whole_runs_only(setup):
    """Killed anywhere (reading, auditing, writing): the store holds whole runs, never part of one."""
    store = str(setup / "h.duckdb")
    rng = random.Random(13)
    for _ in range(3):
        proc = start(setup, store, T14)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if not os.path.exists(store):
            continue
        snap = snapshot(store)
        runs = {dict(r)["run_id"] for r in snap["runs"]}
        assert {dict(r)["run_id"] for r in snap["window_results"]} == runs
        assert len(snap["window_results"]) == len(runs)   # one window x one metric per run


@pytest.mark.history_concurrency
def test_two_concurrent_runs_on_one_duckdb_store_both_land(setup):
    two_at_once(setup, str(setup / "h.duckdb"))


@pytest.fixture
def pg_store():
    """A fresh PostgreSQL database per test (dropped after)."""
    from auditor import sqlengine
    name = f"auditor_hist_{uuid.uuid4().hex[:10]}"
    admin = sqlengine.create_engine(PG_DSN, where="test", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlengine.text(f'CREATE DATABASE "{name}"'))
    base, _, _ = PG_DSN.rpartition("/")
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(sqlengine.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_DSN, reason="AUDITOR_TEST_PG_DSN is not set: no PostgreSQL server "
                                       "(.ci/run installs and starts one)")
def test_sigkill_during_the_history_write_on_postgresql(setup, pg_store):
    kill_mid_write(setup, pg_store)


@pytest.mark.postgres
@pytest.mark.history_concurrency
@pytest.mark.skipif(not PG_DSN, reason="AUDITOR_TEST_PG_DSN is not set: no PostgreSQL server "
                                       "(.ci/run installs and starts one)")
def test_two_concurrent_runs_on_postgresql_both_land(setup, pg_store):
    two_at_once(setup, pg_store)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_DSN, reason="AUDITOR_TEST_PG_DSN is not set: no PostgreSQL server "
                                       "(.ci/run installs and starts one)")
def test_history_and_ack_on_postgresql(setup, pg_store, capsys):
    from conftest import run_cli
    code, _, err = run_cli(capsys, "run", "--config", str(setup / "audit.yaml"), "-q", "--history", pg_store,
                           "--window", T14)
    assert code == 1, err
    code, _, err = run_cli(capsys, "ack", "batch/attempts/cdn=fastly/higher", "--reason", "known",
                           "--history", pg_store)
    assert code == 0, err
    code, _, err = run_cli(capsys, "run", "--config", str(setup / "audit.yaml"), "-q", "--history", pg_store,
                           "--window", T14)
    assert code == 0 and "acknowledged" in err
    code, out, _ = run_cli(capsys, "history", "--history", pg_store, "--at", "2025-04-01")
    assert code == 0 and "batch/attempts/cdn=fastly/higher" in out and "(holds): known" in out
