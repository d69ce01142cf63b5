"""An old database stops every process at start with one line that says what to run, and
``/readyz`` says the same; ``bookwire migrate`` upgrades it and the processes then start."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from alembic import command
from sqlalchemy import inspect

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import ServerThread
from worker import runtime as runtime_module
from worker.cli import main
from worker.ingress.app import create_app
from worker.runtime import Runtime
from worker.store.db import Store
from worker.store.migrate import alembic_config, head, migrate


@pytest.fixture
def old_database(settings: Settings) -> Iterator[str]:
    """The test's SQLite database as release 0002 left it."""
    store = Store(settings.resolved_database_url)
    with store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
    store.dispose()
    yield settings.resolved_database_url


@pytest.fixture
def bookwire(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[object]:
    """``bookwire …`` in this process on the test's settings; returns (code, out, err)."""
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    if runtime_module._current is not None:
        runtime_module._current.close()
    runtime_module.install(None)  # type: ignore[arg-type]


NEEDS = "database schema is at revision 0002, this bookwire needs {}: run `bookwire migrate`\n"


@pytest.mark.parametrize("argv", [["ingress"], ["worker"], ["beat"], ["status", "x"]])
def test_processes_refuse_an_outdated_schema_with_one_line(
    old_database: str, bookwire: object, argv: list[str]
) -> None:
    code, out, err = bookwire(*argv)  # type: ignore[operator]
    assert (code, out, err) == (4, "", NEEDS.format(head()))


def test_migrate_upgrades_it_and_then_status_answers(old_database: str, bookwire: object) -> None:
    code, out, err = bookwire("migrate")  # type: ignore[operator]
    assert (code, err) == (0, "")
    assert out == f"schema upgraded from 0002 to {head()}\n"
    code, out, err = bookwire("status", "nothing-here")  # type: ignore[operator]
    assert (code, err) == (1, "no booking matches 'nothing-here'\n")
    code, out, _ = bookwire("migrate")  # type: ignore[operator]
    assert (code, out) == (0, f"schema up to date (revision {head()})\n")


def test_readyz_says_not_ready_until_migrated(settings: Settings, old_database: str) -> None:
    rt = Runtime(settings)
    try:
        with ServerThread(create_app(rt)) as ingress:
            answer = httpx.get(f"{ingress.url}/readyz", timeout=5)
            assert answer.status_code == 503
            assert answer.json()["problems"] == [NEEDS.format(head()).strip()]
            migrate(rt.store)  # bookwire migrate
            answer = httpx.get(f"{ingress.url}/readyz", timeout=5)
            assert (answer.status_code, answer.json()["problems"]) == (200, [])
    finally:
        rt.close()


def test_no_process_creates_tables(settings: Settings, bookwire: object) -> None:
    """An empty database stays empty until `bookwire migrate`: a process refuses instead."""
    code, _, err = bookwire("status", "x")  # type: ignore[operator]
    assert code == 4 and err.startswith("database schema is empty or unversioned")
    assert "Traceback" not in err
    store = Store(settings.resolved_database_url)
    with store.read() as connection:
        assert inspect(connection).get_table_names() == []
    store.dispose()


def test_postgres_at_0002_new_ingress_refuses_and_creates_nothing_then_migrate_works(
    empty_database: str, bookwire: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reported case: the new ingress used to create portal_deliveries itself, and
    `bookwire migrate` then failed with DuplicateTable."""
    store = Store(empty_database)
    try:
        with store.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0002")
        monkeypatch.setenv("BOOKWIRE_DATABASE_URL", empty_database)
        code, _, err = bookwire("ingress")  # type: ignore[operator]
        assert (code, err) == (4, NEEDS.format(head()))
        with store.read() as connection:
            tables = inspect(connection).get_table_names()
            assert "portal_deliveries" not in tables and "handoffs" not in tables
        code, out, err = bookwire("migrate")  # type: ignore[operator]
        assert (code, out, err) == (0, f"schema upgraded from 0002 to {head()}\n", "")
    finally:
        store.dispose()
