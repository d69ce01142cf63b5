"""Tenant ``acme`` on a guest-media provider, branded, with an override for client ``bigco``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integrations.platforms import NOW, faults, tenant_toml
from tests.support import ServerThread

BRAND = """name_template = "{customer.name} – {title}"
description_template = "{title} on {date}"
logo_url = "https://cdn.acme.test/logo.png"
primary_color = "#112233"
secondary_color = "#ffffff"
domain = "photos.acme.test"
qr_text = "Scan to share your photos of {title}"
"""
CLIENTS = """
[tenants.acme.clients.bigco]
logo_url = "https://cdn.bigco.test/logo.png"
domain = "memories.bigco.test"
primary_color = "#ff0000"
"""


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    text = tenant_toml(sandbox.url, "guestmedia", brand=BRAND, extra=CLIENTS)
    path.write_text(text, encoding="utf-8")
    return path


def at(sandbox: ServerThread, when: float) -> None:
    """Set the sandbox's clock to the epoch second ``when``."""
    faults(sandbox, clock_offset_s=when - time.time())


@pytest.fixture(autouse=True)
def platform_clock(sandbox: ServerThread) -> None:
    """The provider's clock reads NOW (June 2026), before the test bookings' events."""
    at(sandbox, NOW.timestamp())
