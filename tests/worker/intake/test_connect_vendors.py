"""``bookwire connect`` for Cal.com, Pipedrive and Square, and the printed steps for HubSpot and
Acuity: each registers on its vendor stub over loopback (strict about the fields), keeps the
secret in the secrets file only, and a delivery comes back verified by a real ingress. Cal.com
and Pipedrive then deliver a real booking from the stub with the registered secret (202); for
Square, Square's own test endpoint is the delivery.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.settings import Settings
from tests.conftest import settings_env
from tests.integrations.pipedrive.keys import DATE, START
from tests.support import ServerThread, free_port, secrets_env, wait_for
from tests.vendor_support import fixture
from worker.cli import main
from worker.ingress.app import create_app
from worker.runtime import Runtime

TOKENS = {"calcom": "cal_live_onboarding", "pipedrive": "pd-onboarding", "square": "EAAAonboard"}


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    values = {**secrets_env(), **{f"ACME_{k.upper()}_TOKEN": v for k, v in TOKENS.items()}}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    return settings


@pytest.fixture
def stubs(sandbox: ServerThread) -> str:
    for vendor, token in TOKENS.items():
        seed = {"tokens": [token]}
        httpx.post(f"{sandbox.url}/{vendor}/_seed", json=seed, timeout=10).raise_for_status()
    return sandbox.url


def _argv(source: str, sandbox_url: str, port: int, *extra: str) -> list[str]:
    argv = ["connect", source, "--tenant", "acme", "--url", f"http://127.0.0.1:{port}"]
    argv += ["--api-base-url", f"{sandbox_url}/{source}", "--write", "--wait", "30"]
    if source == "pipedrive":
        argv += ["--option", f"event_date_field={DATE}", "--option", f"start_time_field={START}"]
        argv += ["--option", "timezone=America/New_York"]
    return [*argv, *extra]


def _connected(settings: Settings, argv: list[str], port: int) -> Iterator[tuple[int, str]]:
    """Run connect; restart the ingress once the tenants file has the source (as an operator
    does); yield connect's exit code and output while the ingress still serves."""
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(main(argv)))
    thread.start()
    source = argv[1]
    wait_for(lambda: f"sources.{source}]" in settings.resolved_tenants_file.read_text("utf-8"))
    rt = Runtime(settings)
    with ServerThread(create_app(rt), port=port):
        thread.join(timeout=60)
        yield codes[0], ""
    rt.close()


def _secret(settings: Settings, source: str) -> str:
    text = settings.resolved_secrets_file.read_text("utf-8")  # type: ignore[union-attr]
    name = f"ACME_{source.upper()}_SIGNING_KEY="
    [line] = [line for line in text.splitlines() if line.startswith(name)]
    return line.removeprefix(name).strip("'")


@pytest.mark.parametrize("source", ["calcom", "pipedrive", "square"])
def test_connect_registers_and_a_delivery_is_verified(
    source: str,
    runtime: Runtime,  # the database, migrated as `bookwire migrate` does
    env: Settings,
    stubs: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    ingress = f"http://127.0.0.1:{port}/webhooks/{source}/acme"
    connected = _connected(env, _argv(source, stubs, port), port)
    code, _ = next(connected)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "test delivery verified by the ingress" in out
    secret = _secret(env, source)
    assert secret and secret not in out
    tenants = env.resolved_tenants_file.read_text("utf-8")
    assert f'secrets = [{{ env = "ACME_{source.upper()}_SIGNING_KEY" }}]' in tenants
    assert secret not in tenants

    if source == "calcom":
        body: Any = json.loads(fixture("calcom", "booking_created.json"))
        fired = httpx.post(
            f"{stubs}/calcom/_fire", json={"subscriberUrl": ingress, "body": body}, timeout=20
        ).json()
        assert fired["status"] == 202, fired
    elif source == "pipedrive":
        hooks = httpx.get(
            f"{stubs}/pipedrive/v1/webhooks",
            headers={"x-api-token": TOKENS["pipedrive"]},
            timeout=10,
        ).json()["data"]
        [hook] = hooks
        assert (hook["subscription_url"], hook["event_object"]) == (ingress, "deal")
        assert (hook["event_action"], hook["version"]) == ("*", "2.0")
        assert hook["http_auth_user"] == "bookwire"
        body = json.loads(fixture("pipedrive", "v2_deal_won.json"))
        fired = httpx.post(
            f"{stubs}/pipedrive/_fire", json={"subscription_url": ingress, "body": body}, timeout=20
        ).json()
        assert fired["status"] == 202, fired
    else:
        assert f'notification_url = "{ingress}"' in tenants  # Square signs URL + body
    next(connected, None)


def test_square_keeps_the_key_square_chose_even_when_the_ingress_never_answers(
    env: Settings, stubs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens: the test delivery cannot be verified
    argv = _argv("square", stubs, port)
    argv[argv.index("--wait") + 1] = "0"
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "not verified yet" in out
    secret = _secret(env, "square")
    assert len(secret) > 10 and secret not in out


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ("pipedrive", "--option event_date_field"),
        ("pipedrive-zone", "set timezone"),
        ("calcom", "no API token"),
    ],
)
def test_what_cannot_work_is_refused_before_any_call(
    source: str,
    missing: str,
    env: Settings,
    stubs: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if source == "pipedrive-zone":  # the fields, but no zone: the options would not load
        source = "pipedrive"
        extra = ["--option", f"event_date_field={DATE}", "--option", f"start_time_field={START}"]
    else:
        extra = []
    argv = ["connect", source, "--tenant", "acme", "--url", "https://hooks.example.com"]
    argv += ["--api-base-url", f"{stubs}/{source}", *extra]
    if source == "calcom":
        argv += ["--token-env", "NO_SUCH_TOKEN"]
    before = env.resolved_secrets_file.read_bytes()  # type: ignore[union-attr]
    assert main(argv) == 2
    assert missing in capsys.readouterr().err
    assert env.resolved_secrets_file.read_bytes() == before  # type: ignore[union-attr]
    if source == "pipedrive":
        hooks = httpx.get(
            f"{stubs}/pipedrive/v1/webhooks", headers={"x-api-token": TOKENS["pipedrive"]}
        ).json()["data"]
        assert hooks == []  # nothing was registered


@pytest.mark.parametrize("source", ["hubspot", "hubspot-workflow", "acuity"])
def test_vendors_without_an_api_for_it_get_the_exact_steps(
    source: str, env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    before = env.resolved_tenants_file.read_bytes()
    argv = ["connect", source, "--tenant", "acme", "--url", "https://hooks.example.com"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"https://hooks.example.com/webhooks/{source}/acme" in out
    assert f"[tenants.acme.sources.{source}]" in out
    assert env.resolved_tenants_file.read_bytes() == before


def test_the_stubs_refuse_a_subscription_without_its_required_fields(stubs: str) -> None:
    calcom = httpx.post(
        f"{stubs}/calcom/v2/webhooks",
        json={"subscriberUrl": "https://h.example/x", "triggers": ["BOOKING_CREATED"]},
        headers={"Authorization": f"Bearer {TOKENS['calcom']}"},
        timeout=10,
    )
    assert calcom.status_code == 400 and "active" in calcom.text
    pipedrive = httpx.post(
        f"{stubs}/pipedrive/v1/webhooks",
        json={"subscription_url": "https://h.example/x", "event_action": "change"},
        headers={"x-api-token": TOKENS["pipedrive"]},
        timeout=10,
    )
    assert pipedrive.status_code == 400 and "event_action" in pipedrive.text  # v1 has no change
    square = httpx.post(
        f"{stubs}/square/v2/webhooks/subscriptions",
        json={"subscription": {"notification_url": "https://h.example/x"}},
        headers={"Authorization": f"Bearer {TOKENS['square']}"},
        timeout=10,
    )
    assert square.status_code == 400 and "idempotency_key" in square.text
