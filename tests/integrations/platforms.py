"""Helpers for the platform tests: tenants files per platform, fault knobs, worker-like retries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from config.tenants import BrandConfig, PlatformConfig, SecretRef, Tenants, load_tenants
from integrations import registry, tenants_check
from integrations.booking import BookingMessage
from integrations.errors import TransientError
from integrations.platform import EventSpec, PlatformContext, event_spec
from tests.support import ServerThread, booking, secrets_env
from worker.intake.api import publish_booking
from worker.runtime import Runtime
from worker.sync import bookings as sync

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
CREDENTIALS = {
    "gomry": ("api_key", "TEST_GOMRY_KEY", "/api/v1"),
    "gatsby": ("token", "TEST_GATSBY_TOKEN", "/gatsby"),
    "guestmedia": ("api_key", "TEST_GUESTMEDIA_KEY", "/guestmedia/v1"),
}


def tenant_toml(
    sandbox_url: str,
    kind: str,
    *,
    options: dict[str, Any] | None = None,
    rate_limit: str | None = None,
    brand: str = 'name_template = "{customer.name} – {title}"',
    extra: str = "",
) -> str:
    """A tenants file with tenant ``acme`` on ``kind`` in the sandbox, generic source."""
    name, env, path = CREDENTIALS[kind]
    inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in (options or {}).items())
    limit = f'rate_limit = "{rate_limit}"\n' if rate_limit else ""
    return f"""
[tenants.acme.platform]
kind = "{kind}"
base_url = "{sandbox_url}{path}"
credentials = {{ {name} = {{ env = "{env}" }} }}
options = {{ {inline} }}
{limit}
[tenants.acme.sources.generic]
secrets = [{{ env = "TEST_WEBHOOK_SECRET" }}]

[tenants.acme.brand]
{brand}
{extra}
"""


def load(tmp_path: Path, text: str) -> Tenants:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    tenants = load_tenants(path, environ=secrets_env())
    tenants_check.check_tenants(tenants)
    return tenants


def platform_config(
    sandbox: ServerThread,
    kind: str,
    options: dict[str, Any] | None = None,
    rate_limit: str | None = None,
    secret: str | None = None,
) -> PlatformConfig:
    """A resolved PlatformConfig for building a client directly."""
    name, env, path = CREDENTIALS[kind]
    ref = SecretRef(env=env)
    ref._value = SecretStr(secret or secrets_env()[env])
    return PlatformConfig(
        kind=kind,
        base_url=f"{sandbox.url}{path}",
        credentials={name: ref},
        options=options or {},
        rate_limit=rate_limit,
    )


def client(
    sandbox: ServerThread, kind: str, http: httpx.Client, redis_url: str | None = None, **kw: Any
) -> Any:
    factory = registry.PLATFORMS[kind]
    return factory(platform_config(sandbox, kind, **kw), http, context=PlatformContext(redis_url))


def spec(
    booking_id: str = "b-1",
    *,
    tenants: Tenants | None = None,
    name_max: int = 200,
    **fields: Any,
) -> EventSpec:
    """The EventSpec the worker would build for a generic booking (tenant acme)."""
    body = booking(booking_id, **fields)
    message = BookingMessage.model_validate({"tenant": "acme", "source": "generic", **body})
    brand = tenants.tenants["acme"].brand_for(message.client) if tenants else BrandConfig()
    return event_spec(message, brand, name_max=name_max)


def faults(sandbox: ServerThread, **knobs: Any) -> dict[str, Any]:
    response = httpx.post(f"{sandbox.url}/_sandbox/faults", json=knobs, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def submit(runtime: Runtime, booking_id: str, **fields: Any) -> int:
    receipt = publish_booking(runtime, tenant="acme", booking=booking(booking_id, **fields))
    assert receipt.outcome == "accepted", receipt
    return receipt.bookings[0]


def cancel(runtime: Runtime, booking_id: str, updated_at: str) -> None:
    body = {"booking_id": booking_id, "status": "cancelled", "updated_at": updated_at}
    receipt = publish_booking(runtime, tenant="acme", booking=body)
    assert receipt.outcome == "accepted", receipt


def converge(runtime: Runtime, booking_id: int, *, tries: int = 60) -> sync.SyncResult:
    """Call sync like the worker's retry policy would, until it stops raising TransientError."""
    for _ in range(tries):
        try:
            return sync.sync_booking(runtime, booking_id, now=NOW)
        except TransientError:
            continue
    raise AssertionError(f"booking {booking_id} did not converge in {tries} tries")
