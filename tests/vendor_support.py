"""Helpers for the vendor connector tests: credentials, tenants TOML for each source (pointing
at the sandbox's vendor stubs), secrets and tenants files, seeding, signed deliveries.

HubSpot, Acuity and Square come as one block (``vendor_tenants_toml``); Calendly, Cal.com,
Pipedrive and HubSpot workflows one source at a time (``calendly_toml`` …), since each test
module wants them with different options."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from integrations.acuity import webhook as acuity
from integrations.acuity.schemas import AcuityOptions
from integrations.calendly import webhook as calendly
from integrations.connector import ParseContext
from integrations.hubspot import webhook as hubspot
from integrations.hubspot.schemas import HubSpotOptions
from integrations.pipedrive import webhook as pipedrive
from integrations.square import webhook as square
from integrations.square.schemas import SquareOptions
from tests.integrations.pipedrive.keys import OPTIONS as PIPEDRIVE_OPTIONS
from tests.support import FIXTURES, secrets_env, tenants_toml

HUBSPOT_SECRET = "4f0e2c9a-hubspot-client-secret-0001"
HUBSPOT_OLD_SECRET = "4f0e2c9a-hubspot-client-secret-0000"
HUBSPOT_TOKEN = "pat-na1-test-token-0001"
ACUITY_USER = "11145481"
ACUITY_KEY = "acuity-api-key-0001"
ACUITY_OLD_KEY = "acuity-api-key-0000"
SQUARE_KEY = "square-signature-key-0001"
SQUARE_OLD_KEY = "square-signature-key-0000"
SQUARE_TOKEN = "EAAAsquare-access-token-0001"
SQUARE_URL = "https://hooks.acme.example/webhooks/square/acme"
CALENDLY_KEY = "calendly-test-signing-key"
CALENDLY_TOKEN = "calendly-test-api-token"
CALENDLY_ORG = "https://api.calendly.com/organizations/SANDBOXORG"
CALCOM_SECRET = "calcom-test-webhook-secret"
PIPEDRIVE_PAIR = "bookwire:pipedrive-test-pässword"  # Basic auth, non-ASCII on purpose
PIPEDRIVE_TOKEN = "pipedrive-test-api-token"

HUBSPOT_OPTIONS: dict[str, Any] = {
    "booked_stages": {"default": ["appointmentscheduled"], "88231744": [1029384756]},
    "cancelled_stages": {"default": ["closedlost"], "88231744": [1029384757]},
    "start_property": "event_start",
    "start_time_property": "event_start_time",
    "end_property": "event_end",
    "duration_property": "event_duration",
    "default_duration_minutes": 120,
    "timezone_property": "event_timezone",
    "timezone": "America/Chicago",
    "venue_property": "event_venue",
}


def fixture(vendor: str, name: str) -> bytes:
    return (FIXTURES / vendor / name).read_bytes()


def records(vendor: str) -> Any:
    name = "appointments.json" if vendor == "acuity" else "records.json"
    return json.loads(fixture(vendor, name))


def sources_toml(sandbox_url: str, tenant: str = "acme") -> str:
    """The three sources of ``tenant`` as TOML (appended to ``tests.support.tenants_toml``)."""
    return f"""
[tenants.{tenant}.sources.hubspot]
secrets = [{{ env = "TEST_HUBSPOT_SECRET" }}, {{ env = "TEST_HUBSPOT_OLD_SECRET" }}]
credentials = {{ access_token = {{ env = "TEST_HUBSPOT_TOKEN" }} }}

[tenants.{tenant}.sources.hubspot.options]
base_url = "{sandbox_url}/hubspot"
start_property = "event_start"
start_time_property = "event_start_time"
end_property = "event_end"
duration_property = "event_duration"
default_duration_minutes = 120
timezone_property = "event_timezone"
timezone = "America/Chicago"
venue_property = "event_venue"
booked_stages = {{ default = ["appointmentscheduled"], 88231744 = [1029384756] }}
cancelled_stages = {{ default = ["closedlost"], 88231744 = [1029384757] }}

[tenants.{tenant}.sources.acuity]
secrets = [{{ env = "TEST_ACUITY_KEY" }}, {{ env = "TEST_ACUITY_OLD_KEY" }}]
options = {{ base_url = "{sandbox_url}/acuity", timezone = "America/New_York" }}

[tenants.{tenant}.sources.acuity.credentials]
user_id = {{ env = "TEST_ACUITY_USER" }}
api_key = {{ env = "TEST_ACUITY_KEY" }}

[tenants.{tenant}.sources.square]
secrets = [{{ env = "TEST_SQUARE_KEY" }}, {{ env = "TEST_SQUARE_OLD_KEY" }}]
credentials = {{ access_token = {{ env = "TEST_SQUARE_TOKEN" }} }}
options = {{ base_url = "{sandbox_url}/square", notification_url = "{SQUARE_URL}" }}
"""


def vendor_tenants_toml(sandbox_url: str) -> str:
    return tenants_toml(sandbox_url, extra=sources_toml(sandbox_url))


def vendor_secrets_env() -> dict[str, str]:
    return {
        **secrets_env(),
        "TEST_HUBSPOT_SECRET": HUBSPOT_SECRET,
        "TEST_HUBSPOT_OLD_SECRET": HUBSPOT_OLD_SECRET,
        "TEST_HUBSPOT_TOKEN": HUBSPOT_TOKEN,
        "TEST_ACUITY_USER": ACUITY_USER,
        "TEST_ACUITY_KEY": ACUITY_KEY,
        "TEST_ACUITY_OLD_KEY": ACUITY_OLD_KEY,
        "TEST_SQUARE_KEY": SQUARE_KEY,
        "TEST_SQUARE_OLD_KEY": SQUARE_OLD_KEY,
        "TEST_SQUARE_TOKEN": SQUARE_TOKEN,
    }


def scheduler_secrets_env() -> dict[str, str]:
    """``vendor_secrets_env`` plus Calendly's, Cal.com's and Pipedrive's."""
    return {
        **vendor_secrets_env(),
        "TEST_CALENDLY_KEY": CALENDLY_KEY,
        "TEST_CALENDLY_TOKEN": CALENDLY_TOKEN,
        "TEST_CALCOM_SECRET": CALCOM_SECRET,
        "TEST_PIPEDRIVE_AUTH": PIPEDRIVE_PAIR,
        "TEST_PIPEDRIVE_TOKEN": PIPEDRIVE_TOKEN,
    }


def write_secrets(directory: Path, values: dict[str, str] | None = None) -> Path:
    """A dotenv secrets file in ``directory`` (default: every test vendor's secrets)."""
    path = directory / "secrets.env"
    values = scheduler_secrets_env() if values is None else values
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def write_tenants(directory: Path, sandbox_url: str, *sources: str, vendors: bool = False) -> Path:
    """A tenants file in ``directory``: the test tenants (``tests.support.tenants_toml``), the
    HubSpot/Acuity/Square block if ``vendors``, then each of ``sources`` (the TOML below)."""
    path = directory / "tenants.toml"
    block = sources_toml(sandbox_url) if vendors else ""
    path.write_text(tenants_toml(sandbox_url, extra=block + "".join(sources)), encoding="utf-8")
    return path


def _expect(within: str | None) -> str:
    return f'expect_delivery_within = "{within}"\n' if within else ""


def calendly_toml(sandbox_url: str | None = None, *, expect: str | None = None) -> str:
    """Calendly for ``acme``; with ``sandbox_url`` it also reads Calendly's API (the stub)."""
    toml = '\n[tenants.acme.sources.calendly]\nsecrets = [{ env = "TEST_CALENDLY_KEY" }]\n'
    if sandbox_url is None:
        return toml + _expect(expect)
    return f"""{toml}credentials = {{ api_token = {{ env = "TEST_CALENDLY_TOKEN" }} }}
{_expect(expect)}
[tenants.acme.sources.calendly.options]
api_base_url = "{sandbox_url}/calendly"
organization = "{CALENDLY_ORG}"
"""


CALCOM_TOML = '\n[tenants.acme.sources.calcom]\nsecrets = [{ env = "TEST_CALCOM_SECRET" }]\n'


def pipedrive_toml(sandbox_url: str, *, expect: str | None = None, **options: str) -> str:
    """Pipedrive for ``acme`` (its custom-field keys from ``tests.integrations.pipedrive.keys``,
    plus ``options``), reading persons from the stub."""
    fields = "\n".join(f'{k} = "{v}"' for k, v in {**PIPEDRIVE_OPTIONS, **options}.items())
    return f"""
[tenants.acme.sources.pipedrive]
secrets = [{{ env = "TEST_PIPEDRIVE_AUTH" }}]
credentials = {{ api_token = {{ env = "TEST_PIPEDRIVE_TOKEN" }} }}
{_expect(expect)}
[tenants.acme.sources.pipedrive.options]
{fields}
api_base_url = "{sandbox_url}/pipedrive"
"""


def hubspot_workflow_toml(**options: object) -> str:
    """HubSpot workflow webhooks for ``acme`` (signed like HubSpot's app webhooks)."""
    fields = "\n".join(f"{k} = {json.dumps(v)}" for k, v in options.items())
    return f"""
[tenants.acme.sources.hubspot-workflow]
secrets = [{{ env = "TEST_HUBSPOT_SECRET" }}]

[tenants.acme.sources.hubspot-workflow.options]
{fields}
"""


def seed(sandbox_url: str, vendor: str, payload: dict[str, Any]) -> None:
    httpx.post(f"{sandbox_url}/{vendor}/_seed", json=payload, timeout=10).raise_for_status()


def seed_records(sandbox_url: str, vendor: str) -> None:
    """Load the vendor's fixture records and accept the test credentials."""
    if vendor == "hubspot":
        seed(sandbox_url, vendor, {"tokens": [HUBSPOT_TOKEN], **records(vendor)})
    elif vendor == "acuity":
        account = {"user_id": ACUITY_USER, "api_key": ACUITY_KEY}
        seed(sandbox_url, vendor, {"accounts": [account], "appointments": records(vendor)})
    else:
        seed(sandbox_url, vendor, {"tokens": [SQUARE_TOKEN], **records(vendor)})


def context(
    vendor: str, sandbox_url: str, http: httpx.Client, *, now: datetime | None = None
) -> ParseContext:
    """What the worker hands a connector for ``acme``'s ``vendor`` source."""
    base = f"{sandbox_url}/{vendor}"
    if vendor == "hubspot":
        options: Any = HubSpotOptions.model_validate({**HUBSPOT_OPTIONS, "base_url": base})
        credentials = {"access_token": HUBSPOT_TOKEN}
    elif vendor == "acuity":
        options = AcuityOptions(base_url=base, timezone="America/New_York")
        credentials = {"user_id": ACUITY_USER, "api_key": ACUITY_KEY}
    else:
        options = SquareOptions(base_url=base, notification_url=SQUARE_URL)
        credentials = {"access_token": SQUARE_TOKEN}
    return ParseContext("acme", vendor, options, credentials, http, now or datetime.now(UTC))


def hubspot_headers(
    body: bytes, url: str, *, secret: str = HUBSPOT_SECRET, at_ms: int | None = None
) -> dict[str, str]:
    stamp = at_ms if at_ms is not None else int(time.time() * 1000)
    return {
        "content-type": "application/json",
        "x-hubspot-signature-v3": hubspot.sign(secret, "POST", url, body, stamp),
        "x-hubspot-request-timestamp": str(stamp),
        "x-hubspot-signature-version": "v3",
    }


def calendly_headers(body: bytes, *, at: datetime | None = None) -> dict[str, str]:
    return {calendly.HEADER: calendly.sign(CALENDLY_KEY, body, at or datetime.now(UTC))}


def pipedrive_headers() -> dict[str, str]:
    return {"authorization": pipedrive.basic_auth(PIPEDRIVE_PAIR)}


def acuity_headers(body: bytes, *, secret: str = ACUITY_KEY) -> dict[str, str]:
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-acuity-signature": acuity.sign(secret, body),
    }


def square_headers(
    body: bytes, *, secret: str = SQUARE_KEY, url: str = SQUARE_URL
) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "x-square-hmacsha256-signature": square.sign(secret, url, body),
        "square-initial-delivery-timestamp": datetime.now(UTC).isoformat(),
    }
