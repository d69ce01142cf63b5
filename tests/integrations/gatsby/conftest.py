"""Tenant ``acme`` on Gatsby: bookings join the event whose slug is ``party-<local date>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integrations.platforms import tenant_toml
from tests.support import ServerThread

ORG = "acme-events"
OPTIONS: dict[str, Any] = {
    "organization_slug": ORG,
    "slug_template": "party-{date}",
    "page_size": 10,
}
EVENTS = [
    *(
        {"eventId": f"evt-filler-{i:02d}", "name": f"Other {i}", "primarySlug": f"other-{i}"}
        for i in range(25)
    ),
    {
        "eventId": "evt-0715",
        "name": "Summer party, July 15",
        "primarySlug": "party-2026-07-15",
        "primaryDate": "2026-07-15T22:00:00Z",
        "timezone": "America/New_York",
    },
    {
        "eventId": "evt-0716",
        "name": "Summer party, July 16",
        "primarySlug": "party-2026-07-16",
        "primaryDate": "2026-07-16T22:00:00Z",
        "timezone": "America/New_York",
    },
    {
        "eventId": "evt-past",
        "name": "Long ago",
        "primarySlug": "party-2020-01-01",
        "primaryDate": "2020-01-01T20:00:00Z",
        "timezone": "UTC",
    },
]


def seed(sandbox: ServerThread, org: str = ORG) -> None:
    body = {"organizationSlug": org, "events": EVENTS}
    httpx.post(f"{sandbox.url}/gatsby/_seed", json=body, timeout=10).raise_for_status()


@pytest.fixture
def gatsby_options() -> dict[str, Any]:
    return OPTIONS


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, gatsby_options: dict[str, Any]) -> Path:
    seed(sandbox)
    path = tmp_path / "tenants.toml"
    text = tenant_toml(sandbox.url, "gatsby", options=gatsby_options, rate_limit="1000/1 second")
    path.write_text(text, encoding="utf-8")
    return path
