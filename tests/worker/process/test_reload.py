"""A changed tenants or secrets file takes effect in running processes, without a restart, and
only once it passes the checks start-up makes (``worker.process.reload``)."""

from __future__ import annotations

import base64
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from config.settings import Settings
from sandbox.app import create_app as create_sandbox
from tests.conftest import settings_env
from tests.support import (
    GOMRY_KEY,
    Process,
    ServerThread,
    booking,
    bookwire_env,
    free_port,
    gomry_events,
    secrets_env,
    signed,
    tenants_toml,
    wait_for,
    worker_argv,
)
from worker.ingress.app import create_app
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import AuditRecord
from worker.sync import bookings as sync

NEW_SECRET = "whsec_" + base64.b64encode(b"bookwire-new-secret-0123456789abc").decode()
NEW_GOMRY_KEY = "rotated-gomry-key"
# the second tenant, branded differently so its events can be told from acme's
BETA = '\n[tenants.beta.brand]\nname_template = "Beta: {title}"\n'


def replace(path: Path, text: str) -> None:
    """Write ``text`` as an editor saves: a new file moved over the old one."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def beta_toml(sandbox_url: str) -> str:
    """The ``beta`` tenant as ``tenants_toml`` writes acme, with its own brand."""
    return tenants_toml(sandbox_url, tenant="beta").replace(
        '[tenants.beta.brand]\nname_template = "{customer.name} – {title}"\n', BETA
    )


def post(url: str, tenant: str, body: dict[str, object], *, secret: str | None = None) -> int:
    raw, headers = signed(body) if secret is None else signed(body, secret=secret)
    route = f"{url}/webhooks/generic/{tenant}"
    return httpx.post(route, content=raw, headers=headers, timeout=10).status_code


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def reloading(settings: Settings) -> Iterator[Runtime]:
    """A runtime that reads the tenants and secrets files itself (so it can read them again)."""
    rt = Runtime(settings)
    migrate(rt.store)
    yield rt
    rt.close()


@pytest.fixture
def ingress(reloading: Runtime) -> Iterator[ServerThread]:
    """The ingress as served: its start-up (the watcher) runs."""
    with ServerThread(create_app(reloading), lifespan="on") as server:
        yield server


def test_a_tenant_added_to_the_file_gets_202_within_seconds_and_a_broken_file_keeps_the_old(
    reloading: Runtime,
    ingress: ServerThread,
    sandbox: ServerThread,
    tenants_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="worker.process.reload")
    applied = sample("bookwire_config_reloads_total", result="applied")
    rejected = sample("bookwire_config_reloads_total", result="rejected")
    assert post(ingress.url, "beta", booking()) == 404
    good = tenants_toml(sandbox.url) + beta_toml(sandbox.url)

    replace(tenants_file, good)
    wait_for(lambda: post(ingress.url, "beta", booking()) == 202, timeout=5, every=0.2)
    assert sample("bookwire_config_reloads_total", result="applied") == applied + 1
    assert "1 added, 0 removed" in caplog.text
    with reloading.store.transaction() as session:
        [row] = session.scalars(select(AuditRecord).where(AuditRecord.action == "reload")).all()
        assert (row.actor, row.tenant) == ("ingress", None)
        assert row.counts == {"tenants": 2, "added": 1, "removed": 0, "changed": 0}

    replace(tenants_file, good + "\n[tenants.gamma\n")  # not TOML
    wait_for(lambda: sample("bookwire_config_reload_failing") == 1, timeout=5)
    assert f"{tenants_file}: (syntax): " in caplog.text
    assert "the previous config stays in use" in caplog.text
    assert post(ingress.url, "acme", booking()) == 202
    assert post(ingress.url, "beta", booking()) == 202

    zone = '\n[tenants.beta.sources.acuity]\nsecrets = [{ env = "TEST_OLD_SECRET" }]\n'
    replace(tenants_file, good + zone + 'options = { timezone = "America/New_Yrok" }\n')
    wait_for(lambda: "options.timezone" in caplog.text, timeout=5)
    assert (
        f"{tenants_file}: tenants.beta.sources.acuity.options.timezone: " in caplog.text
        and "(fix: did you mean America/New_York?)" in caplog.text
    )
    assert sample("bookwire_config_reload_failing") == 1
    assert sample("bookwire_config_reloads_total", result="rejected") == rejected + 2
    assert post(ingress.url, "beta", booking()) == 202
    assert not any(secret in caplog.text for secret in secrets_env().values())

    replace(tenants_file, tenants_toml(sandbox.url))  # fixed: and beta removed
    wait_for(lambda: post(ingress.url, "beta", booking()) == 404, timeout=5, every=0.2)
    assert sample("bookwire_config_reload_failing") == 0
    assert sample("bookwire_config_reloads_total", result="applied") == applied + 2
    assert post(ingress.url, "acme", booking()) == 202


def test_a_secret_rotated_in_the_secrets_file_is_honoured_within_seconds(
    ingress: ServerThread, secrets_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert post(ingress.url, "acme", booking()) == 202
    assert post(ingress.url, "acme", booking(), secret=NEW_SECRET) == 401
    malformed = {**secrets_env(), "TEST_WEBHOOK_SECRET": "whsec_hunter222"}
    replace(secrets_file, "".join(f"{k}={v}\n" for k, v in malformed.items()))
    wait_for(lambda: sample("bookwire_config_reload_failing") == 1, timeout=5)
    assert "tenants.acme.sources.generic.secrets.0: env TEST_WEBHOOK_SECRET: " in caplog.text
    assert "hunter2" not in caplog.text  # the variable is named, its value never
    assert post(ingress.url, "acme", booking()) == 202  # the old secrets still in use

    rotated = {**secrets_env(), "TEST_WEBHOOK_SECRET": NEW_SECRET, "TEST_OLD_SECRET": NEW_SECRET}
    replace(secrets_file, "".join(f"{k}={v}\n" for k, v in rotated.items()))

    wait_for(lambda: post(ingress.url, "acme", booking(), secret=NEW_SECRET) == 202, timeout=5)
    assert post(ingress.url, "acme", booking()) == 401  # the old secret is gone
    assert "1 changed" in caplog.text
    assert NEW_SECRET not in caplog.text


def test_a_rotated_platform_key_is_used_at_once_no_client_keeps_the_old_one(
    settings: Settings, tmp_path: Path, secrets_file: Path
) -> None:
    """The platform trusts only the new key: a client cached with the old one would fail."""
    app = create_sandbox(tmp_path / "rotated", {"gomry": {NEW_GOMRY_KEY}})
    with ServerThread(app) as platform:
        replace(settings.resolved_tenants_file, tenants_toml(platform.url))
        rt = Runtime(settings)
        migrate(rt.store)
        acme = rt.tenant("acme")
        assert acme is not None
        rt.platform(acme)  # built, and cached, with the old key
        receipt = publish_booking(rt, tenant="acme", booking=booking("rot-1"))  # type: ignore[arg-type]
        rotated = {**secrets_env(), "TEST_GOMRY_KEY": NEW_GOMRY_KEY}
        replace(secrets_file, "".join(f"{k}={v}\n" for k, v in rotated.items()))

        from worker.privacy.audit import Actor
        from worker.process.reload import ConfigWatcher

        watcher = ConfigWatcher(rt, actor=Actor.worker, interval=0.1).start()
        try:
            wait_for(lambda: rt.tenant("acme") is not acme, timeout=5)
            outcome = sync.sync_booking(rt, receipt.bookings[0], now=datetime.now(UTC))
        finally:
            watcher.stop()
            rt.close()
        assert outcome.outcome == "created"
        [event] = gomry_events(platform.url, NEW_GOMRY_KEY)
        assert event["name"] == "Zoë Ångström – Summer Launch Party"


def test_a_worker_meeting_an_unknown_tenant_looks_at_the_files_first(
    reloading: Runtime, sandbox: ServerThread, tenants_file: Path
) -> None:
    """The ingress may take a new tenant's delivery before a worker's next look: the worker
    reloads then, instead of failing the booking for a tenant "no longer configured"."""
    from worker.privacy.audit import Actor
    from worker.process.reload import ConfigWatcher

    watcher = ConfigWatcher(reloading, actor=Actor.worker, interval=3600, on_miss=True).start()
    try:
        assert reloading.tenant("beta") is None
        replace(tenants_file, tenants_toml(sandbox.url) + beta_toml(sandbox.url))
        beta = reloading.tenant("beta")  # no wait: the miss itself made the worker look
    finally:
        watcher.stop()
    assert beta is not None and beta.brand.name_template == "Beta: {title}"


def test_sighup_reloads_the_ingress_at_once(
    settings: Settings, reloading: Runtime, sandbox: ServerThread, tmp_path: Path
) -> None:
    """No polling (``config_watch_interval=0``): the signal alone reloads it."""
    port = free_port()
    env = bookwire_env(settings_env(settings))
    env |= {"BOOKWIRE_INGRESS_PORT": str(port), "BOOKWIRE_OPS_PORT": str(free_port())}
    env["BOOKWIRE_CONFIG_WATCH_INTERVAL"] = "0"
    ingress = Process([sys.executable, "-m", "worker.cli", "ingress"], env, tmp_path / "in.log")
    url = f"http://127.0.0.1:{port}"
    ingress.start()
    try:
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=30)
        replace(settings.resolved_tenants_file, tenants_toml(sandbox.url) + beta_toml(sandbox.url))
        assert post(url, "beta", booking()) == 404  # not polled: still the file it started with
        assert ingress.proc is not None
        ingress.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: post(url, "beta", booking()) == 202, timeout=5, every=0.2)
        assert ingress.proc.poll() is None  # SIGHUP reloads; it does not end the ingress
    finally:
        ingress.stop()
    assert "tenants file reloaded: 2 tenants, 1 added" in ingress.output()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_a_running_worker_syncs_a_tenant_added_to_the_file(
    settings: Settings,
    reloading: Runtime,
    ingress: ServerThread,
    sandbox: ServerThread,
    tenants_file: Path,
    tmp_path: Path,
) -> None:
    worker = Process(worker_argv(2), bookwire_env(settings_env(settings)), tmp_path / "w.log")
    worker.start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        assert post(ingress.url, "acme", booking("w-1")) == 202  # the worker has its tenants
        wait_for(lambda: gomry_events(sandbox.url), timeout=10)
        replace(tenants_file, tenants_toml(sandbox.url) + beta_toml(sandbox.url))
        wait_for(lambda: post(ingress.url, "beta", booking("w-2")) == 202, timeout=5, every=0.2)

        def beta_event() -> list[str]:
            names = [event["name"] for event in gomry_events(sandbox.url, GOMRY_KEY)]
            return [name for name in names if name.startswith("Beta: ")]

        assert wait_for(beta_event, timeout=10) == ["Beta: Summer Launch Party"]
    finally:
        worker.stop()
    assert "tenants file reloaded: 2 tenants, 1 added" in worker.output()


def test_connect_write_needs_no_restart_of_a_running_ingress(
    settings: Settings,
    reloading: Runtime,
    sandbox: ServerThread,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The ingress runs before ``connect --write`` appends Calendly, and verifies its test
    delivery without being restarted."""
    from worker.cli import main

    token = "calendly-reload-token-0001"
    for name, value in {**settings_env(settings), "ACME_CALENDLY_TOKEN": token}.items():
        monkeypatch.setenv(name, value)
    calendly = f"{sandbox.url}/calendly"
    httpx.post(f"{calendly}/_seed", json={"tokens": [token]}, timeout=10).raise_for_status()
    with ServerThread(create_app(reloading), lifespan="on") as ingress:
        argv = ["connect", "calendly", "--tenant", "acme", "--url", ingress.url]
        code = main([*argv, "--api-base-url", calendly, "--write", "--wait", "15"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "test delivery verified by the ingress" in out
        assert "restart" not in out
        assert reloading.tenant("acme") is not None
        assert "calendly" in reloading.tenants.tenants["acme"].sources
