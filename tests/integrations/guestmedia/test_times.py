"""Guest media across a clock change: instants go with their offset, so nothing shifts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest

from integrations.guestmedia.client import GuestMediaPlatform
from integrations.http import Attempt, recording
from tests.integrations.gomry.test_times import CORPUS
from tests.integrations.platforms import client, spec
from tests.support import GUESTMEDIA_KEY, ServerThread


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.mark.parametrize("case", CORPUS)
def test_an_event_across_a_clock_change_keeps_its_instants_and_length(
    sandbox: ServerThread, http: httpx.Client, case: str
) -> None:
    start, end, zone = CORPUS[case]
    media: GuestMediaPlatform = client(sandbox, "guestmedia", http)
    wanted = spec(f"dst-{case}", start=start, end=end, timezone=zone)
    linked = media.create_event(wanted, idempotency_key=wanted.reference)

    url = f"{sandbox.url}/guestmedia/v1/events/{linked.event_id}"
    stored = httpx.get(url, headers={"Authorization": f"Bearer {GUESTMEDIA_KEY}"}).json()["event"]
    began, ended = (_instant(stored[k]) for k in ("starts_at", "ends_at"))
    assert (began, ended) == (datetime.fromisoformat(start), datetime.fromisoformat(end))
    assert ended - began == timedelta(hours=1) and stored["timezone"] == zone

    seen: list[Attempt] = []
    with recording(seen.append):
        media.update_event(linked, wanted)
    assert [a.method for a in seen if a.method == "PATCH"] == []  # a repeat changes nothing


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
