"""Fixtures for the operations tests: the CLI on the test's settings, a tenant whose API key the
sandbox rejects (and the fix)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import GOMRY_KEY, secrets_env
from worker import runtime as runtime_module
from worker.cli import main

CANARY_KEY = "canary-KEY-5f1d2c9e7a"  # a Gomry API key the sandbox rejects


def write_secrets(path: Path, *, gomry_key: str) -> None:
    values = {**secrets_env(), "TEST_GOMRY_KEY": gomry_key}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")


@pytest.fixture
def rejected_key(secrets_file: Path) -> Iterator[Callable[[], None]]:
    """The tenant's Gomry key is one the sandbox rejects; call the result to fix it."""
    write_secrets(secrets_file, gomry_key=CANARY_KEY)
    yield lambda: write_secrets(secrets_file, gomry_key=GOMRY_KEY)


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., tuple[int, str]]]:
    """Run ``bookwire …`` in this process on the test's settings; returns (code, stdout).

    Like a real command, each run builds (and installs) a runtime from the environment, so a
    changed secrets file is read again — as after restarting a worker."""
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    def run(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    yield run
    rt = runtime_module._current
    if rt is not None:
        rt.close()
    runtime_module.install(None)  # type: ignore[arg-type]


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
