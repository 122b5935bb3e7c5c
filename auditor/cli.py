"""Command-line interface: each command parses options, calls one library
function, renders its result and returns an exit code (style.md habit 1)."""
from __future__ import annotations

import sys
import traceback

import click

from auditor import __version__
from auditor.errors import AuditorError, ExitCode


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
    """Entry point: runs the click group and maps every outcome to the exit-code contract."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="auditor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(ExitCode.USER_ERROR)
    except (click.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except AuditorError as exc:
        click.echo(f"error: {exc}", err=True)
        if debug:
            traceback.print_exc()
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: never let it look like "findings found"
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        if debug:
            traceback.print_exc()
        else:
            click.echo("This is a bug in auditor; rerun with --debug for the traceback.", err=True)
        sys.exit(ExitCode.INTERNAL_ERROR)
    sys.exit(int(rv or 0))
