"""``bookwire reconcile`` against the sandbox platforms as real HTTP servers: drift planted by
hand on the platform is found by kind, repaired, and a second run finds nothing."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select

from config.settings import Settings
from tests.integrations.gatsby.conftest import OPTIONS, ORG, seed
from tests.integrations.platforms import cancel, faults, submit, tenant_toml
from tests.support import (
    GATSBY_TOKEN,
    GOMRY_KEY,
    GUESTMEDIA_KEY,
    ServerThread,
    free_port,
    gomry_events,
    tenants_toml,
)
from worker.ops import state_metrics
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import EventLink, Failure
from worker.sync import bookings as sync
from worker.sync import reconcile
from worker.sync.repair import UNLOCKED

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
GOMRY = {"X-API-KEY": GOMRY_KEY}
GATSBY = {"Authorization": f"Bearer {GATSBY_TOKEN}", "organizationSlug": ORG}
MEDIA = {"Authorization": f"Bearer {GUESTMEDIA_KEY}"}


@pytest.fixture
def platform_kind() -> str:
    """The tenant's platform: Gomry unless a test parametrizes it."""
    return "gomry"


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, platform_kind: str) -> Path:
    if platform_kind == "gatsby":
        seed(sandbox)  # 25 other events, then the parties of July 15 and 16: three pages
        text = tenant_toml(sandbox.url, "gatsby", options=OPTIONS, rate_limit="1000/1 second")
    elif platform_kind == "guestmedia":
        faults(sandbox, clock_offset_s=NOW.timestamp() - time.time())  # the provider's June
        text = tenant_toml(sandbox.url, "guestmedia")
    else:
        text = tenants_toml(sandbox.url)
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return path


def synced(runtime: Runtime, *booking_ids: str, **fields: Any) -> list[int]:
    ids = [submit(runtime, b, **fields) for b in booking_ids]
    results = sync.sync_bookings(runtime, ids, now=NOW)
    assert all(isinstance(r, sync.SyncResult) for r in results.values()), results
    return ids


def event_of(runtime: Runtime, booking_id: int) -> str:
    with runtime.store.transaction() as session:
        link = session.get(EventLink, booking_id)
        assert link is not None
        return link.event_id


def kinds(report: reconcile.Report) -> list[tuple[str, int | None]]:
    return sorted((str(d.kind), d.booking_id) for d in report.drift)


def run(runtime: Runtime, **kw: Any) -> reconcile.Report:
    return reconcile.reconcile(runtime, now=NOW, **kw)


def open_reconcile_failures(runtime: Runtime) -> dict[int | None, str]:
    with runtime.store.transaction() as session:
        rows = session.scalars(
            select(Failure).where(Failure.stage == "reconcile", Failure.resolved_at.is_(None))
        )
        return {f.booking_id: f.reason for f in rows}


def drift_gauge(runtime: Runtime, kind: str, platform: str = "gomry") -> float:
    text = state_metrics.collect(runtime, now=NOW).decode()
    line = f'bookwire_drift_items{{kind="{kind}",platform="{platform}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


# -- Gomry (the default test tenant) ---------------------------------------------------------


def test_after_a_normal_run_there_is_no_drift(runtime: Runtime, sandbox: ServerThread) -> None:
    ids = synced(runtime, "r-1", "r-2", "r-3")
    cancel(runtime, "r-3", "2026-06-02T00:00:00Z")
    sync.sync_bookings(runtime, ids, now=NOW)
    report = run(runtime)
    assert report.drift == [] and report.errors == {}
    assert (report.bookings, report.events) == (3, 3)
    assert report.clean


def test_gomry_drift_planted_by_hand_is_found_repaired_and_gone(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    moved, copied, reopened, deleted, fine = synced(
        runtime, "g-moved", "g-copied", "g-reopened", "g-deleted", "g-fine"
    )
    cancel(runtime, "g-reopened", "2026-06-02T00:00:00Z")
    sync.sync_bookings(runtime, [reopened], now=NOW)
    api = f"{sandbox.url}/api/v1/events"
    # by hand, in the dashboard: a new time, a copy, re-opened after the cancel, a deletion
    moved_event = event_of(runtime, moved)
    later = {"utc": "2026-07-15T20:00", "timezone": "America/New_York"}
    httpx.patch(f"{api}/{moved_event}", json={"start": later}, headers=GOMRY).raise_for_status()
    copy = httpx.post(f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, copied)}/copies")
    [copy_id] = copy.json()["ids"]
    body = {"registration_status": "open", "is_private": False}
    httpx.patch(f"{api}/{event_of(runtime, reopened)}", json=body, headers=GOMRY)
    deleted_event = event_of(runtime, deleted)
    httpx.delete(f"{sandbox.url}/_sandbox/gomry/events/{deleted_event}").raise_for_status()

    found = run(runtime)
    assert kinds(found) == [
        ("duplicate", copied),
        ("missing", deleted),
        ("open_but_cancelled", reopened),
        ("stale", moved),
    ]
    by_kind = {str(d.kind): d for d in found.drift}
    assert by_kind["duplicate"].event_id == copy_id
    assert by_kind["stale"].detail == "differs: start"
    assert by_kind["missing"].event_id == deleted_event
    assert set(open_reconcile_failures(runtime)) == {copied, deleted, reopened, moved}
    assert drift_gauge(runtime, "stale") == 1.0

    # a day later (ours and the platform's): the create's 24 h idempotency window is over
    later = datetime.now(UTC) + timedelta(hours=25)
    faults(sandbox, clock_offset_s=25 * 3600)
    repaired = reconcile.reconcile(runtime, now=later, repair=True)
    assert all(d.repaired for d in repaired.drift), [d.repair for d in repaired.drift]

    after = reconcile.reconcile(runtime, now=later)
    assert after.drift == [] and after.clean
    assert open_reconcile_failures(runtime) == {}
    assert drift_gauge(runtime, "stale") == 0.0
    events = {e["id"]: e for e in gomry_events(sandbox.url)}
    assert events[moved_event]["start"]["utc"] == "2026-07-15T22:00:00.000Z"
    assert events[copy_id]["registration_status"] == "closed"
    assert event_of(runtime, deleted) != deleted_event  # made again, through sync
    assert len(events) == 6 and fine


def test_a_deleted_event_inside_the_idempotency_window_is_not_claimed_repaired(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    [booking_id] = synced(runtime, "g-window")
    event_id = event_of(runtime, booking_id)
    httpx.delete(f"{sandbox.url}/_sandbox/gomry/events/{event_id}").raise_for_status()
    [item] = run(runtime, repair=True).drift
    assert (item.kind, item.repaired) == ("missing", False)
    assert item.repair is not None and item.repair.startswith("deferred")
    assert [str(d.kind) for d in run(runtime).drift] == ["missing"]  # still honest
    with runtime.store.transaction() as session:  # and the booking was left as it was
        link = session.get(EventLink, booking_id)
        assert link is not None and link.event_id == event_id


def test_orphans_are_reported_and_never_touched(runtime: Runtime, sandbox: ServerThread) -> None:
    [booking_id] = synced(runtime, "g-orphan")
    stranger = "Party\n\nBooking reference: bw-" + "0" * 32
    body = {"fields": {"description": stranger}}
    url = f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}/copies"
    [orphan] = httpx.post(url, json=body).json()["ids"]
    report = run(runtime, repair=True)
    assert kinds(report) == [("orphan", None)]
    assert report.drift[0].event_id == orphan and not report.clean
    event = next(e for e in gomry_events(sandbox.url) if e["id"] == orphan)
    assert event["registration_status"] == "open"


def test_listing_pages_through_more_events_than_one_page(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    [booking_id] = synced(runtime, "g-paged")
    fields = {"fields": {"description": "someone else's event"}}
    url = f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}/copies"
    httpx.post(url, json={"count": 230, **fields}).raise_for_status()
    url_last = f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}/copies"
    httpx.post(url_last).raise_for_status()  # a copy of ours on the second page
    report = run(runtime)
    assert report.events == 232
    assert kinds(report) == [("duplicate", booking_id)]


def test_since_leaves_out_events_that_ended_before_it(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    [booking_id] = synced(runtime, "g-since")
    httpx.delete(f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}")
    assert run(runtime, since=datetime(2026, 8, 1, tzinfo=UTC)).drift == []
    assert len(run(runtime, since=datetime(2026, 7, 1, tzinfo=UTC)).drift) == 1


def test_unknown_tenant_is_a_lookup_error(runtime: Runtime) -> None:
    with pytest.raises(LookupError):
        run(runtime, tenant="nobody")


def test_report_json_is_machine_readable_and_has_no_personal_data(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    [booking_id] = synced(runtime, "g-json")
    httpx.delete(f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}")
    text = json.dumps(run(runtime).as_dict())
    data = json.loads(text)
    assert data["counts"]["missing"] == 1 and data["clean"] is False
    assert data["drift"][0]["booking_id"] == booking_id
    assert "Zoë" not in text and "zoe@example.com" not in text
    assert "Zoë" not in open_reconcile_failures(runtime)[booking_id]


PLANTS = {  # what an operator may do by hand in Gomry's dashboard -> the drift it is
    "nothing": None,
    "moved": "stale",
    "renamed": "stale",
    "closed": "stale",
    "copied": "duplicate",
    "deleted": "missing",
    "reopened after cancel": "open_but_cancelled",
    "cancelled, left alone": None,
}


NEW_YORK = ZoneInfo("America/New_York")


def month_ahead() -> dict[str, str]:
    """A party a month from now (real time): never over while a test repairs it, so "closed"
    is still drift when the repair runs a day later."""
    day = (datetime.now(NEW_YORK) + timedelta(days=30)).date()
    start = datetime(day.year, day.month, day.day, 18, tzinfo=NEW_YORK)
    return {"start": start.isoformat(), "end": (start + timedelta(hours=4)).isoformat()}


def plant(
    runtime: Runtime, sandbox: ServerThread, booking_id: int, what: str, times: dict[str, str]
) -> None:
    event = f"{sandbox.url}/api/v1/events/{event_of(runtime, booking_id)}"
    hand = f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}"
    moved_end = datetime.fromisoformat(times["end"]) + timedelta(hours=1, minutes=30)
    changes = {
        "moved": {
            "end": {"utc": moved_end.strftime("%Y-%m-%dT%H:%M"), "timezone": "America/New_York"}
        },
        "renamed": {"name": "Renamed by hand"},
        "closed": {"registration_status": "closed"},
        "reopened after cancel": {"registration_status": "open", "is_private": False},
    }
    if what in changes:
        httpx.patch(event, json=changes[what], headers=GOMRY, timeout=10).raise_for_status()
    elif what == "copied":
        httpx.post(f"{hand}/copies", timeout=10).raise_for_status()
    elif what == "deleted":
        httpx.delete(hand, timeout=10).raise_for_status()


@examples(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plants=st.lists(st.sampled_from(sorted(PLANTS)), min_size=1, max_size=4))
def test_any_mix_of_hand_edits_is_found_exactly_and_repaired_to_zero(
    runtime: Runtime, sandbox: ServerThread, plants: list[str]
) -> None:
    faults(sandbox, clock_offset_s=0)
    times = month_ahead()
    names = [f"h-{uuid.uuid4().hex[:8]}" for _ in plants]
    ids = synced(runtime, *names, **times)
    for name, booking_id, what in zip(names, ids, plants, strict=True):
        if what.startswith(("reopened", "cancelled")):
            cancel(runtime, name, "2026-06-02T00:00:00Z")
            sync.sync_bookings(runtime, [booking_id], now=NOW)
        plant(runtime, sandbox, booking_id, what, times)
    expected = sorted((PLANTS[w], b) for w, b in zip(plants, ids, strict=True) if PLANTS[w])
    found = run(runtime)
    assert kinds(found) == expected, [(d.booking_id, d.detail) for d in found.drift]

    later = datetime.now(UTC) + timedelta(hours=25)
    faults(sandbox, clock_offset_s=25 * 3600)
    repaired = reconcile.reconcile(runtime, now=later, repair=True)
    assert all(d.repaired for d in repaired.drift), [d.repair for d in repaired.drift]
    assert reconcile.reconcile(runtime, now=later).drift == []
    assert open_reconcile_failures(runtime) == {}


# -- Gatsby: a booking is its people on someone else's event ---------------------------------


def person(name: str) -> dict[str, Any]:
    return {"customer": {"name": f"{name.title()} Guest", "email": f"{name}@example.com"}}


def guests(sandbox: ServerThread, event_id: str) -> dict[str, dict[str, Any]]:
    url = f"{sandbox.url}/gatsby/event/{event_id}/guestlist"
    listed = httpx.get(url, headers=GATSBY, timeout=10).json()["guests"]
    return {g["email"]: g for g in listed}


def set_rsvp(sandbox: ServerThread, event_id: str, person_id: str, rsvp: str) -> None:
    body = {"guests": [{"personId": person_id, "rsvpStatus": rsvp}]}
    url = f"{sandbox.url}/gatsby/event/{event_id}/guestlist"
    httpx.put(url, json=body, headers=GATSBY, timeout=10).raise_for_status()


@pytest.mark.parametrize("platform_kind", ["gatsby"])
def test_gatsby_people_off_their_event_on_after_cancel_or_on_the_old_event_are_repaired(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    sam = {"attendees": [{"name": "Sam Lee", "email": "sam@example.com"}]}
    [stays] = synced(runtime, "gt-stays", **person("ann"), **sam)
    [cancelled] = synced(runtime, "gt-cancelled", **person("bob"))
    [moved] = synced(runtime, "gt-moved", **person("cat"))
    cancel(runtime, "gt-cancelled", "2026-06-02T00:00:00Z")
    submit(
        runtime,
        "gt-moved",
        status="rescheduled",
        start="2026-07-16T18:00:00-04:00",
        end="2026-07-16T22:00:00-04:00",
        updated_at="2026-06-02T00:00:00Z",
        **person("cat"),
    )
    sync.sync_bookings(runtime, [cancelled, moved], now=NOW)
    assert run(runtime).drift == []  # 28 events over three pages of 10, nothing out of place

    before = guests(sandbox, "evt-0715")
    url = f"{sandbox.url}/gatsby/event/evt-0715/guestlist"  # by hand on Gatsby:
    gone = {"guests": [{"personId": before["sam@example.com"]["personId"]}]}
    httpx.request("DELETE", url, json=gone, headers=GATSBY).raise_for_status()  # Sam removed
    set_rsvp(sandbox, "evt-0715", before["bob@example.com"]["personId"], "Accepted")
    set_rsvp(sandbox, "evt-0715", before["cat@example.com"]["personId"], "Accepted")

    found = run(runtime)
    assert kinds(found) == [("missing", stays), ("open_but_cancelled", cancelled), ("stale", moved)]
    assert {d.event_id for d in found.drift} == {"evt-0715"}
    assert found.events == 28
    assert drift_gauge(runtime, "missing", "gatsby") == 1.0

    repaired = run(runtime, repair=True)
    assert all(d.repaired for d in repaired.drift), [d.repair for d in repaired.drift]
    assert run(runtime).drift == []
    after = guests(sandbox, "evt-0715")
    assert after["sam@example.com"]["rsvpStatus"] == "Accepted"
    assert after["bob@example.com"]["rsvpStatus"] == "Declined"
    assert after["cat@example.com"]["rsvpStatus"] == "Declined"
    assert guests(sandbox, "evt-0716")["cat@example.com"]["rsvpStatus"] == "Accepted"
    assert open_reconcile_failures(runtime) == {}


@pytest.mark.parametrize("platform_kind", ["gatsby"])
def test_gatsby_one_person_on_two_bookings_is_not_drift(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    """The same customer books the 15th and the 16th, then cancels the 15th: still going on
    the 16th is the other booking's, not drift of the cancelled one."""
    synced(runtime, "gt-a", **person("dee"))
    synced(
        runtime,
        "gt-b",
        start="2026-07-16T18:00:00-04:00",
        end="2026-07-16T22:00:00-04:00",
        **person("dee"),
    )
    first = submit(runtime, "gt-a", status="cancelled", updated_at="2026-06-02T00:00:00Z")
    sync.sync_bookings(runtime, [first], now=NOW)
    assert run(runtime).drift == []


@pytest.mark.parametrize("platform_kind", ["gatsby"])
def test_gatsby_a_booking_with_nobody_to_place_is_not_compared_as_an_event(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    """No email, no guest: the event is someone else's, so its name and times are not ours
    to call stale."""
    synced(runtime, "gt-nomail", customer={"name": "Walk In"})
    assert run(runtime).drift == []


# -- guest media: one branded event per booking ----------------------------------------------


def media(sandbox: ServerThread, method: str, path: str, **kw: Any) -> httpx.Response:
    url = f"{sandbox.url}/guestmedia/v1{path}"
    response = httpx.request(method, url, headers=MEDIA, timeout=10, **kw)
    response.raise_for_status()
    return response


@pytest.mark.parametrize("platform_kind", ["guestmedia"])
def test_guest_media_drift_planted_by_hand_is_found_repaired_and_gone(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    moved, copied, reopened, deleted = synced(
        runtime, "m-moved", "m-copied", "m-reopened", "m-deleted"
    )
    cancel(runtime, "m-reopened", "2026-06-02T00:00:00Z")
    sync.sync_bookings(runtime, [reopened], now=NOW)
    assert run(runtime).drift == []

    moved_event = event_of(runtime, moved)
    media(sandbox, "PATCH", f"/events/{moved_event}", json={"ends_at": "2026-07-16T03:00:00Z"})
    plant = f"{sandbox.url}/guestmedia/_sandbox/events"
    [copy_id] = httpx.post(f"{plant}/{event_of(runtime, copied)}/copies").json()["ids"]
    media(sandbox, "PATCH", f"/events/{event_of(runtime, reopened)}", json={"status": "scheduled"})
    deleted_event = event_of(runtime, deleted)
    httpx.delete(f"{plant}/{deleted_event}").raise_for_status()
    others = {"count": 120, "fields": {"external_reference": "crm-4711"}}  # not ours
    httpx.post(f"{plant}/{event_of(runtime, moved)}/copies", json=others).raise_for_status()

    found = run(runtime)
    assert found.events == 4 + 120  # two pages of 100
    assert kinds(found) == [
        ("duplicate", copied),
        ("missing", deleted),
        ("open_but_cancelled", reopened),
        ("stale", moved),
    ]
    assert next(d for d in found.drift if d.kind == "stale").detail == "differs: end"

    later = datetime.now(UTC) + timedelta(hours=25)  # past the create key's 24 h
    faults(sandbox, clock_offset_s=(NOW + timedelta(hours=25)).timestamp() - time.time())
    repaired = reconcile.reconcile(runtime, now=later, repair=True)
    assert all(d.repaired for d in repaired.drift), [d.repair for d in repaired.drift]
    assert reconcile.reconcile(runtime, now=later).drift == []
    assert media(sandbox, "GET", f"/events/{copy_id}").json()["event"]["status"] == "cancelled"
    assert event_of(runtime, deleted) != deleted_event
    ends = media(sandbox, "GET", f"/events/{moved_event}").json()["event"]["ends_at"]
    assert ends == "2026-07-16T02:00:00Z"


# -- PostgreSQL ------------------------------------------------------------------------------


def test_reconcile_on_postgresql_records_and_resolves_its_failure(
    settings: Settings, runtime: Runtime, sandbox: ServerThread, empty_database: str
) -> None:
    rt = Runtime(
        settings.model_copy(update={"database_url": empty_database}), tenants=runtime.tenants
    )
    migrate(rt.store)
    try:
        [booking_id] = synced(rt, "pg-copied")
        url = f"{sandbox.url}/_sandbox/gomry/events/{event_of(rt, booking_id)}/copies"
        httpx.post(url).raise_for_status()
        assert kinds(run(rt)) == [("duplicate", booking_id)]
        assert "duplicate" in open_reconcile_failures(rt)[booking_id]
        assert run(rt, repair=True).clean
        assert run(rt).drift == [] and open_reconcile_failures(rt) == {}
        with rt.store.transaction() as session:
            [failure] = session.scalars(select(Failure).where(Failure.stage == "reconcile"))
            assert failure.resolved_at is not None and failure.booking_id == booking_id
    finally:
        rt.close()


# -- when something else is down -------------------------------------------------------------


def test_a_platform_that_cannot_be_read_is_an_error_not_drift(
    runtime: Runtime, sandbox: ServerThread
) -> None:
    synced(runtime, "g-down")
    faults(sandbox, error_rate=1.0)
    report = run(runtime, repair=True)
    assert report.drift == [] and not report.clean
    assert report.errors["acme"].startswith("gomry: HTTP 5")
    assert open_reconcile_failures(runtime) == {}  # nothing was compared, nothing concluded


def test_repairs_need_the_booking_locks_and_say_so_when_the_broker_is_down(
    settings: Settings, runtime: Runtime, sandbox: ServerThread
) -> None:
    [booking_id] = synced(runtime, "g-nobroker")
    url = f"{sandbox.url}/_sandbox/gomry/events/{event_of(runtime, booking_id)}/copies"
    [copy_id] = httpx.post(url).json()["ids"]
    offline = settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    rt = Runtime(offline, tenants=runtime.tenants)
    try:
        [item] = reconcile.reconcile(rt, now=NOW, repair=True).drift
    finally:
        rt.close()
    assert (item.kind, item.repaired, item.repair) == ("duplicate", False, UNLOCKED)
    event = next(e for e in gomry_events(sandbox.url) if e["id"] == copy_id)
    assert event["registration_status"] == "open"  # untouched without the lock
