"""``bookwire status <id>`` finds a booking by any id its source gave it, including the new id a
reschedule issued (Calendly's new invitee, Cal.com's new uid)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from integrations import calcom, calendly
from integrations.connector import WebhookRequest
from tests.support import FIXTURES, ServerThread, secrets_env, tenants_toml
from worker.intake import record as intake
from worker.runtime import Runtime

Cli = Callable[..., tuple[int, str]]
NOW = datetime(2026, 6, 10, 9, 31, tzinfo=UTC)
SOURCES = """
[tenants.acme.sources.calendly]
secrets = [{ env = "TEST_CALENDLY_KEY" }]

[tenants.acme.sources.calcom]
secrets = [{ env = "TEST_CALCOM_SECRET" }]
"""
CONNECTORS = {"calendly": calendly.SOURCE, "calcom": calcom.SOURCE}
# (source, first delivery, reschedule deliveries, the original id, the id the reschedule issued)
RESCHEDULES = {
    "calendly": (
        "invitee_created.json",
        ("invitee_canceled_rescheduled.json", "invitee_created_rescheduled.json"),
        "1f0a7a52-6d2b-4c1e-9b5e-2f7f3c1d9a10",
        "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b",
    ),
    "calcom": (
        "booking_created.json",
        ("booking_rescheduled.json",),
        "bK7pQ2xV9mN4rT6yW1zA3c",
        "mX3nB8vC1zL5kJ7hG2fD4s",
    ),
}


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(tenants_toml(sandbox.url, extra=SOURCES), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    values = {**secrets_env(), "TEST_CALENDLY_KEY": "k", "TEST_CALCOM_SECRET": "k"}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def receive(runtime: Runtime, source: str, name: str) -> intake.Receipt:
    return intake.receive(
        runtime,
        tenant="acme",
        source=source,
        request=WebhookRequest("POST", "x", {}, (FIXTURES / source / name).read_bytes()),
        connector=CONNECTORS[source],
        options=runtime.source_options("acme", source),
        now=NOW,
    )


@pytest.mark.parametrize("source", RESCHEDULES)
def test_status_by_the_id_a_reschedule_issued_shows_the_one_booking(
    runtime: Runtime, cli: Cli, source: str
) -> None:
    first, moves, original, issued = RESCHEDULES[source]
    receipts = [receive(runtime, source, name) for name in (first, *moves)]
    carried = [r.delivery_id for r in receipts if r.outcome == "accepted"]
    assert len(carried) == 2  # the first booking and its move (Calendly's cancel is ignored)

    shown = {}
    for ref in (original, issued, f"acme:{source}:{issued}"):
        code, out = cli("status", ref)
        assert code == 0, ref
        shown[ref] = json.loads(out)  # one booking: one JSON document
    assert len({s["booking"] for s in shown.values()}) == 1
    booking = shown[issued]
    assert booking["key"] == f"acme:{source}:{original}"
    assert booking["also_known_as"] == [issued]
    assert booking["status"] == "rescheduled"
    assert [d["inbox_id"] for d in booking["deliveries"]] == carried


def test_an_alias_in_another_source_or_tenant_is_not_followed(runtime: Runtime, cli: Cli) -> None:
    first, moves, _original, issued = RESCHEDULES["calendly"]
    receive(runtime, "calendly", first)
    for name in moves:
        receive(runtime, "calendly", name)
    assert cli("status", f"acme:calcom:{issued}")[0] == 1
    assert cli("status", f"other:calendly:{issued}")[0] == 1
    assert cli("status", "no-such-id")[0] == 1
