"""The exit-code contract (docs/interface.md#exit-codes) through real processes: a bug
exits 3 with one line and no traceback (``--debug`` shows it), and never looks like
"findings found"; a user error stays 2 with ``--debug`` too. (130 on SIGINT, through a
real signal to a real process: tests/test_bad_inputs.py.)

A bug is injected by a wrapper script that replaces one library function with one that
raises, then calls ``auditor.cli.main`` exactly as ``python -m auditor`` does; nothing in
the product knows about it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import write_config

WRAPPER = '''\
import importlib, sys
module, attr = sys.argv[1].rsplit(".", 1)

def injected(*args, **kwargs):
    raise ZeroDivisionError("bug injected by the test")

setattr(importlib.import_module(module), attr, injected)
from auditor.cli import main
main(sys.argv[2:])
'''


def _auditor(tmp_path: Path, argv: list[str], inject: str | None = None) -> subprocess.CompletedProcess:
    if inject is None:
        command = [sys.executable, "-m", "auditor", *argv]
    else:
        wrapper = tmp_path / "inject_bug.py"
        wrapper.write_text(WRAPPER)
        command = [sys.executable, str(wrapper), inject, *argv]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)


@pytest.fixture
def audit_yaml(workdir, golden_of) -> Path:
    pq.write_table(golden_of(), workdir / "batch.parquet")
    return write_config(workdir, {"batch": {"path": "batch.parquet"}})


# a function in the middle of the audit, and one while the report set is rendered
BUGS = ["auditor.audit.reconcile_pipeline", "auditor.render.render_html"]


@pytest.mark.parametrize("inject", BUGS)
def test_a_bug_exits_3_with_one_line_and_keeps_previous_reports(audit_yaml, tmp_path, inject):
    out = audit_yaml.parent / "r"
    done = _auditor(tmp_path, ["run", "--config", str(audit_yaml), "--out", str(out)])
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    done = _auditor(tmp_path, ["run", "--config", str(audit_yaml), "--out", str(out)], inject)
    assert done.returncode == 3, done.stderr
    assert "internal error: ZeroDivisionError: bug injected by the test" in done.stderr
    assert "rerun with --debug" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""                                   # no summary: nothing looks like a result
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_bug_in_golden_exits_3(workdir, tmp_path):
    done = _auditor(tmp_path, ["golden", "--events", str(workdir / "events.parquet"),
                               "--out", str(tmp_path / "g.parquet"), "-q"],
                    "auditor.golden.calculator.compute_golden")
    assert done.returncode == 3 and "internal error: ZeroDivisionError" in done.stderr, done.stderr
    assert not (tmp_path / "g.parquet").exists()


@pytest.mark.parametrize("inject", BUGS)
def test_debug_shows_the_traceback_of_a_bug(audit_yaml, tmp_path, inject):
    done = _auditor(tmp_path, ["--debug", "run", "--config", str(audit_yaml), "--out",
                               str(tmp_path / "r"), "-q"], inject)
    assert done.returncode == 3, done.stderr
    assert "Traceback (most recent call last)" in done.stderr
    assert "in injected" in done.stderr and "ZeroDivisionError: bug injected by the test" in done.stderr
    assert "rerun with --debug" not in done.stderr


def test_debug_keeps_a_user_error_at_exit_2(workdir, tmp_path):
    (workdir / "audit.yaml").write_text("events: events.parquet\npipelines:\n  batch:\n    pth: x.parquet\n")
    plain = _auditor(tmp_path, ["run", "--config", str(workdir / "audit.yaml")])
    debug = _auditor(tmp_path, ["--debug", "run", "--config", str(workdir / "audit.yaml")])
    assert plain.returncode == debug.returncode == 2, (plain.stderr, debug.stderr)
    assert "pth" in plain.stderr and "Traceback" not in plain.stderr
    assert "Traceback" in debug.stderr and "internal error" not in debug.stderr


def test_a_sigint_a_library_sends_again_after_the_interrupt_does_not_kill_the_process():
    """pyarrow re-sends the SIGINT it caught from a worker thread; arriving after the command
    ended on the interrupt, Python's own handler raised KeyboardInterrupt while exiting and
    the process died by SIGINT instead of exiting 130 (seen once in CI). The CLI process
    keeps ignoring SIGINT once interrupted; an in-process caller gets its handler back."""
    import os
    import signal
    import time

    from auditor.cli import _sigint_noted

    previous = signal.getsignal(signal.SIGINT)
    try:
        with _sigint_noted(for_good=True) as interrupted:
            interrupted.append(True)          # the command ended on an interrupt
        os.kill(os.getpid(), signal.SIGINT)   # the late second delivery
        time.sleep(0.05)                      # would raise KeyboardInterrupt here
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    with _sigint_noted() as interrupted:
        interrupted.append(True)
    assert signal.getsignal(signal.SIGINT) is previous
