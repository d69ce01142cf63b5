"""The ``bookwire`` command. Run ``bookwire --help`` for the list.

Here: ``main`` and the argument parser. The commands themselves: ``worker.cli.processes``
(the ones that run a part of the system) and ``worker.cli.operate`` (the ones an operator runs
against it); ``worker.cli.common`` holds the exit codes and the runtime they share.

Exit codes (every command; ``bookwire <command> --help`` lists the ones it uses):

- 0: done.
- 1: the command ran and did not succeed (what and why on stderr).
- 2: configuration problem or wrong arguments: each problem as file or variable, field, what
  is wrong and the fix, one a line; nothing was started.
- 3: a part of the system could not start or stopped (``up``: named on stderr; ``ingress``:
  its webhook or ops port is taken).
- 4: the database is unreachable, or its schema is not the one this bookwire needs (run
  ``bookwire migrate``).
- 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from datetime import date
from pathlib import Path

from config.errors import SettingsError
from config.settings import load_settings
from worker.cli import operate, processes
from worker.cli.common import (
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_DATABASE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_START,
)


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    from worker.store.migrate import SchemaNotCurrent, SchemaUnknown

    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "bench":  # every option is the benchmark's own
        args.forward = argv[argv.index("bench") + 1 :]
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        load_settings()  # every command fails here, the same way, on a bad setting
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except (SchemaNotCurrent, SchemaUnknown) as exc:
        print(exc, file=sys.stderr)
        return EXIT_DATABASE
    except OperationalError as exc:
        # the driver's first line (host, port, reason); never the URL, which may hold a password
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        print(f"database unreachable or refused the statement: {reason}", file=sys.stderr)
        return EXIT_DATABASE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"bookwire {version('bookwire')}"
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        return "bookwire (not installed)"


def _exit_codes(*codes: int) -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {EXIT_CODES[code]}" for code in codes)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bookwire",
        description="Booking-to-event sync worker.",
        epilog=_exit_codes(*EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: object, help: str, add_help: bool = True) -> argparse.ArgumentParser:
        codes = EXIT_CODES_BY_COMMAND.get(name, (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DATABASE))
        cmd = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=_exit_codes(*codes, EXIT_INTERRUPTED),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=add_help,
        )
        cmd.set_defaults(func=func)
        return cmd

    add(
        "up",
        processes.cmd_up,
        "Run everything on embedded defaults (broker, ingress, worker, beat, Flower, sandbox).",
    )
    add(
        "ingress",
        processes.cmd_ingress,
        "Serve the webhook ingress (uvicorn), /metrics on the ops port.",
    )
    worker = add("worker", processes.cmd_worker, "Run a Celery worker.")
    worker.add_argument("--concurrency", type=int, default=None)
    add("beat", processes.cmd_beat, "Run Celery beat (relay and periodic sweeps).")
    add(
        "flower",
        processes.cmd_flower,
        "Run Flower (read-only task control) on the configured address.",
    )
    sandbox = add("sandbox", processes.cmd_sandbox, "Serve the sandbox platforms over HTTP.")
    sandbox.add_argument("--port", type=int, default=None)
    sandbox.add_argument("--data", type=Path, default=None, help="Directory for its database.")
    add("check-config", operate.cmd_check_config, "Validate settings and the tenants file.")
    add("migrate", operate.cmd_migrate, "Create or upgrade the database schema.")
    publish = add(
        "publish", operate.cmd_publish, "Record and publish a booking JSON file (generic)."
    )
    publish.add_argument("file", type=Path)
    publish.add_argument("--tenant", default="demo")
    example = add(
        "send-example", operate.cmd_send_example, "POST a signed example booking to ingress."
    )
    example.add_argument("--tenant", default="demo")
    example.add_argument("--booking-id", default=None)
    example.add_argument("--status", default="confirmed")
    example.add_argument(
        "--ends-in",
        type=float,
        default=None,
        metavar="MINUTES",
        help="an event that started an hour ago and ends this many minutes from now",
    )
    status = add("status", operate.cmd_status, "Show where a booking is.")
    status.add_argument(
        "booking", nargs="?", help="the source's booking id, tenant:source:id, or #n"
    )
    status.add_argument(
        "--drift", action="store_true", help="a line per booking the last reconcile found drifted"
    )
    status.add_argument(
        "--sources",
        action="store_true",
        help="a line per tenant/source: last delivery, expectation, subscription state",
    )
    backfill = add(
        "backfill", operate.cmd_backfill, "Fetch a source's bookings since a date (list API)."
    )
    backfill.add_argument(
        "source",
        help="source slug: calendly (invitees of events starting since), calcom (bookings "
        "starting since), pipedrive (deals won, lost or deleted, modified since), hubspot "
        "(deals in a booked or cancelled stage, modified since), acuity (appointments dated "
        "from), square (bookings starting from); see docs/backfill.md",
    )
    backfill.add_argument("tenant", help="tenant slug")
    backfill.add_argument("--since", required=True, type=_day, help="YYYY-MM-DD")
    backfill.add_argument(
        "--until",
        type=_day,
        help="YYYY-MM-DD (UTC midnight, exclusive): bounds what --since bounds; default: now",
    )
    replay = add(
        "replay", operate.cmd_replay, "Replay failures, failed bookings or bad deliveries."
    )
    replay.add_argument("--failure", type=int, action="append", default=[], help="failure id")
    replay.add_argument("--delivery", type=int, action="append", default=[], help="inbox id")
    replay.add_argument("--booking", type=int, action="append", default=[], help="our booking id")
    replay.add_argument("--matching", action="store_true", help="every open failure matching:")
    _failure_filters(replay)
    replay.add_argument("--dry-run", action="store_true", help="list, do not replay")
    replay.add_argument("--limit", type=int, default=1000)
    failures = add(
        "failures", operate.cmd_failures, "List failure records (open ones unless --all)."
    )
    _failure_filters(failures)
    shown = failures.add_mutually_exclusive_group()
    shown.add_argument("--open", dest="all", action="store_false", help="open only (default)")
    shown.add_argument("--all", dest="all", action="store_true", help="resolved ones too")
    failures.set_defaults(all=False)
    failures.add_argument("--json", action="store_true", help="one JSON object per line")
    failures.add_argument("--limit", type=int, default=200)
    reconcile = add(
        "reconcile",
        operate.cmd_reconcile,
        "Compare what the platforms hold with every booking; report (and --repair) drift.",
    )
    reconcile.add_argument("--tenant", help="tenant slug (default: every tenant)")
    reconcile.add_argument(
        "--since", help="only events that end after: 30m / 6h / 7d ago, or an ISO time"
    )
    reconcile.add_argument("--repair", action="store_true", help="converge the drift found")
    reconcile.add_argument("--json", action="store_true", help="the report as one JSON object")
    erase = add(
        "erase",
        operate.cmd_erase,
        "Anonymise one person (by email) in bookings, intents, deliveries and attempts, and "
        "make the old bytes unreachable (VACUUM); bookings keep their keys and still sync.",
    )
    erase.add_argument("--email", required=True, help="the person's address (any case)")
    erase.add_argument("--tenant", help="tenant slug (default: every tenant)")
    erase.add_argument("--json", action="store_true", help="the counts as one JSON object")
    preview = add(
        "preview",
        operate.cmd_preview,
        "Show the event a delivery file would create (no signature check, no side effect).",
    )
    preview.add_argument("file", type=Path, help="the raw delivery body")
    preview.add_argument("--tenant", required=True, help="tenant slug")
    preview.add_argument("--source", default="generic", help="source slug (default: generic)")
    preview.add_argument("--headers", type=Path, help="a JSON object of the delivery's headers")
    preview.add_argument(
        "--fetch", action="store_true", help="thin webhooks: allow the vendor API reads (GET)"
    )
    preview.add_argument("--json", action="store_true", help="the preview as one JSON object")
    connect = add(
        "connect",
        operate.cmd_connect,
        "Register a source's webhook subscription for a tenant and check a delivery arrives.",
    )
    from worker.intake.connect import add_arguments as connect_arguments

    connect_arguments(connect)
    bench = add(
        "bench",
        operate.cmd_bench,
        "Measure the pipeline on real processes (runs `python -m bench` with these options).",
        add_help=False,
    )
    bench.add_argument("-h", "--help", action=_BenchHelp, nargs=0, help="the benchmark's options")
    return parser


class _BenchHelp(argparse.Action):
    """``bookwire bench --help``: the benchmark's own options, then the exit codes."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        shown = subprocess.run(
            [sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, check=False
        )
        print(shown.stdout.rstrip(), end="\n\n")
        print(parser.epilog)
        parser.exit()


# the exit codes each command can end with (130, interrupted, is added to all)

EXIT_CODES_BY_COMMAND: dict[str, tuple[int, ...]] = {
    "up": (EXIT_OK, EXIT_CONFIG, EXIT_START, EXIT_DATABASE),
    "ingress": (EXIT_OK, EXIT_CONFIG, EXIT_START, EXIT_DATABASE),
    "worker": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DATABASE),
    "beat": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DATABASE),
    "flower": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG),
    "sandbox": (EXIT_OK, EXIT_CONFIG, EXIT_START),
    "check-config": (EXIT_OK, EXIT_CONFIG),
    "migrate": (EXIT_OK, EXIT_CONFIG, EXIT_DATABASE),
    "send-example": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG),
    "status": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_DATABASE),
    "bench": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG),
    "preview": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG),
    "connect": (EXIT_OK, EXIT_FAILED, EXIT_CONFIG),
}


def _failure_filters(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--tenant", help="tenant slug")
    cmd.add_argument("--source", help="source slug (generic, calendly, …)")
    cmd.add_argument("--stage", help="parse, fetch, sync, overdue, portal")
    cmd.add_argument("--since", help="last seen within 30m / 6h / 7d, or after an ISO time")


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None
