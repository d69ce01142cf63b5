"""The demo tenants for embedded runs: a tenants file and generated secrets under ``home``.

Three demo tenants, one per platform, all served by the sandbox: ``demo`` (Gomry),
``demo-gatsby`` (Gatsby guest lists on the sandbox's "demo-party-<date>" events) and
``demo-media`` (guest-media branded events; once one has ended, its album link goes to the
sandbox's portal stub, see docs/handoff.md). They share the generic webhook secret, so
``bookwire send-example --tenant demo-gatsby`` works like the default.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from dotenv import dotenv_values

from config.settings import Settings
from config.tenants import SecretRef, Tenants

DEMO_TENANT = "demo"
GATSBY_ORG = "demo-studio"
# secret name -> (sandbox platform slug or None, how to make one)
SECRETS = {
    "DEMO_GOMRY_API_KEY": ("gomry", lambda: f"demo-{secrets.token_hex(16)}"),
    "DEMO_GENERIC_SECRET": (
        None,
        lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    ),
    "DEMO_GATSBY_TOKEN": ("gatsby", lambda: f"demo-{secrets.token_hex(16)}"),
    "DEMO_GUESTMEDIA_API_KEY": ("guestmedia", lambda: f"demo-{secrets.token_hex(16)}"),
    # the sandbox portal stub verifies the demo-media portal webhook's signatures with it
    "DEMO_PORTAL_SECRET": (
        "portal",
        lambda: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    ),
}


def ensure_demo(settings: Settings) -> None:
    """Write ``home/demo/tenants.toml`` unless it exists; add any missing demo secret to
    ``secrets.env`` (a home made by an older version gets the new platforms' keys)."""
    if settings.tenants_file is not None:
        return
    tenants = settings.resolved_tenants_file
    secrets_file = settings.resolved_secrets_file
    assert secrets_file is not None
    tenants.parent.mkdir(parents=True, exist_ok=True)
    if not tenants.exists():
        template = resources.files("config").joinpath("demo.tenants.toml").read_text("utf-8")
        tenants.write_text(template.replace("8700", str(settings.sandbox_port)), "utf-8")
    have = demo_secrets(secrets_file) if secrets_file.exists() else {}
    missing = "".join(f"{n}={make()}\n" for n, (_, make) in SECRETS.items() if n not in have)
    if missing:
        with secrets_file.open("a", encoding="utf-8") as handle:
            handle.write(missing)
        secrets_file.chmod(0o600)


def demo_secrets(path: Path) -> dict[str, str]:
    """The secrets file as the tenants loader reads it (dotenv semantics)."""
    values = dotenv_values(path, encoding="utf-8", interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def sandbox_keys(tenants: Tenants, origin: str) -> dict[str, set[str]]:
    """The credentials the sandbox at ``origin`` must accept: those of every platform, portal
    and source of ``tenants`` that points at it (whatever tenants file ``bookwire up`` runs
    with, demo or yours), filed under the sandbox's slug for each (``gomry``, ``portal`` …)."""
    keys: dict[str, set[str]] = {}

    def trust(slug: str, refs: dict[str, SecretRef], *urls: object) -> None:
        if any(isinstance(u, str) and (u + "/").startswith(origin + "/") for u in urls):
            keys.setdefault(slug, set()).update(r.value.get_secret_value() for r in refs.values())

    for tenant in tenants.tenants.values():
        platform = tenant.platform
        trust(platform.kind, platform.credentials, platform.base_url)
        for slug, source in tenant.sources.items():
            trust(slug, source.credentials, *source.options.values())
        portal = tenant.portal
        if portal is not None:
            slug = "portal" if portal.kind == "webhook" else portal.kind
            trust(slug, portal.credentials, portal.url, *portal.options.values())
    return keys


def seed_sandbox(settings: Settings, *, days: int = 60) -> bool:
    """Give the demo Gatsby organization one event per day ("demo-party-YYYY-MM-DD", 18:00
    New York time) from a week ago to ``days`` ahead; re-seeding is harmless (upsert)."""
    zone = ZoneInfo("America/New_York")
    today = datetime.now(zone).date()
    events = []
    for offset in range(-7, days + 1):
        day = today + timedelta(days=offset)
        start = datetime(day.year, day.month, day.day, 18, tzinfo=zone)
        events.append(
            {
                "eventId": f"demo-party-{day.isoformat()}",
                "name": f"Demo party {day.isoformat()}",
                "primarySlug": f"demo-party-{day.isoformat()}",
                "primaryDate": start.isoformat(),
                "timezone": "America/New_York",
            }
        )
    url = f"http://{settings.sandbox_host}:{settings.sandbox_port}/gatsby/_seed"
    try:
        body = {"organizationSlug": GATSBY_ORG, "events": events}
        return httpx.post(url, json=body, timeout=10).status_code == 200
    except httpx.HTTPError:
        return False
