"""The ``bookwire`` command. Run ``bookwire --help`` for the list."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from config.errors import ConfigError
from config.settings import Settings

if TYPE_CHECKING:
    from worker.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print("configuration problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bookwire", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: object, help: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help)
        cmd.set_defaults(func=func)
        return cmd

    add(
        "up",
        cmd_up,
        "Run everything on embedded defaults (broker, ingress, worker, beat, Flower, sandbox).",
    )
    add("ingress", cmd_ingress, "Serve the webhook ingress (uvicorn).")
    worker = add("worker", cmd_worker, "Run a Celery worker.")
    worker.add_argument("--concurrency", type=int, default=None)
    add("beat", cmd_beat, "Run Celery beat (relay and periodic sweeps).")
    add("flower", cmd_flower, "Run Flower bound to the configured address.")
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
    status = add("status", cmd_status, "Show where a booking is.")
    status.add_argument("booking", help="the source's booking id, tenant:source:id, or #n")
    replay = add("replay", cmd_replay, "Replay a quarantined delivery or a failed booking.")
    replay.add_argument("--delivery", type=int, action="append", default=[])
    replay.add_argument("--booking", type=int, action="append", default=[])
    return parser


def _runtime() -> Runtime:
    from worker.demo import ensure_demo
    from worker.runtime import Runtime, install

    settings = Settings()
    ensure_demo(settings)
    rt = Runtime(settings)
    install(rt)
    return rt


def cmd_up(args: argparse.Namespace) -> int:
    from worker.up import run

    return run(Settings())


def cmd_ingress(args: argparse.Namespace) -> int:
    import uvicorn

    from worker.ingress import create_app

    rt = _runtime()
    rt.store.create_schema()
    uvicorn.run(
        create_app(rt),
        host=rt.settings.ingress_host,
        port=rt.settings.ingress_port,
        log_level="warning",
        access_log=False,
    )
    return 0


def _celery(*argv: str) -> int:
    command = [sys.executable, "-m", "celery", "-A", "worker.celery_app", *argv]
    os.execv(sys.executable, command)  # noqa: S606 - this process becomes celery
    return 0  # pragma: no cover


def cmd_worker(args: argparse.Namespace) -> int:
    settings = Settings()
    concurrency = args.concurrency or settings.worker_concurrency
    return _celery(
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
    )


def cmd_beat(args: argparse.Namespace) -> int:
    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return _celery(
        "beat",
        "--loglevel",
        settings.log_level,
        "--schedule",
        str(settings.home.resolve() / "beat-schedule"),
    )


def cmd_flower(args: argparse.Namespace) -> int:
    settings = Settings()
    return _celery(
        "flower",
        f"--address={settings.flower_host}",
        f"--port={settings.flower_port}",
        "--persistent=False",
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from sandbox.app import create_app

    settings = Settings()
    data = args.data or settings.home / "sandbox"
    uvicorn.run(
        create_app(data),
        host=settings.sandbox_host,
        port=args.port or settings.sandbox_port,
        log_level="warning",
        access_log=False,
    )
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    rt = _runtime()
    tenants = rt.tenants
    print(f"{rt.settings.resolved_tenants_file}: ok ({len(tenants.tenants)} tenants)")
    for tid, tenant in tenants.tenants.items():
        sources = ", ".join(sorted(tenant.sources)) or "none"
        print(f"  {tid}: platform {tenant.platform.kind}; sources {sources}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    rt = _runtime()
    rt.store.create_schema()
    print("schema up to date")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from worker.api import publish_booking

    rt = _runtime()
    rt.store.create_schema()
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


def example_booking(booking_id: str, status: str = "confirmed") -> dict[str, object]:
    """Tomorrow, 18:00–22:00 New York wall-clock time: the seed's Summer Launch Party."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("America/New_York")
    day = (datetime.now(zone) + timedelta(days=1)).date()
    start = datetime(day.year, day.month, day.day, 18, 0, tzinfo=zone)
    return {
        "booking_id": booking_id,
        "status": status,
        "title": "Summer Launch Party",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=4)).isoformat(),
        "timezone": "America/New_York",
        "location": "Convention Center, New York",
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
        "attendees": [],
        "updated_at": datetime.now(UTC).isoformat(),
    }


def cmd_send_example(args: argparse.Namespace) -> int:
    import httpx

    from integrations.generic.webhook import sign
    from worker.demo import demo_secrets

    settings = Settings()
    secrets_file = settings.resolved_secrets_file
    if secrets_file is None or not secrets_file.exists():
        print("no demo secrets found; run `bookwire up` first", file=sys.stderr)
        return 2
    secret = demo_secrets(secrets_file)["DEMO_GENERIC_SECRET"]
    booking_id = args.booking_id or f"example-{uuid.uuid4().hex[:8]}"
    body = json.dumps(example_booking(booking_id, args.status))
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
    from worker.status import find_bookings, timeline

    rt = _runtime()
    found = find_bookings(rt, args.booking)
    if not found:
        print(f"no booking matches {args.booking!r}", file=sys.stderr)
        return 1
    for booking in found:
        print(json.dumps(timeline(rt, booking.id), indent=2))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from worker.replay import replay_booking, replay_delivery

    rt = _runtime()
    now = datetime.now(UTC)
    for delivery_id in args.delivery:
        receipt = replay_delivery(rt, delivery_id, now=now)
        print(f"delivery {delivery_id}: {receipt.outcome} {receipt.reason or ''}".rstrip())
    for booking_id in args.booking:
        replay_booking(rt, booking_id, now=now)
        print(f"booking #{booking_id}: queued")
    time.sleep(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
