"""docker-compose.yml parses and every command it runs exists (no Docker engine needed).

Checked against the code, not against a copy: each ``bookwire <sub>`` must be a subcommand of
``worker.cli``'s parser, each ``celery -A <module>`` must name the real Celery app, each
``BOOKWIRE_*`` variable must be a real setting, and no secret is written inline.
"""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery

from config.settings import Settings
from tests.support import REPO
from worker.cli import _parser

COMPOSE = REPO / "docker-compose.yml"
SERVICES = {"redis", "postgres", "migrate", "ingress", "worker", "beat", "flower", "sandbox"}
OURS = SERVICES - {"redis", "postgres"}
INTERPOLATED = re.compile(r"^\$\{[A-Z_]+(:[?-][^}]*)?\}$")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(loaded["services"])


def subcommands() -> set[str]:
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    raise AssertionError("bookwire has no subcommands")


def test_every_service_of_the_stack_is_there(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


def test_every_command_exists(services: dict[str, dict[str, Any]]) -> None:
    known = subcommands()
    for name in OURS:
        command = services[name]["command"]
        assert isinstance(command, list), f"{name}: use the exec form (a list)"
        if command[0] == "bookwire":
            assert command[1] in known, f"{name}: no `bookwire {command[1]}`"
        else:
            assert command[:4] == ["python", "-m", "celery", "-A"], name
            app = getattr(importlib.import_module(command[4]), "app", None)
            assert isinstance(app, Celery), f"{name}: {command[4]} has no Celery app"


def test_bookwire_variables_are_real_settings(services: dict[str, dict[str, Any]]) -> None:
    fields = {f"BOOKWIRE_{name.upper()}" for name in Settings.model_fields}
    fields.add("BOOKWIRE_SANDBOX_KEYS")  # read by the sandbox, not by Settings
    for name in OURS:
        for key in services[name].get("environment", {}):
            if key.startswith("BOOKWIRE_"):
                assert key in fields, f"{name}: {key} is not a setting"


def test_no_secret_is_written_inline(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if key == "BOOKWIRE_SECRETS_FILE":  # a Docker secret, mounted read-only
                assert value.startswith("/run/secrets/"), name
            elif any(word in key for word in ("PASSWORD", "SECRET", "AUTH", "KEYS")):
                assert INTERPOLATED.match(str(value)), f"{name}: {key} must come from .env"
            if key == "BOOKWIRE_DATABASE_URL":
                assert "${POSTGRES_PASSWORD" in value


def test_flower_is_behind_a_login_and_loopback(services: dict[str, dict[str, Any]]) -> None:
    flower = services["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"].startswith("${FLOWER_BASIC_AUTH:?")
    assert all(str(port).startswith("127.0.0.1:") for port in flower["ports"])


def test_workers_scale_and_everything_waits_for_migrations(
    services: dict[str, dict[str, Any]],
) -> None:
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    for name in ("ingress", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
    assert services["migrate"]["command"] == ["bookwire", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in SERVICES - {"migrate"}:
        assert "healthcheck" in services[name], f"{name} has no healthcheck"


def test_the_image_installs_every_package_the_commands_import() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for package in ("config", "integrations", "worker", "sandbox"):
        assert f"COPY {package} ./{package}" in dockerfile
    for path in ("deploy/tenants.toml", "deploy/secrets.env.example", "deploy/env.example"):
        assert (REPO / path).exists(), path


def test_the_tenants_file_of_the_stack_loads(tmp_path: Path) -> None:
    from config.tenants import load_tenants
    from integrations.tenants_check import check_tenants

    example = REPO / "deploy" / "secrets.env.example"
    tenants = load_tenants(REPO / "deploy" / "tenants.toml", environ={}, secrets_file=example)
    check_tenants(tenants)
    assert tenants.tenants["acme"].platform.base_url == "http://sandbox:8700/api/v1"
