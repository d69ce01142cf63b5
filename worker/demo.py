"""The demo tenant for embedded runs: a tenants file and generated secrets under ``home``."""

from __future__ import annotations

import base64
import secrets
from importlib import resources
from pathlib import Path

from config.settings import Settings

DEMO_TENANT = "demo"


def ensure_demo(settings: Settings) -> None:
    """Write ``home/demo/tenants.toml`` and ``secrets.env`` unless they exist."""
    if settings.tenants_file is not None:
        return
    tenants = settings.resolved_tenants_file
    secrets_file = settings.resolved_secrets_file
    assert secrets_file is not None
    tenants.parent.mkdir(parents=True, exist_ok=True)
    if not tenants.exists():
        template = resources.files("config").joinpath("demo.tenants.toml").read_text("utf-8")
        tenants.write_text(template.replace("8700", str(settings.sandbox_port)), "utf-8")
    if not secrets_file.exists():
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        secrets_file.write_text(
            f"DEMO_GOMRY_API_KEY=demo-{secrets.token_hex(16)}\n"
            f"DEMO_GENERIC_SECRET=whsec_{secret}\n",
            "utf-8",
        )
        secrets_file.chmod(0o600)


def demo_secrets(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values
