"""minewatch: command-line entry point (console script `minewatch`).

Exit status (like clamscan):
  0  nothing found / success
  1  mining found (scan)
  2  error: bad input, unreadable or damaged capture, bad option
"""

import dataclasses
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


def engine_settings(max_flows, idle_timeout, active_timeout, batch_records):
    """EngineOptions from the shared engine options (imported here: `--help` stays fast)."""
    from detector.pipeline import EngineOptions

    size = {} if batch_records is None else {"batch_records": batch_records}
    return EngineOptions(max_flows=max_flows, idle_timeout_s=idle_timeout,
                         active_timeout_s=active_timeout, **size)


def engine_options(f):
    """The options every command that runs the engine shares."""
    f = click.option("--batch-records", default=None, hidden=True, callback=positive_int,
                     type=int, help="Records per engine batch (default: the engine's).")(f)
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

    options = engine_settings(max_flows, idle_timeout, active_timeout, batch_records)
    status = run_flows(paths, fmt, output, options, quiet=quiet, stats_json=stats_json,
                       report=err)
    sys.exit(status)


def ledger_fold_options(f):
    """Where final hits are folded: the ledger, the subscriber map, this sensor's name."""
    f = click.option("--sensor", default="", help="Name of this sensor, kept with each flow "
                                                  "in the ledger.")(f)
    f = click.option("--subscribers", "subscribers_path", type=click.Path(dir_okay=False),
                     help="Subscriber map (YAML or CSV, docs/subscribers.md); default: one "
                          "subscriber per client IP.")(f)
    f = click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False),
                     help="Fold the hits into this ledger (SQLite; created if missing).")(f)
    return f


def report_options(f):
    """How ledger records are computed: tariff, currency, clock, thresholds."""
    f = click.option("--ledger-config", type=click.Path(exists=True, dir_okay=False),
                     help="Classification thresholds (default: signatures/ledger.yaml).")(f)
    f = click.option("--now", help="Clock for 'active' (ISO 8601 UTC; default: the newest "
                                   "last_seen in the ledger).")(f)
    f = click.option("--currency", default="CNY", show_default=True,
                     help="Currency of --tariff.")(f)
    f = click.option("--tariff", default=0.30, show_default=True, type=float,
                     callback=non_negative_price,
                     help="Price per kWh for the cost column (0.30 CNY/kWh: China's "
                          "differential tariff for mining).")(f)
    return f


def non_negative_price(_ctx, param, value):
    if value < 0:
        raise click.BadParameter(f"must be >= 0, got {value}") from None
    return value


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
@ledger_fold_options
@click.option("--show-ledger", is_flag=True,
              help="After the hits, print the ledger (needs --ledger).")
@report_options
@click.option("--threads", type=click.IntRange(1, 2), default=None,
              help="2: a second thread reads the capture and folds each batch into the flow "
                   "table while detection inspects the batch before; 1: all in one thread. "
                   "The output is the same. [default: 2 with more than one CPU, else 1]")
@engine_options
def scan(paths, fmt, output, signatures_dir, inspect_bytes, stats_json, quiet, ledger_path,
         subscribers_path, sensor, show_ledger, tariff, currency, now, ledger_config, threads,
         max_flows, idle_timeout, active_timeout, batch_records):
    """Find mining flows in captures (PATH '-' reads stdin).

    Exit status: 0 no mining, 1 mining found, 2 error (like clamscan).
    """
    from detector.scan_command import LedgerSink, run_scan

    if show_ledger and not ledger_path:
        raise click.UsageError("--show-ledger needs --ledger FILE")
    from detector.pipeline import default_threads

    options = dataclasses.replace(
        engine_settings(max_flows, idle_timeout, active_timeout, batch_records),
        threads=threads or default_threads())
    ledger = LedgerSink.open(ledger_path, subscribers_path, sensor) if ledger_path else None
    status = run_scan(paths, fmt, output, options, k_bytes=inspect_bytes,
                      signatures_dir=signatures_dir, quiet=quiet, stats_json=stats_json,
                      report=err, ledger=ledger)
    if show_ledger:
        from detector.ledger_command import run_show
        sys.stdout.flush()
        click.echo("")
        run_show(ledger_path, "table", "hashrate", tariff=tariff, currency=currency, now=now,
                 config_path=ledger_config)
    sys.exit(status)


@group.command()
@click.option("-i", "--interface", required=True,
              help="Network interface to capture on (a mirror/SPAN port or TAP).")
@click.option("--workers", default=1, show_default=True, type=int, callback=positive_int,
              help="Worker processes; the kernel spreads flows over them (fanout by flow "
                   "hash), each with its own flow table.")
@click.option("--bpf", "bpf", metavar="FILTER",
              help="Capture only what this tcpdump-syntax filter accepts (e.g. 'tcp').")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "eve"]), default="jsonl",
              show_default=True,
              help="jsonl: a line when a flow is recognised and one when it ends; "
                   "eve: one record per hit at its end.")
@click.option("-o", "--output", default="-", type=click.Path(allow_dash=True, dir_okay=False),
              help="Append hits to this file (reopened on SIGHUP) instead of stdout.")
@click.option("--status-interval", default=10.0, show_default=True, type=float,
              callback=non_negative,
              help="Seconds between status lines on stderr (0 = none).")
@click.option("--metrics-port", type=click.IntRange(1, 65535),
              help="Serve Prometheus metrics on this TCP port (all addresses), at /metrics.")
@click.option("--ring-block-size", default=1 << 20, show_default=True, type=int,
              callback=positive_int,
              help="Bytes per ring block (a multiple of the page size); the largest "
                   "frame must fit in one.")
@click.option("--ring-blocks", default=64, show_default=True, type=int, callback=positive_int,
              help="Ring blocks per worker; ring memory is workers x blocks x block size.")
@click.option("--ring-block-timeout", default=100, show_default=True, type=int,
              callback=positive_int,
              help="Milliseconds after which the kernel hands over a partly filled block.")
@click.option("--signatures", "signatures_dir", type=click.Path(exists=True, file_okay=False),
              help="Directory of signature YAML files, pools.yaml and timing.yaml "
                   "(default: the bundled ones); reloaded on SIGHUP.")
@click.option("--inspect-bytes", default=4096, show_default=True, type=int,
              callback=positive_int,
              help="Payload bytes per flow direction run through the signatures.")
@click.option("-q", "--quiet", is_flag=True, help="No start and summary lines on stderr.")
@ledger_fold_options
@engine_options
def live(interface, workers, bpf, fmt, output, status_interval, metrics_port, ring_block_size,
         ring_blocks, ring_block_timeout, signatures_dir, inspect_bytes, quiet, ledger_path,
         subscribers_path, sensor, max_flows, idle_timeout, active_timeout, batch_records):
    """Find mining flows on a network interface until SIGTERM/SIGINT (Linux, CAP_NET_RAW).

    Hits are written as soon as a flow is recognised and again when it ends, as
    `minewatch scan` writes them. SIGHUP reopens the output file and reloads the
    signatures and pool lists. With --ledger, final hits are folded into the ledger every few
    seconds and at the stop. Exit status: 0 after a clean stop, 2 error. See
    docs/live.md.
    """
    from detector.live.settings import LiveSettings
    from detector.live.supervisor import run_live
    from detector.scan_command import LedgerSink

    engine = engine_settings(max_flows, idle_timeout, active_timeout, batch_records)
    settings = LiveSettings(
        interface=interface, workers=workers, bpf=bpf, output=output, fmt=fmt,
        status_interval_s=status_interval, metrics_port=metrics_port,
        ring_block_size=ring_block_size, ring_blocks=ring_blocks,
        ring_block_timeout_ms=ring_block_timeout, signatures_dir=signatures_dir,
        k_bytes=inspect_bytes, engine=engine, quiet=quiet)
    ledger = LedgerSink.open(ledger_path, subscribers_path, sensor) if ledger_path else None
    try:
        status = run_live(settings, report=err, final_hits_sink=ledger.fold if ledger else None)
    finally:
        if ledger is not None:
            ledger.close()
    sys.exit(status)


@group.group()
def signatures():
    """Work with the signature files."""


@signatures.command("check")
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False))
def signatures_check(directory):
    """Validate signature YAML files (default: the bundled ones)."""
    from detector.bundled import SOURCE_TREE
    from detector.rules import check_signatures
    from detector.scan_command import DEFAULT_SIGNATURES

    # an installed copy of the bundled signatures comes without the example captures,
    # which live in the source tree's pcaps/
    examples = directory is not None or DEFAULT_SIGNATURES == SOURCE_TREE
    problems = check_signatures(directory or DEFAULT_SIGNATURES, examples)
    for p in problems:
        err(f"error: {p}")
    if not problems:
        click.echo(f"{directory or DEFAULT_SIGNATURES}: signatures ok"
                   + ("" if examples else " (example captures not installed: not checked)"))
    sys.exit(ExitCode.ERROR if problems else ExitCode.OK)


@group.group()
def ledger():
    """The per-subscriber ledger: reports, history and merging (docs/ledger.md)."""


def ledger_option(f):
    return click.option("--ledger", "ledger_path", default="minewatch.db", show_default=True,
                        type=click.Path(dir_okay=False), help="The ledger file.")(f)


@ledger.command("show")
@ledger_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="json: one record per line.")
@click.option("--sort", type=click.Choice(["hashrate", "power", "last-seen"]),
              default="hashrate", show_default=True)
@click.option("--active", is_flag=True, help="Only subscribers active within the window.")
@click.option("-o", "--output", default="-", type=click.Path(allow_dash=True))
@report_options
def ledger_show(ledger_path, fmt, sort, active, output, tariff, currency, now, ledger_config):
    """One record per subscriber: devices, pools, hashrate, power, energy, cost."""
    from detector.ledger_command import run_show

    sys.exit(run_show(ledger_path, fmt, sort, active, output, tariff=tariff, currency=currency,
                      now=now, config_path=ledger_config))


@ledger.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The merged ledger (created, or folded into if it exists).")
def ledger_merge(inputs, output):
    """Fold ledgers from many files, workers or sensors into one (order does not matter)."""
    from detector.ledger_command import run_merge

    sys.exit(run_merge(inputs, output))


@ledger.command("snapshot")
@ledger_option
@click.option("--date", "taken_on", help="Date of the snapshot (YYYY-MM-DD; default today, UTC).")
@report_options
def ledger_snapshot(ledger_path, taken_on, tariff, currency, now, ledger_config):
    """Store today's records as a dated snapshot (e.g. weekly from cron); never rewritten."""
    from detector.ledger_command import run_snapshot

    n = run_snapshot(ledger_path, taken_on, tariff=tariff, currency=currency, now=now,
                     config_path=ledger_config)
    err(f"{ledger_path}: snapshot of {n} subscribers stored")
    sys.exit(ExitCode.OK)


@ledger.command("diff")
@ledger_option
@click.option("--since", required=True, help="Compare with the last snapshot on or before "
                                             "this date (YYYY-MM-DD).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("-o", "--output", default="-", type=click.Path(allow_dash=True))
@report_options
def ledger_diff(ledger_path, since, fmt, output, tariff, currency, now, ledger_config):
    """New, stopped and growing subscribers since a snapshot."""
    from detector.ledger_command import run_diff

    taken_on, changes = run_diff(ledger_path, since, fmt, output, tariff=tariff,
                                 currency=currency, now=now, config_path=ledger_config)
    err(f"{ledger_path}: {len(changes)} changes since the snapshot of {taken_on}")
    sys.exit(ExitCode.OK)


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
