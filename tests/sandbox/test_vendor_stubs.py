"""The vendor stubs answer like the vendors where our clients depend on it."""

from __future__ import annotations

import httpx
import pytest

from tests.support import ServerThread
from tests.vendor_support import ACUITY_KEY, ACUITY_USER, HUBSPOT_TOKEN, SQUARE_TOKEN, seed_records


@pytest.mark.parametrize(
    "path",
    [
        "/hubspot/crm/v3/objects/deals/1001",
        "/acuity/api/v1/appointments/5001",
        "/square/v2/bookings/sq7bk1",
    ],
)
def test_every_stub_refuses_missing_credentials(sandbox: ServerThread, path: str) -> None:
    for vendor in ("hubspot", "acuity", "square"):
        seed_records(sandbox.url, vendor)
    assert httpx.get(f"{sandbox.url}{path}").status_code == 401


def test_square_lists_at_most_31_days_per_query(sandbox: ServerThread) -> None:
    seed_records(sandbox.url, "square")
    headers = {"Authorization": f"Bearer {SQUARE_TOKEN}", "Square-Version": "2024-10-17"}
    url = f"{sandbox.url}/square/v2/bookings"
    wide = {"start_at_min": "2026-03-01T00:00:00Z", "start_at_max": "2026-04-02T00:00:00Z"}
    assert httpx.get(url, params=wide, headers=headers).status_code == 400
    default = httpx.get(url, params={"start_at_min": "2026-07-01T00:00:00Z"}, headers=headers)
    assert [b["id"] for b in default.json()["bookings"]] == ["sq7bk1", "sq7bk5"]  # to Aug 1


def test_hubspot_returns_requested_properties_as_strings_or_null(sandbox: ServerThread) -> None:
    seed_records(sandbox.url, "hubspot")
    deal = httpx.get(
        f"{sandbox.url}/hubspot/crm/v3/objects/deals/1001",
        params={"properties": "dealname,event_end", "associations": "contacts"},
        headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
    ).json()
    assert deal["properties"]["dealname"] == "Summer Launch Party"
    assert deal["properties"]["event_end"] is None and "amount" not in deal["properties"]
    assert [r["id"] for r in deal["associations"]["contacts"]["results"]][:2] == ["201", "202"]


def test_acuity_lists_only_active_appointments_unless_asked(sandbox: ServerThread) -> None:
    seed_records(sandbox.url, "acuity")
    url = f"{sandbox.url}/acuity/api/v1/appointments"
    active = httpx.get(url, auth=(ACUITY_USER, ACUITY_KEY)).json()
    everything = httpx.get(url, params={"showall": "true"}, auth=(ACUITY_USER, ACUITY_KEY)).json()
    assert 5005 not in {a["id"] for a in active} and 5005 in {a["id"] for a in everything}
