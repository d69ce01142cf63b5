"""``bookwire preview``: the event a delivery would create, shown without any side effect.

Each test runs the real command over a real tenants file and the sandbox over loopback, then
checks that no database was created or written and that the platform holds nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import FIXTURES, ServerThread, gomry_events
from tests.vendor_support import (
    fixture,
    seed_records,
    vendor_secrets_env,
    vendor_tenants_toml,
)
from worker.cli import main
from worker.intake.preview import preview
from worker.runtime import Runtime

NOW = datetime(2026, 6, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(vendor_tenants_toml(sandbox.url), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in vendor_secrets_env().items()), "utf-8")
    return path


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def preview_runtime(tmp_path: Path, sandbox: ServerThread, secrets_file: Path) -> Iterator[Runtime]:
    """Every source of the fuzz, on one tenant (calendly, calcom and pipedrive added)."""
    from tests.integrations.pipedrive.keys import OPTIONS

    path = tmp_path / "fuzz-tenants.toml"
    pipedrive = "\n".join(f"{k} = {json.dumps(v)}" for k, v in OPTIONS.items())
    extra = f"""
[tenants.acme.sources.calendly]
secrets = [{{ env = "TEST_WEBHOOK_SECRET" }}]

[tenants.acme.sources.calcom]
secrets = [{{ env = "TEST_WEBHOOK_SECRET" }}]

[tenants.acme.sources.pipedrive]
secrets = [{{ env = "TEST_PIPEDRIVE_PAIR" }}]

[tenants.acme.sources.pipedrive.options]
{pipedrive}
"""
    path.write_text(vendor_tenants_toml(sandbox.url) + extra, encoding="utf-8")
    with_pair = secrets_file.read_text("utf-8") + "TEST_PIPEDRIVE_PAIR=user:password\n"
    secrets_file.write_text(with_pair, encoding="utf-8")
    rt = Runtime(
        Settings(
            home=tmp_path / "var",
            database_url=f"sqlite:///{tmp_path / 'never.db'}",
            tenants_file=path,
            secrets_file=secrets_file,
        )
    )
    yield rt
    rt.close()
    assert not (tmp_path / "never.db").exists()


def _database(settings: Settings) -> Path:
    return Path(settings.resolved_database_url.removeprefix("sqlite:///"))


def _preview(
    capsys: pytest.CaptureFixture[str], file: Path, *args: str
) -> tuple[int, dict[str, Any]]:
    code = main(["preview", str(file), "--tenant", "acme", "--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_a_generic_booking_shows_its_event_times_branding_and_gomry_request(
    env: Settings, sandbox: ServerThread, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = _preview(capsys, FIXTURES / "generic" / "confirmed.json")
    assert code == 0
    assert any("signature NOT checked" in note for note in shown["notes"])
    [booking] = shown["bookings"]
    assert booking["name"] == "Ada Lovelace – Summer Launch Party"
    assert booking["zone"] == "America/New_York"
    assert booking["start_local"] == "2026-07-15T18:00:00-04:00"
    assert booking["start_utc"] == "2026-07-15T22:00:00+00:00"
    assert booking["end_utc"] == "2026-07-16T02:00:00+00:00"
    assert booking["location"] == "Convention Center, New York"
    assert booking["branding"]["name_template"] == "{customer.name} – {title}"
    request = booking["platform"]
    assert (request["kind"], request["method"], request["path"]) == ("gomry", "POST", "/events")
    assert request["body"]["name"] == booking["name"]
    assert request["body"]["start"]["timezone"] == "America/New_York"
    assert booking["reference"] in request["body"]["description"]
    # no side effect: no database, nothing on the platform
    assert not _database(env).exists()
    assert gomry_events(sandbox.url) == []


def test_the_terminal_view_names_every_part(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["preview", str(FIXTURES / "generic" / "confirmed.json"), "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    for label in ("event name:", "start:", "end:", "zone:", "location:", "branding:"):
        assert label in out
    assert "gomry request: POST /events" in out


def test_a_delivery_that_does_not_parse_shows_the_field_and_exits_1(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = _preview(capsys, FIXTURES / "generic" / "missing_end.json")
    assert code == 1
    assert shown["error"]["field"] == "(body)"
    assert "end" in shown["error"]["reason"]
    assert shown["bookings"] == []
    assert not _database(env).exists()


def test_a_cancellation_says_it_cancels(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = _preview(capsys, FIXTURES / "generic" / "cancelled.json")
    assert code == 0
    assert "cancels" in shown["bookings"][0]["effect"]


def test_a_thin_webhook_needs_fetch_and_then_reads_only(
    env: Settings,
    sandbox: ServerThread,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = tmp_path / "scheduled.form"
    body.write_bytes(fixture("acuity", "scheduled.form"))
    code, shown = _preview(capsys, body, "--source", "acuity")
    assert code == 0
    assert shown["bookings"] == []
    assert any("--fetch" in note for note in shown["notes"])

    seed_records(sandbox.url, "acuity")
    code, shown = _preview(capsys, body, "--source", "acuity", "--fetch")
    assert code == 0, shown
    [booking] = shown["bookings"]
    assert booking["zone"] and booking["start_utc"].endswith("+00:00")
    assert booking["platform"]["body"]["name"] == booking["name"]
    assert not _database(env).exists()
    assert gomry_events(sandbox.url) == []


def test_an_unknown_source_for_the_tenant_is_refused_with_what_it_has(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    file = FIXTURES / "generic" / "confirmed.json"
    assert main(["preview", str(file), "--tenant", "acme", "--source", "calendly"]) == 2
    err = capsys.readouterr().err
    assert "no source 'calendly'" in err and "generic" in err


# the runtime is only read (no database, no platform): sharing it across examples is safe
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    source=st.sampled_from(["generic", "calendly", "calcom", "pipedrive", "square", "acuity"]),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=12), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_any_body_is_a_preview_or_a_reason_never_a_crash(
    preview_runtime: Runtime, source: str, body: bytes
) -> None:
    """Whatever a file holds, preview answers with bookings, a note or the reason it would be
    quarantined; it never raises (the ingress never answers 5xx for the same bytes)."""
    shown = preview(preview_runtime, tenant="acme", source=source, body=body, headers={}, now=NOW)
    assert shown.bookings or shown.notes[1:] or shown.error
    if shown.error:
        assert shown.error["reason"]
