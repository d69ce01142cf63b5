"""Tenant ``acme`` on Gomry with every event default, the customer's ticket and a high limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations.platforms import tenant_toml
from tests.support import ServerThread

OPTIONS = {
    "capacity": 120,
    "ticket_price": 25.0,
    "currency": "EUR",
    "require_approval": False,
    "is_private": False,
    "space_identifier": "WEDDINGS",
    "add_customer_as_attendee": True,
}


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    text = tenant_toml(
        sandbox.url,
        "gomry",
        options=OPTIONS,
        rate_limit="1000/1 second",
        brand='name_template = "{customer.name} – {title}"\n'
        'description_template = "{title} on {date} at {time} ({timezone})"',
        extra='[tenants.acme.clients.bigco]\nname_template = "BigCo: {title}"\n',
    )
    path.write_text(text, encoding="utf-8")
    return path
