"""A Calendly reschedule is two deliveries in either order; both orders end as ONE booking,
moved, never cancelled (the real intake on SQLite, called directly)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from integrations.calendly import SOURCE
from integrations.connector import WebhookRequest
from tests.support import FIXTURES, ServerThread, secrets_env, tenants_toml
from worker.intake import record as intake
from worker.runtime import Runtime
from worker.store.models import Booking, BookingAlias

NOW = datetime(2026, 6, 10, 9, 31, tzinfo=UTC)
FIRST = "1f0a7a52-6d2b-4c1e-9b5e-2f7f3c1d9a10"
SECOND = "6e7f8a9b-0c1d-4e2f-8a3b-4c5d6e7f8a9b"
CALENDLY = """
[tenants.acme.sources.calendly]
secrets = [{ env = "TEST_CALENDLY_KEY" }]
"""


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(tenants_toml(sandbox.url, extra=CALENDLY), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    values = {**secrets_env(), "TEST_CALENDLY_KEY": "k"}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def receive(runtime: Runtime, name: str) -> intake.Receipt:
    body = (FIXTURES / "calendly" / name).read_bytes()
    return intake.receive(
        runtime,
        tenant="acme",
        source="calendly",
        request=WebhookRequest("POST", "x", {}, body),
        connector=SOURCE,
        options=runtime.source_options("acme", "calendly"),
        now=NOW,
    )


@pytest.mark.parametrize(
    "order",
    [
        ("invitee_canceled_rescheduled.json", "invitee_created_rescheduled.json"),
        ("invitee_created_rescheduled.json", "invitee_canceled_rescheduled.json"),
    ],
    ids=["canceled-first", "created-first"],
)
def test_both_orders_move_the_one_booking(runtime: Runtime, order: tuple[str, str]) -> None:
    assert receive(runtime, "invitee_created.json").outcome == "accepted"
    outcomes = [receive(runtime, name).outcome for name in order]
    assert sorted(outcomes) == ["accepted", "ignored"]
    with runtime.store.transaction() as session:
        [booking] = session.scalars(select(Booking).where(Booking.source == "calendly")).all()
        alias = session.scalar(
            select(BookingAlias.external_id).where(BookingAlias.alias_id == SECOND)
        )
        assert booking.external_id == FIRST and alias == FIRST
        assert booking.status == "rescheduled"
        assert booking.message["start"].startswith("2026-07-17T23:00:00")
