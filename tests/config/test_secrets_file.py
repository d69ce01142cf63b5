"""The secrets file is a dotenv file: ``KEY="v"`` means ``v``. A quoted webhook secret used to
keep its quotes, pass check-config, and turn every delivery into a 401."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import Settings
from config.tenants import load_tenants
from integrations import tenants_check
from tests.support import (
    GOMRY_KEY,
    OLD_SECRET,
    WEBHOOK_SECRET,
    ServerThread,
    booking,
    signed,
    tenants_toml,
)
from worker.ingress.app import create_app
from worker.runtime import Runtime
from worker.store.migrate import migrate

QUOTED = f"""# written by hand, the way people write .env files
export TEST_GOMRY_KEY='{GOMRY_KEY}'
TEST_WEBHOOK_SECRET="{WEBHOOK_SECRET}"
TEST_OLD_SECRET = {OLD_SECRET}   # the one before rotation
"""


def test_quoted_secrets_are_read_without_their_quotes(tmp_path: Path) -> None:
    (tmp_path / "tenants.toml").write_text(tenants_toml("http://127.0.0.1:8700"), "utf-8")
    (tmp_path / "secrets.env").write_text(QUOTED, "utf-8")
    tenants = load_tenants(
        tmp_path / "tenants.toml", environ={}, secrets_file=tmp_path / "secrets.env"
    )
    acme = tenants.tenants["acme"]
    assert acme.platform.credentials["api_key"].value.get_secret_value() == GOMRY_KEY
    assert [ref.value.get_secret_value() for ref in acme.sources["generic"].secrets] == [
        WEBHOOK_SECRET,
        OLD_SECRET,
    ]


def test_a_delivery_signed_with_a_quoted_secret_is_accepted(
    settings: Settings, secrets_file: Path
) -> None:
    secrets_file.write_text(QUOTED, "utf-8")
    assert settings.tenants_file is not None
    tenants = load_tenants(settings.tenants_file, environ={}, secrets_file=secrets_file)
    tenants_check.check_tenants(tenants)
    rt = Runtime(settings, tenants=tenants)
    migrate(rt.store)
    try:
        with ServerThread(create_app(rt)) as ingress:
            body, headers = signed(booking("quoted-1"))
            answer = httpx.post(
                f"{ingress.url}/webhooks/generic/acme", content=body, headers=headers, timeout=10
            )
        assert answer.status_code == 202, answer.text
    finally:
        rt.close()


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(
        st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="\x7f"),
        min_size=1,
        max_size=80,
    )
)
def test_any_double_quoted_value_reads_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    """Whatever a secret holds (``$``, ``#``, quotes, spaces, backslashes), writing it double
    quoted with ``\\`` and ``"`` escaped reads back exactly; no ``${VAR}`` expansion."""
    path = tmp_path_factory.mktemp("dotenv") / "secrets.env"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    path.write_text(f'TEST_GOMRY_KEY="{escaped}"\n', "utf-8")
    toml = tenants_toml("http://127.0.0.1:8700").replace(
        'secrets = [{ env = "TEST_WEBHOOK_SECRET" }, { env = "TEST_OLD_SECRET" }]', "secrets = []"
    )
    tenants_path = path.parent / "tenants.toml"
    tenants_path.write_text(toml, "utf-8")
    tenants = load_tenants(tenants_path, environ={}, secrets_file=path)
    assert tenants.tenants["acme"].platform.credentials["api_key"].value.get_secret_value() == value
