"""The commands an operator runs against a running system: configuration, schema, sending and
finding bookings, replays, reconcile, erasure, onboarding and the benchmark."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from config.settings import Settings, load_settings
from worker.cli.common import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, runtime


def cmd_check_config(args: argparse.Namespace) -> int:
    rt = runtime(schema=False)
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

    rt = runtime(schema=False)
    print(migrate(rt.store))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from worker.intake.api import publish_booking

    rt = runtime()
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

    rt = runtime()
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


def cmd_backfill(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from integrations.errors import BookwireError
    from worker.intake.backfill import backfill

    rt = runtime()
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

    return run_replay(runtime(), args)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from worker.records.failures import parse_since
    from worker.sync.reconcile import reconcile, render

    now = datetime.now(UTC)
    try:
        since = parse_since(args.since, now=now) if args.since else None
    except ValueError:
        print(f"--since: not a duration or an ISO time: {args.since!r}", file=sys.stderr)
        return EXIT_CONFIG
    rt = runtime()
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

    return list_failures(runtime(), args)


def cmd_erase(args: argparse.Namespace) -> int:
    from worker.privacy.erase import EMAIL, erase

    if not EMAIL.match(args.email.strip()):  # never echo the address back
        print("--email: not an email address", file=sys.stderr)
        return EXIT_CONFIG
    rt = runtime()  # a tenant since removed from the tenants file may still be named
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

    rt = runtime(schema=False)  # reads no table: the database is never opened
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

    return run(runtime(schema=False), args)


def cmd_bench(args: argparse.Namespace) -> int:
    """The benchmark is a program of its own (it imports the worker; the worker never imports
    it): this process becomes ``python -m bench`` with the same options."""
    os.execv(sys.executable, [sys.executable, "-m", "bench", *args.forward])  # noqa: S606
