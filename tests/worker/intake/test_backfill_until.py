"""``bookwire backfill --until``: the window's other end, on the Calendly stub over loopback (its
``--since`` and ``--until`` bound the event's start), and the command's help naming all six
sources."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import settings_env
from tests.support import ServerThread
from tests.vendor_support import CALENDLY_TOKEN, write_secrets, write_tenants
from tests.worker.intake.test_source_health import missed_booking, sources
from worker.cli import main
from worker.intake.backfill import backfill
from worker.runtime import Runtime

TODAY = datetime.now(UTC).date()


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    return write_tenants(tmp_path, sandbox.url, *sources(sandbox.url))


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


def seed_two_events(sandbox: ServerThread) -> None:
    """One event in ten days, one in forty (different event and invitee URIs)."""
    near = missed_booking(
        starts=datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(days=10, hours=18)
    )
    far = missed_booking(
        starts=datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(days=40, hours=18)
    )
    [far_event] = far["events"]
    [(far_uuid, [far_invitee])] = far["invitees"].items()
    new_uuid = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
    far_event["uri"] = far_event["uri"].replace(far_uuid, new_uuid)
    far_invitee["uri"] = (
        far_invitee["uri"].replace(far_uuid, new_uuid).replace("5b9d1c3e", "7c8d9e0f")
    )
    far_invitee["event"] = far_event["uri"]
    body = {
        "tokens": [CALENDLY_TOKEN],
        "events": [*near["events"], far_event],
        "invitees": {**near["invitees"], new_uuid: [far_invitee]},
    }
    httpx.post(f"{sandbox.url}/calendly/_seed", json=body, timeout=5).raise_for_status()


def test_until_bounds_the_window(runtime: Runtime, sandbox: ServerThread) -> None:
    seed_two_events(sandbox)
    now = datetime.now(UTC)
    bounded = backfill(
        runtime, "calendly", "acme", since=TODAY, until=TODAY + timedelta(days=20), now=now
    )
    assert (bounded.fetched, bounded.accepted) == (1, 1)
    assert bounded.until == (TODAY + timedelta(days=20)).isoformat()
    rest = backfill(runtime, "calendly", "acme", since=TODAY, now=now)
    assert (rest.fetched, rest.accepted, rest.duplicates) == (2, 1, 1)  # the far one is new


def test_the_cli_takes_until_and_refuses_an_empty_window(
    runtime: Runtime,
    sandbox: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed_two_events(sandbox)
    for name, value in settings_env(runtime.settings).items():
        monkeypatch.setenv(name, value)
    since, until = TODAY.isoformat(), (TODAY + timedelta(days=20)).isoformat()
    assert main(["backfill", "calendly", "acme", "--since", since, "--until", until]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["until"], report["fetched"]) == (until, 1)
    assert main(["backfill", "calendly", "acme", "--since", until, "--until", since]) == 2
    assert "--until must be later" in capsys.readouterr().err


def test_backfill_help_names_all_six_sources(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["backfill", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for source in ("calendly", "calcom", "pipedrive", "hubspot", "acuity", "square"):
        assert source in shown
    assert "--until" in shown and "lost or deleted" in shown


def test_the_docs_name_all_six_sources() -> None:
    text = (Path(__file__).parents[3] / "docs" / "backfill.md").read_text(encoding="utf-8")
    for source in ("calendly", "calcom", "pipedrive", "hubspot", "acuity", "square"):
        assert f"| `{source}` |" in text
    assert "--until" in text and "expect_delivery_within" in text
