"""The registry checks these connectors' tenant options and secrets when the file loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SettingsError
from config.tenants import load_tenants
from integrations import tenants_check

TENANTS = """
[tenants.acme.platform]
kind = "gomry"
base_url = "http://127.0.0.1:1/api/v1"

[tenants.acme.sources.pipedrive]
secrets = [{ env = "PD_AUTH" }]
options = { start_time_field = "abc", timezone = "Europe/Tallinn", surprise = 1 }

[tenants.acme.sources.calcom]
secrets = [{ env = "CAL_SECRET" }]
options = { allow_unsigned = "sometimes" }

[tenants.acme.sources.calendly]
secrets = [{ env = "CAL_SECRET" }]
options = { timezone = "Atlantis/Capital" }
"""


def test_bad_options_and_secrets_are_reported_with_their_field(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(TENANTS, encoding="utf-8")
    tenants = load_tenants(path, environ={"PD_AUTH": "no-colon-here", "CAL_SECRET": "x"})
    with pytest.raises(SettingsError) as info:
        tenants_check.check_tenants(tenants)
    fields = {problem.field for problem in info.value.problems}
    assert {
        "tenants.acme.sources.pipedrive.options.event_date_field",
        "tenants.acme.sources.pipedrive.options.surprise",
        "tenants.acme.sources.pipedrive.secrets.0",
        "tenants.acme.sources.calcom.options.allow_unsigned",
        "tenants.acme.sources.calendly.options.timezone",
    } <= fields
    assert "no-colon-here" not in str(info.value)  # the secret itself is never shown
