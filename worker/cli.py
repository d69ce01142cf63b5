"""The ``bookwire`` command. Run ``bookwire --help`` for the list.

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
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from config.errors import SettingsError
from config.settings import Settings, load_settings

if TYPE_CHECKING:
    from worker.runtime import Runtime


EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_START, EXIT_DATABASE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_FAILED: "the command ran and did not succeed (reason on stderr)",
    EXIT_CONFIG: "configuration problem or bad arguments (each with its fix); nothing started",
    EXIT_START: "a part could not start or stopped (named on stderr)",
    EXIT_DATABASE: "database unreachable or its schema is outdated (run `bookwire migrate`)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


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
        cmd_up,
        "Run everything on embedded defaults (broker, ingress, worker, beat, Flower, sandbox).",
    )
    add("ingress", cmd_ingress, "Serve the webhook ingress (uvicorn), /metrics on the ops port.")
    worker = add("worker", cmd_worker, "Run a Celery worker.")
    worker.add_argument("--concurrency", type=int, default=None)
    add("beat", cmd_beat, "Run Celery beat (relay and periodic sweeps).")
    add("flower", cmd_flower, "Run Flower (read-only task control) on the configured address.")
    sandbox = add("sandbox", cmd_sandbox, "Serve the sandbox platforms over HTTP.")
    sandbox.add_argument("--port", type=int, default=None)
    sandbox.add_argument("--data", type=Path, default=None, help="Directory for its database.")
    add("check-config", cmd_check_config, "Validate settings and the tenants file.")
    add("migrate", cmd_migrate, "Create or upgrade the database schema.")
    publish = add("publish", cmd_publish, "Record and publish a booking JSON file (generic).")
    publish.add_argument("file", type=Path)
    publish.add_argument("--tenant", default="demo")
    example = add("send-example", cmd_send_example, "POST a signed example booking to ingress.")
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
    status = add("status", cmd_status, "Show where a booking is.")
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
    backfill = add("backfill", cmd_backfill, "Fetch a source's bookings since a date (list API).")
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
    replay = add("replay", cmd_replay, "Replay failures, failed bookings or bad deliveries.")
    replay.add_argument("--failure", type=int, action="append", default=[], help="failure id")
    replay.add_argument("--delivery", type=int, action="append", default=[], help="inbox id")
    replay.add_argument("--booking", type=int, action="append", default=[], help="our booking id")
    replay.add_argument("--matching", action="store_true", help="every open failure matching:")
    _failure_filters(replay)
    replay.add_argument("--dry-run", action="store_true", help="list, do not replay")
    replay.add_argument("--limit", type=int, default=1000)
    failures = add("failures", cmd_failures, "List failure records (open ones unless --all).")
    _failure_filters(failures)
    shown = failures.add_mutually_exclusive_group()
    shown.add_argument("--open", dest="all", action="store_false", help="open only (default)")
    shown.add_argument("--all", dest="all", action="store_true", help="resolved ones too")
    failures.set_defaults(all=False)
    failures.add_argument("--json", action="store_true", help="one JSON object per line")
    failures.add_argument("--limit", type=int, default=200)
    reconcile = add(
        "reconcile",
        cmd_reconcile,
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
        cmd_erase,
        "Anonymise one person (by email) in bookings, intents, deliveries and attempts, and "
        "make the old bytes unreachable (VACUUM); bookings keep their keys and still sync.",
    )
    erase.add_argument("--email", required=True, help="the person's address (any case)")
    erase.add_argument("--tenant", help="tenant slug (default: every tenant)")
    erase.add_argument("--json", action="store_true", help="the counts as one JSON object")
    preview = add(
        "preview",
        cmd_preview,
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
        cmd_connect,
        "Register a source's webhook subscription for a tenant and check a delivery arrives.",
    )
    from worker.intake.connect import add_arguments as connect_arguments

    connect_arguments(connect)
    bench = add(
        "bench",
        cmd_bench,
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


def _runtime(*, schema: bool = True) -> Runtime:
    """This process's runtime from the environment; refuses (``SchemaNotCurrent``) to go on
    with a database whose schema is not at head unless ``schema`` is False."""
    from worker.process.demo import ensure_demo
    from worker.runtime import Runtime, install
    from worker.store.migrate import require_current

    settings = load_settings()
    ensure_demo(settings)
    rt = Runtime(settings)
    install(rt)
    if schema:
        require_current(rt.store)
    return rt


def _refuse_outdated() -> Settings:
    """Settings and tenants load, the schema is at head: then a long-running process may start
    (its children would fail the same way, with tracebacks, much later)."""
    rt = _runtime()
    rt.tenants  # noqa: B018 - fail at start on broken config
    rt.close()
    return rt.settings


def cmd_up(args: argparse.Namespace) -> int:
    from worker.process.up import run

    return run(load_settings())


def cmd_ingress(args: argparse.Namespace) -> int:
    from worker.ingress.serve import PortTaken, serve
    from worker.telemetry.logs import configure

    rt = _runtime()
    rt.tenants  # noqa: B018 - fail at start on broken config
    configure(json_lines=rt.settings.log_json, level=rt.settings.log_level)
    try:
        serve(rt)  # webhooks on the ingress port, /metrics on the ops port
    except PortTaken as exc:
        print(exc, file=sys.stderr)
        return EXIT_START
    return 0


def _celery(settings: Settings, *argv: str) -> int:
    from worker.process import celery_command  # logs our way from Celery's first line

    os.execv(sys.executable, [*celery_command.argv(settings), *argv])  # noqa: S606 - becomes celery
    return 0  # pragma: no cover


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.process import celery_command
    from worker.process.supervise import supervise

    settings = _refuse_outdated()
    concurrency = args.concurrency or settings.worker_concurrency
    celery_command.configure_logging(settings)  # the supervisor's own lines too
    celery = celery_command.argv(settings)  # logs our way from Celery's first line
    return supervise(
        [
            *celery,
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            settings.log_level,
            "--events",
            "--queues",
            "bookwire",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"worker-{os.getpid()}@%h",
        ],
        name="worker",
    )


def cmd_beat(args: argparse.Namespace) -> int:
    settings = _refuse_outdated()
    settings.home.mkdir(parents=True, exist_ok=True)
    return _celery(
        settings,
        "beat",
        "--loglevel",
        settings.log_level,
        "--schedule",
        str(settings.home.resolve() / "beat-schedule"),
    )


def cmd_flower(args: argparse.Namespace) -> int:
    settings = load_settings()
    loopback = settings.flower_host in ("127.0.0.1", "localhost", "::1")
    if not loopback and not (os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_AUTH")):
        # Flower shows every task to whoever opens it: never on a network without a login
        print("refusing to serve Flower beyond loopback without FLOWER_BASIC_AUTH", file=sys.stderr)
        return 2
    from worker.ops import flower  # read-only task control, ops' columns, our log lines

    flower.run(settings)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from sandbox.app import create_app, keys_from_env
    from worker.process.demo import sandbox_keys

    rt = _runtime(schema=False)
    settings = rt.settings
    data = args.data or settings.home / "sandbox"
    port = args.port or settings.sandbox_port
    # it trusts the keys of the tenants file this bookwire runs with (and any given by hand)
    keys = keys_from_env()
    for slug, values in sandbox_keys(rt.tenants, f"http://{settings.sandbox_host}:{port}").items():
        keys.setdefault(slug, set()).update(values)
    uvicorn.run(
        create_app(data, keys),
        host=settings.sandbox_host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    rt = _runtime(schema=False)
    tenants = rt.tenants
    print("settings: ok (environment and .env)")
    print(f"{rt.settings.resolved_tenants_file}: ok ({len(tenants.tenants)} tenants)")
    for tid, tenant in tenants.tenants.items():
        sources = ", ".join(sorted(tenant.sources)) or "none"
        print(f"  {tid}: platform {tenant.platform.kind}; sources {sources}")
        # every template rendered once, on the example booking (no one's real data)
        print(f"    example event: {_example_name(tid, tenant.brand.name_template)!r}")
    print(_alert_sink(rt.settings))
    return 0


def _alert_sink(settings: Settings) -> str:
    """Where alerts go, by host only (a Slack webhook's path is its secret)."""
    if not settings.alert_url:
        return "alerts: off (BOOKWIRE_ALERT_URL unset)"
    host = urlsplit(settings.alert_url).hostname
    signed = ", signed" if settings.alert_format == "webhook" else ""
    return (
        f"alerts: {settings.alert_format} to {host}{signed}, at most "
        f"{settings.alert_rate_limit} per {settings.alert_rate_window:g} s"
    )


def _example_name(tenant: str, template: str) -> str:
    from integrations.booking import BookingMessage
    from integrations.branding import render

    example = {**example_booking("example-1"), "tenant": tenant, "source": "generic"}
    return render(template, BookingMessage.model_validate(example))


def cmd_migrate(args: argparse.Namespace) -> int:
    from worker.store.migrate import migrate

    rt = _runtime(schema=False)
    print(migrate(rt.store))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from worker.intake.api import publish_booking

    rt = _runtime()
    receipt = publish_booking(rt, tenant=args.tenant, booking=args.file.read_bytes())
    print(
        json.dumps(
            {
                "inbox_id": receipt.delivery_id,
                "outcome": receipt.outcome,
                "field": receipt.field,
                "reason": receipt.reason,
            }
        )
    )
    return 0 if receipt.outcome != "quarantined" else 1


def example_booking(
    booking_id: str, status: str = "confirmed", ends_in: float | None = None
) -> dict[str, object]:
    """Tomorrow, 18:00–22:00 New York wall-clock time: the seed's Summer Launch Party; with
    ``ends_in`` (minutes), a party that started an hour ago and ends that soon (portal demo)."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    day = (datetime.now(zone) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, 18, 0, tzinfo=zone)
    end = start + timedelta(hours=4)
    if ends_in is not None:
        end = datetime.now(zone).replace(microsecond=0) + timedelta(minutes=ends_in)
        start = end - timedelta(hours=1)
    return {
        "booking_id": booking_id,
        "status": status,
        "title": "Summer Launch Party",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "timezone": "America/New_York",
        "location": "Convention Center, New York",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "attendees": [],
        "updated_at": datetime.now(UTC).isoformat(),
    }


def cmd_send_example(args: argparse.Namespace) -> int:
    import httpx

    from integrations.generic.webhook import sign
    from worker.process.demo import demo_secrets

    settings = load_settings()
    secrets_file = settings.resolved_secrets_file
    if secrets_file is None or not secrets_file.exists():
        print("no demo secrets found; run `bookwire up` first", file=sys.stderr)
        return 2
    secret = demo_secrets(secrets_file)["DEMO_GENERIC_SECRET"]
    booking_id = args.booking_id or f"example-{uuid.uuid4().hex[:8]}"
    body = json.dumps(example_booking(booking_id, args.status, args.ends_in))
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }
    url = f"http://{settings.ingress_host}:{settings.ingress_port}/webhooks/generic/{args.tenant}"
    response = httpx.post(url, content=body, headers=headers, timeout=10)
    print(f"POST {url} -> {response.status_code} {response.text}")
    print(f"then: bookwire status {booking_id}")
    return 0 if response.status_code < 300 else 1


def cmd_status(args: argparse.Namespace) -> int:
    from worker.ops.status import drift_lines, find_bookings, timeline

    rt = _runtime()
    if args.sources:
        from worker.intake.source_health import lines

        print("\n".join(lines(rt, now=datetime.now(UTC))) or "no source has an expectation")
        return 0
    if args.drift or args.booking is None:
        if args.booking is None and not args.drift:
            print("name a booking, or --drift", file=sys.stderr)
            return 2
        print("\n".join(drift_lines(rt)) or "no drift found by the last reconcile")
        return 0
    found = find_bookings(rt, args.booking)
    if not found:
        print(f"no booking matches {args.booking!r}", file=sys.stderr)
        return 1
    for booking in found:
        print(json.dumps(timeline(rt, booking.id), indent=2))
    return 0


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected YYYY-MM-DD") from None


def cmd_backfill(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from integrations.errors import BookwireError
    from worker.intake.backfill import backfill

    rt = _runtime()
    try:
        if args.until is not None and args.until <= args.since:
            raise LookupError("--until must be later than --since")
        report = backfill(
            rt, args.source, args.tenant, since=args.since, until=args.until, now=datetime.now(UTC)
        )
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    except BookwireError as exc:
        print(f"backfill stopped (run it again to resume): {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report)))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from worker.ops.replay import run_replay

    return run_replay(_runtime(), args)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from worker.records.failures import parse_since
    from worker.sync.reconcile import reconcile, render

    now = datetime.now(UTC)
    try:
        since = parse_since(args.since, now=now) if args.since else None
    except ValueError:
        print(f"--since: not a duration or an ISO time: {args.since!r}", file=sys.stderr)
        return EXIT_CONFIG
    rt = _runtime()
    try:
        report = reconcile(rt, now=now, tenant=args.tenant, since=since, repair=args.repair)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    if args.json:
        print(json.dumps(report.as_dict()))
    else:
        print("\n".join(render(report)))
    return EXIT_OK if report.clean else EXIT_FAILED


def cmd_failures(args: argparse.Namespace) -> int:
    from worker.ops.replay import list_failures

    return list_failures(_runtime(), args)


def cmd_erase(args: argparse.Namespace) -> int:
    from worker.privacy.erase import EMAIL, erase

    if not EMAIL.match(args.email.strip()):  # never echo the address back
        print("--email: not an email address", file=sys.stderr)
        return EXIT_CONFIG
    rt = _runtime()  # a tenant since removed from the tenants file may still be named
    done = erase(rt, args.email, tenant=args.tenant, now=datetime.now(UTC))
    counts = done.counts()
    if args.json:
        print(json.dumps({**counts, "compacted": done.compacted}))
    else:
        print("erased: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        if not done.compacted:
            print("the WAL could not be truncated (a reader was busy): run erase again")
    return EXIT_OK if done.compacted else EXIT_FAILED


def cmd_preview(args: argparse.Namespace) -> int:
    from worker.intake.preview import PreviewRefused, preview, render

    rt = _runtime(schema=False)  # reads no table: the database is never opened
    try:
        headers = json.loads(args.headers.read_text("utf-8")) if args.headers else {}
        if not isinstance(headers, dict):
            raise ValueError("--headers: expected a JSON object")
        result = preview(
            rt,
            tenant=args.tenant,
            source=args.source,
            body=args.file.read_bytes(),
            headers={str(k): str(v) for k, v in headers.items()},
            now=datetime.now(UTC),
            fetch=args.fetch,
        )
    except (PreviewRefused, OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(result.as_dict()) if args.json else "\n".join(render(result)))
    return EXIT_FAILED if result.error else EXIT_OK


def cmd_connect(args: argparse.Namespace) -> int:
    from worker.intake.connect import run

    return run(_runtime(schema=False), args)


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark is a program of its own (it imports the worker; the worker never imports
    it): this process becomes ``python -m bench`` with the same options."""
    os.execv(sys.executable, [sys.executable, "-m", "bench", *args.forward])  # noqa: S606


if __name__ == "__main__":
    sys.exit(main())
