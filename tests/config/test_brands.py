"""Brands, client overrides and platform settings are checked when the tenants file loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import SettingsError
from tests.integrations.platforms import load, tenant_toml

URL = "http://127.0.0.1:9"
BRAND = """name_template = "{customer.name} – {title}"
logo_url = "https://cdn.acme.test/logo.png"
primary_color = "#112233"
domain = "Photos.Acme.test"
qr_text = "Photos of {title}"
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        load(tmp_path, text)
    return [f"{p.field}: {p.problem}" for p in raised.value.problems]


def test_a_clients_overrides_are_merged_over_the_tenant_brand(tmp_path: Path) -> None:
    extra = '[tenants.acme.clients."big-co"]\nname_template = "BigCo · {title}"\n'
    extra += 'domain = "memories.bigco.test"\n'
    tenant = load(tmp_path, tenant_toml(URL, "gomry", brand=BRAND, extra=extra)).tenants["acme"]
    brand = tenant.brand_for("big-co")
    assert brand.name_template == "BigCo · {title}" and brand.domain == "memories.bigco.test"
    assert brand.logo_url == "https://cdn.acme.test/logo.png"  # inherited
    assert brand.qr_text == "Photos of {title}"
    assert tenant.brand_for("someone-else") == tenant.brand == tenant.brand_for(None)
    assert tenant.brand.domain == "photos.acme.test"  # host names are lower-cased


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ('[tenants.acme.clients.bigco]\nname_template = "{customer.phone}"\n', "name_template"),
        ('[tenants.acme.clients.bigco]\nqr_text = "{venue}"\n', "qr_text"),
        ('[tenants.acme.clients.bigco]\ndescription_template = "{x.y}"\n', "description_template"),
    ],
)
def test_unknown_fields_in_a_client_override_are_config_errors(
    tmp_path: Path, extra: str, field: str
) -> None:
    found = problems(tmp_path, tenant_toml(URL, "gomry", extra=extra))
    assert len(found) == 1
    assert found[0].startswith(f"tenants.acme.clients.bigco.{field}: unknown booking field")


def test_unknown_fields_in_the_tenant_qr_text_are_config_errors(tmp_path: Path) -> None:
    brand = 'qr_text = "Scan at {location.city}"'
    [found] = problems(tmp_path, tenant_toml(URL, "gomry", brand=brand))
    assert found.startswith("tenants.acme.brand.qr_text: unknown booking field(s): location.city")


@pytest.mark.parametrize(
    "line",
    [
        'primary_color = "red"',
        'domain = "not a host"',
        'logo_url = "ftp://cdn.test/logo.png"',
        'qr_text = "Scan {0}"',
        "colour = 'red'",
    ],
)
def test_bad_brand_values_are_refused_at_load(tmp_path: Path, line: str) -> None:
    extra = f"[tenants.acme.clients.bigco]\n{line}\n"
    [found] = problems(tmp_path, tenant_toml(URL, "gomry", extra=extra))
    assert found.startswith("tenants.acme.clients.bigco.")


def test_a_malformed_rate_limit_is_a_config_error(tmp_path: Path) -> None:
    [found] = problems(tmp_path, tenant_toml(URL, "gomry", rate_limit="sixty a minute"))
    assert found.startswith("tenants.acme.platform.rate_limit:")
    load(tmp_path, tenant_toml(URL, "gomry", rate_limit="60/10 seconds"))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"organization_slug": "o", "slug_template": "party-{weekday}"}, "unknown booking field"),
        ({"organization_slug": "o", "event_id": "e", "primary_slug": "p"}, "exactly one of"),
        ({"organization_slug": "o"}, "exactly one of"),
        ({"event_id": "e"}, "Field required"),
        ({"organization_slug": "o", "event_id": "e", "on_cancel": "forget"}, "'decline'"),
    ],
)
def test_gatsby_targets_are_checked_at_load(
    tmp_path: Path, options: dict[str, str], expected: str
) -> None:
    found = problems(tmp_path, tenant_toml(URL, "gatsby", options=options))
    assert any(expected in p and p.startswith("tenants.acme.platform.options") for p in found)


def test_each_platform_kind_loads_with_its_credentials(tmp_path: Path) -> None:
    gatsby = {"organization_slug": "acme-events", "primary_slug": "summer-party"}
    for kind, options in (("gomry", {}), ("gatsby", gatsby), ("guestmedia", {})):
        load(tmp_path, tenant_toml(URL, kind, options=options))
    [found] = problems(tmp_path, tenant_toml(URL, "guestmedia", options={"album": True}))
    assert found == "tenants.acme.platform.options.album: unknown option"
