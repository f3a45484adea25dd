"""minewatch: command-line entry point (console script `minewatch`).

Exit status (like clamscan):
  0  nothing found / success
  1  mining found (scan)
  2  error: bad input, unreadable or damaged capture, bad option
"""

import enum
import os
import sys

import click

from detector import __version__
from detector.errors import MinewatchError
from detector.startup import startup_seconds


class ExitCode(enum.IntEnum):
    OK = 0
    MINING_FOUND = 1
    ERROR = 2


def err(message):
    """One line for people, on stderr (stdout carries data only)."""
    click.echo(message, err=True)


def version_text():
    import numba
    import numpy
    jit = "off" if os.environ.get("NUMBA_DISABLE_JIT") == "1" else "on"
    return (f"minewatch {__version__} (numba {numba.__version__}, numpy {numpy.__version__}, "
            f"Python {sys.version.split()[0]}, JIT {jit})")


def print_version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit(0)


def positive_int(_ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"must be a positive integer, got {value}") from None
    return value


def non_negative(_ctx, param, value):
    if value is not None and value < 0:
        raise click.BadParameter(
            f"must be a number of seconds >= 0 (0 = never), got {value}") from None
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit status: 0 ok / no mining, 1 mining found, 2 error.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=print_version, help="Show versions and the JIT state, then exit.")
def group():
    """Find cryptocurrency-mining traffic in packet captures."""


def engine_options(f):
    """The options every command that runs the engine shares."""
    f = click.option("--batch-records", default=8192, show_default=True, hidden=True,
                     callback=positive_int, type=int)(f)
    f = click.option("--active-timeout", default=0.0, show_default=True, type=float,
                     callback=non_negative,
                     help="End a flow record after this many seconds (0 = never).")(f)
    f = click.option("--idle-timeout", default=300.0, show_default=True, type=float,
                     callback=non_negative,
                     help="End a flow after this many seconds without packets (0 = never).")(f)
    f = click.option("--max-flows", default=262144, show_default=True, type=int,
                     callback=positive_int,
                     help="Flow table capacity; when full the least recently seen flow "
                          "is ended early (bounds memory).")(f)
    return f


@group.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv", "table"]),
              default="jsonl", show_default=True, help="Output format.")
@click.option("-o", "--output", default="-", type=click.Path(allow_dash=True),
              help="Write records here instead of stdout.")
@click.option("--stats-json", type=click.Path(dir_okay=False),
              help="Also write the run's counters as JSON to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@engine_options
def flows(paths, fmt, output, stats_json, quiet, max_flows, idle_timeout, active_timeout,
          batch_records):
    """Print one record per flow of each capture (PATH '-' reads stdin).

    Records come in the order flows end (idle/active timeout, table full,
    end of capture); for the same input and options the output is identical.
    """
    from detector.flows_command import run_flows
    from detector.pipeline import EngineOptions

    options = EngineOptions(max_flows=max_flows, idle_timeout_s=idle_timeout,
                            active_timeout_s=active_timeout, batch_records=batch_records)
    status = run_flows(paths, fmt, output, options, quiet=quiet, stats_json=stats_json,
                       report=err)
    sys.exit(status)


@group.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "eve", "csv", "table"]),
              default="jsonl", show_default=True,
              help="jsonl: a line when a flow is recognised and one when it ends (the last "
                   "line per flow_id wins); eve/csv/table: one record per hit at its end.")
@click.option("-o", "--output", default="-", type=click.Path(allow_dash=True),
              help="Write hits here instead of stdout.")
@click.option("--signatures", "signatures_dir", type=click.Path(exists=True, file_okay=False),
              help="Directory of signature YAML files (default: the bundled ones).")
@click.option("--inspect-bytes", default=4096, show_default=True, type=int,
              callback=positive_int,
              help="Payload bytes per flow direction run through the signatures; memory is "
                   "--max-flows x 2 x this.")
@click.option("--stats-json", type=click.Path(dir_okay=False),
              help="Also write the run's counters as JSON to this file.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@engine_options
def scan(paths, fmt, output, signatures_dir, inspect_bytes, stats_json, quiet, max_flows,
         idle_timeout, active_timeout, batch_records):
    """Find mining flows in captures (PATH '-' reads stdin).

    Exit status: 0 no mining, 1 mining found, 2 error (like clamscan).
    """
    from detector.pipeline import EngineOptions
    from detector.scan_command import run_scan

    options = EngineOptions(max_flows=max_flows, idle_timeout_s=idle_timeout,
                            active_timeout_s=active_timeout, batch_records=batch_records)
    sys.exit(run_scan(paths, fmt, output, options, k_bytes=inspect_bytes,
                      signatures_dir=signatures_dir, quiet=quiet, stats_json=stats_json,
                      report=err))


@group.group()
def signatures():
    """Work with the signature files."""


@signatures.command("check")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False))
def signatures_check(directory):
    """Validate signature YAML files (default: the bundled ones)."""
    from detector.rules import check_signatures
    from detector.scan_command import DEFAULT_SIGNATURES

    problems = check_signatures(directory or DEFAULT_SIGNATURES)
    for p in problems:
        err(f"error: {p}")
    if not problems:
        click.echo(f"{directory or DEFAULT_SIGNATURES}: signatures ok")
    sys.exit(ExitCode.ERROR if problems else ExitCode.OK)


@group.command("eval")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="table for people, json for machines (docs/eval.md).")
@click.option("--signatures", "signatures_dir", type=click.Path(exists=True, file_okay=False),
              help="Directory of signature YAML files (default: the bundled ones).")
@click.option("--explain", is_flag=True,
              help="Also print what each encrypted-mining signal (SNI, DNS, proxy, pool "
                   "address, JA4, timing, cross-flow) contributes to mining_tls recall.")
def eval_command(dirs, fmt, signatures_dir, explain):
    """Score detection on labelled folders (LABELS.tsv + <file>.truth.json).

    Prints recall of the truth's mining flows, false positives on benign and
    crypto_p2p files, extra hits and field agreement, per file and in total.
    Exit status: 0 recall 100% (mining_tls: >= 95%) and no false positive,
    1 otherwise, 2 error.
    """
    from detector.eval import run_eval

    sys.exit(run_eval(dirs, fmt, signatures_dir=signatures_dir, explain=explain))


@group.group()
def pools():
    """Work with the pool list (signatures/pools.yaml)."""


@pools.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=False))
@click.option("--source", default=None, help="Where the list comes from (default: its file "
              "name); stored with every entry it adds.")
@click.option("--pools", "pools_path", type=click.Path(dir_okay=False), default=None,
              help="Pools file to merge into (default: the bundled signatures/pools.yaml).")
@click.option("--date", default=None, help="Date stored with the new entries (default: today).")
@click.option("-o", "--output", default=None, type=click.Path(allow_dash=True),
              help="Write the merged file here (default: over the pools file; '-' stdout).")
def pools_import(file, source, pools_path, date, output):
    """Merge a plain domain list or a hosts file into a pools file (no network access).

    The result is sorted and deduplicated: the same inputs give the same file.
    """
    from pathlib import Path

    from detector.pools import DEFAULT_POOLS, import_list

    target = Path(pools_path) if pools_path else DEFAULT_POOLS
    text, added, skipped = import_list(target, file, source or Path(file).name, date)
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output or target).write_text(text, encoding="utf-8")
    err(f"{file}: {added} domains added, {skipped} invalid names skipped")


def main():
    """Console-script entry: never a traceback for the user."""
    startup_seconds()  # fix the reference point before heavy imports
    try:
        rc = group.main(prog_name="minewatch", standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else ExitCode.OK)
    except click.exceptions.Abort:
        err("error: interrupted")
        sys.exit(ExitCode.ERROR)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitCode.ERROR)
    except MinewatchError as e:
        err(f"error: {e}")
        sys.exit(ExitCode.ERROR)
    except BrokenPipeError:
        # the reader went away (| head): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    except KeyboardInterrupt:
        err("error: interrupted")
        sys.exit(ExitCode.ERROR)
    except Exception as e:  # last resort: one line, not a traceback
        err(f"error: internal error: {type(e).__name__}: {e} "
            "(please report this with the command line)")
        sys.exit(ExitCode.ERROR)


if __name__ == "__main__":
    main()
