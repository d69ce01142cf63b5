"""Test helpers: real servers on loopback, signed deliveries, tenants files. No mocks."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn

from integrations.generic.webhook import sign

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
GOMRY_KEY = "test-gomry-key"
GATSBY_TOKEN = "test-gatsby-token"
GUESTMEDIA_KEY = "test-guestmedia-key"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"bookwire-test-secret-0123456789ab").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"bookwire-old-secret-0123456789abc").decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """A real uvicorn server on 127.0.0.1 in a background thread."""

    def __init__(
        self, app: Any, port: int | None = None, *, lifespan: Literal["on", "off"] = "off"
    ) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="error",
            access_log=False,
            lifespan=lifespan,  # "on": the app's start-up and shutdown run, as when served
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def tenants_toml(sandbox_url: str, *, tenant: str = "acme", extra: str = "") -> str:
    return f"""
[tenants.{tenant}]
display_name = "Acme Booths"

[tenants.{tenant}.platform]
kind = "gomry"
base_url = "{sandbox_url}/api/v1"
credentials = {{ api_key = {{ env = "TEST_GOMRY_KEY" }} }}

[tenants.{tenant}.sources.generic]
secrets = [{{ env = "TEST_WEBHOOK_SECRET" }}, {{ env = "TEST_OLD_SECRET" }}]

[tenants.{tenant}.brand]
name_template = "{{customer.name}} – {{title}}"
{extra}
"""


def secrets_env() -> dict[str, str]:
    return {
        "TEST_GOMRY_KEY": GOMRY_KEY,
        "TEST_GATSBY_TOKEN": GATSBY_TOKEN,
        "TEST_GUESTMEDIA_KEY": GUESTMEDIA_KEY,
        "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TEST_OLD_SECRET": OLD_SECRET,
    }


def booking(booking_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A generic booking body: the seed's party, 18:00–22:00 New York time."""
    body: dict[str, Any] = {
        "booking_id": booking_id or f"bk-{uuid.uuid4().hex[:10]}",
        "status": "confirmed",
        "title": "Summer Launch Party",
        "start": "2026-07-15T18:00:00-04:00",
        "end": "2026-07-15T22:00:00-04:00",
        "timezone": "America/New_York",
        "location": "Convention Center, New York",
        "customer": {"name": "Zoë Ångström", "email": "zoe@example.com"},
        "attendees": [],
        "updated_at": "2026-06-01T10:00:00+00:00",
    }
    body.update(changes)
    return body


def signed(
    body: bytes | dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    msg_id: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": sign(secret, msg_id, at, raw.decode()),
    }
    return raw, headers


def wait_for(predicate: Callable[[], Any], *, timeout: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def gomry_events(sandbox_url: str, key: str = GOMRY_KEY) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    page = 1
    while True:
        response = httpx.get(
            f"{sandbox_url}/api/v1/events",
            params={"page": page, "page_size": 200},
            headers={"X-API-KEY": key},
            timeout=10,
        )
        response.raise_for_status()
        payload = response.json()
        events += payload["data"]
        if page >= payload["pagination"]["total_pages"]:
            return events
        page += 1


class Process:
    """A bookwire process (worker, beat, ingress) run as a real child process."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.argv, self.env, self.log = argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO
        )
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def bookwire_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKWIRE_")}
    env.update(settings_env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_argv(concurrency: int = 4) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--queues",
        "bookwire",
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"w{uuid.uuid4().hex[:6]}@%h",
    ]


def beat_argv(home: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(home / "beat-schedule"),
    ]


@contextmanager
def running(*processes: Process) -> Iterator[None]:
    for proc in processes:
        proc.start()
    try:
        yield
    finally:
        for proc in processes:
            proc.stop()


def later(minutes: int) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)
