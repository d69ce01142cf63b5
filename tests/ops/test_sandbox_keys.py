"""The sandbox ``bookwire up`` starts trusts the credentials of the tenants file it runs with:
the ones pointed at it, under the sandbox's slug for each platform, portal and source."""

from __future__ import annotations

from pathlib import Path

from config.tenants import load_tenants
from worker.process.demo import sandbox_keys

SANDBOX = "http://127.0.0.1:8711"

TENANTS = f"""
[tenants.acme.platform]
kind = "gomry"
base_url = "{SANDBOX}/api/v1"
credentials = {{ api_key = {{ env = "ACME_KEY" }} }}

[tenants.acme.portal]
kind = "webhook"
url = "{SANDBOX}/portal/webhook"
credentials = {{ signing_secret = {{ env = "ACME_PORTAL" }} }}

[tenants.party.platform]
kind = "gatsby"
base_url = "{SANDBOX}/gatsby"
credentials = {{ token = {{ env = "PARTY_TOKEN" }} }}
options = {{ organization_slug = "p" }}

[tenants.real.platform]
kind = "gomry"
base_url = "https://www.gomry.com/api/v1"
credentials = {{ api_key = {{ env = "REAL_KEY" }} }}
"""


def test_only_credentials_pointed_at_the_sandbox_are_trusted(tmp_path: Path) -> None:
    (tmp_path / "tenants.toml").write_text(TENANTS, "utf-8")
    environ = {"ACME_KEY": "k1", "ACME_PORTAL": "whsec_p", "PARTY_TOKEN": "t1", "REAL_KEY": "r"}
    tenants = load_tenants(tmp_path / "tenants.toml", environ=environ)
    assert sandbox_keys(tenants, SANDBOX) == {
        "gomry": {"k1"},
        "portal": {"whsec_p"},
        "gatsby": {"t1"},
    }
    assert sandbox_keys(tenants, "http://127.0.0.1:9999") == {}
