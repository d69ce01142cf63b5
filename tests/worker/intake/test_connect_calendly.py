"""``bookwire connect calendly``: the subscription is registered on the Calendly stub for the
right events and URL with a signing key we generate, the key lands in the secrets file (never
on stdout), the tenants file names it, and a signed test delivery comes back verified.

The measured path (docs/connectors-calendly-calcom-pipedrive.md, "Onboarding a client"): from a
tenants file without Calendly to an event on the sandbox platform, timed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import ServerThread, free_port, gomry_events, wait_for
from tests.vendor_support import fixture
from worker.cli import main
from worker.ingress.app import create_app
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync import bookings as sync

TOKEN = "calendly-onboarding-token-0001"
SECRET_ENV = "ACME_CALENDLY_SIGNING_KEY"
WRITE = ("--write", "--wait", "30")


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    from tests.support import secrets_env

    path = tmp_path / "secrets.env"
    values = {**secrets_env(), "ACME_CALENDLY_TOKEN": TOKEN}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = settings_env(settings)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def calendly(sandbox: ServerThread) -> str:
    base = f"{sandbox.url}/calendly"
    httpx.post(f"{base}/_seed", json={"tokens": [TOKEN]}, timeout=10).raise_for_status()
    return base


def _subscriptions(calendly: str) -> list[dict[str, Any]]:
    from sandbox.vendors.calendly import ORGANIZATION

    response = httpx.get(
        f"{calendly}/webhook_subscriptions",
        params={"organization": ORGANIZATION, "scope": "organization"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["collection"])


@pytest.fixture
def ingress_port() -> int:
    return free_port()


def _connect(calendly: str, ingress_port: int, *extra: str) -> list[str]:
    return [
        "connect",
        "calendly",
        "--tenant",
        "acme",
        "--url",
        f"http://127.0.0.1:{ingress_port}",
        "--api-base-url",
        calendly,
        *extra,
    ]


def _serve_when_written(settings: Settings, port: int) -> Iterator[ServerThread]:
    """What the operator does after ``connect --write``: (re)start the ingress."""
    wait_for(lambda: "sources.calendly" in settings.resolved_tenants_file.read_text("utf-8"))
    rt = Runtime(settings)
    with ServerThread(create_app(rt), port=port) as server:
        yield server
    rt.close()


def test_connect_registers_stores_the_key_and_is_verified(
    runtime: Runtime,
    settings: Settings,
    env: dict[str, str],
    calendly: str,
    ingress_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(
            main(_connect(calendly, ingress_port, "--write", "--wait", "30"))
        )
    )
    thread.start()
    serving = _serve_when_written(settings, ingress_port)
    next(serving)
    thread.join(timeout=60)
    out = capsys.readouterr().out
    assert codes == [0], out

    [subscription] = _subscriptions(calendly)
    assert subscription["callback_url"] == f"http://127.0.0.1:{ingress_port}/webhooks/calendly/acme"
    assert subscription["events"] == ["invitee.created", "invitee.canceled"]
    assert subscription["scope"] == "user"
    assert "signing_key" not in subscription  # write-only at Calendly too
    secrets_text = settings.resolved_secrets_file.read_text("utf-8")  # type: ignore[union-attr]
    [line] = [line for line in secrets_text.splitlines() if line.startswith(SECRET_ENV + "=")]
    key = line.split("=", 1)[1]
    assert len(key) == 64
    assert key not in out  # the secret never reaches the terminal
    tenants_text = settings.resolved_tenants_file.read_text("utf-8")
    assert f'secrets = [{{ env = "{SECRET_ENV}" }}]' in tenants_text
    assert 'api_token = { env = "ACME_CALENDLY_TOKEN" }' in tenants_text
    assert key not in tenants_text
    assert "test delivery verified by the ingress" in out
    next(serving, None)


def test_zero_to_first_event_for_a_new_calendly_client(
    runtime: Runtime,
    settings: Settings,
    env: dict[str, str],
    sandbox: ServerThread,
    calendly: str,
    ingress_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tenants file without Calendly → connect → a real booking → an event on the platform."""
    started = time.monotonic()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(
            main(_connect(calendly, ingress_port, "--write", "--wait", "30"))
        )
    )
    thread.start()
    serving = _serve_when_written(settings, ingress_port)
    ingress = next(serving)
    thread.join(timeout=60)
    assert codes == [0], capsys.readouterr().out
    connected = time.monotonic() - started

    # someone books: Calendly delivers invitee.created, signed with the key connect chose
    envelope = json.loads(fixture("calendly", "invitee_created.json"))
    fired = httpx.post(
        f"{calendly}/_fire",
        json={"callback_url": f"{ingress.url}/webhooks/calendly/acme", "body": envelope},
        timeout=20,
    ).json()
    assert fired["status"] == 202, fired
    with runtime.store.transaction() as session:
        booking_ids = list(session.scalars(select(Booking.id)))
    assert len(booking_ids) == 1
    sync.sync_bookings(runtime, booking_ids, now=datetime.now(UTC))
    events = gomry_events(sandbox.url)
    elapsed = time.monotonic() - started
    assert len(events) == 1
    assert envelope["payload"]["scheduled_event"]["name"] in events[0]["name"]
    print(f"zero to first event: {elapsed:.1f}s (connect {connected:.1f}s)")
    assert elapsed < 300  # the target: under five minutes
    next(serving, None)


def test_dry_run_sends_and_writes_nothing(
    settings: Settings,
    env: dict[str, str],
    calendly: str,
    ingress_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = (
        settings.resolved_tenants_file.read_bytes(),
        settings.resolved_secrets_file.read_bytes(),  # type: ignore[union-attr]
    )
    assert main(_connect(calendly, ingress_port, "--dry-run")) == 0
    out = capsys.readouterr().out
    assert '"events": [\n      "invitee.created",\n      "invitee.canceled"\n    ]' in out
    assert "/webhooks/calendly/acme" in out
    assert _subscriptions(calendly) == []
    after = (
        settings.resolved_tenants_file.read_bytes(),
        settings.resolved_secrets_file.read_bytes(),  # type: ignore[union-attr]
    )
    assert after == before


def test_a_token_calendly_refuses_is_a_failure_that_writes_no_tenants_entry(
    settings: Settings,
    env: dict[str, str],
    calendly: str,
    ingress_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WRONG_TOKEN", "not-a-calendly-token")
    code = main(_connect(calendly, ingress_port, "--write", "--token-env", "WRONG_TOKEN"))
    assert code == 1
    assert "refused the subscription" in capsys.readouterr().err
    assert "sources.calendly" not in settings.resolved_tenants_file.read_text("utf-8")
    assert _subscriptions(calendly) == []


def test_a_missing_token_or_a_connected_source_is_refused_before_any_call(
    settings: Settings,
    env: dict[str, str],
    calendly: str,
    ingress_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(_connect(calendly, ingress_port, "--token-env", "NOWHERE")) == 2
    assert "NOWHERE" in capsys.readouterr().err
    assert (
        main(
            [
                *_connect(calendly, ingress_port)[:1],
                "generic",
                *_connect(calendly, ingress_port)[2:],
            ]
        )
        == 2
    )
    assert _subscriptions(calendly) == []
