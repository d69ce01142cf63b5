"""docker-compose.yml parses and every command it runs exists (no Docker engine needed).

Checked against the code, not against a copy: each ``bookwire <sub>`` must be a subcommand of
``worker.cli``'s parser, each ``celery -A <module>`` must name the real Celery app, each
``BOOKWIRE_*`` variable must be a real setting, and no secret is written inline.
"""

from __future__ import annotations

import argparse
import importlib
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from celery import Celery
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def test_the_ingress_publishes_its_webhook_port_and_not_its_metrics(
    services: dict[str, dict[str, Any]],
) -> None:
    ingress = services["ingress"]
    env = ingress["environment"]
    webhooks, ops = env["BOOKWIRE_INGRESS_PORT"], env["BOOKWIRE_OPS_PORT"]
    assert webhooks != ops
    published = [str(port).rsplit(":", 1)[-1] for port in ingress["ports"]]
    assert published == [webhooks], "only the webhook port is published; /metrics names tenants"


def pins() -> dict[str, str]:
    """constraints.txt as {name: version}; every line must be an exact pin."""
    found: dict[str, str] = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version.strip(), f"constraints.txt: {line!r} is not name==version"
        found[canonicalize_name(name)] = version.strip()
    return found


def runtime_closure(dependencies: list[str]) -> set[str]:
    """Every distribution the runtime dependencies pull in (extras such as ``celery[redis]``
    included), read from the installed packages' metadata, on this Python and platform."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(line) for line in dependencies]
    while todo:
        requirement = todo.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        for line in metadata.requires(requirement.name) or []:
            needed = Requirement(line)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append(needed)
    return {name for name, _ in seen}


def test_the_image_installs_from_the_constraints_file() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY .*\bconstraints\.txt\b.* \./$", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install -c constraints\.txt \.( |$)", dockerfile, re.MULTILINE)


def test_every_runtime_dependency_is_pinned_at_a_version_its_range_allows() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = pins()
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside {line!r}"
        )
    for name in sorted(runtime_closure(project["dependencies"])):
        assert name in pinned, f"{name} (needed at run time) is not pinned in constraints.txt"
    for test_only in project["optional-dependencies"]["test"]:
        name = canonicalize_name(Requirement(test_only).name)
        if name not in {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}:
            assert name not in pinned, f"{name} is a test tool, not a runtime dependency"
