"""Migrations are the one source of truth, on SQLite and PostgreSQL.

- CI check: a database migrated to head is exactly the models (alembic ``compare_metadata``
  yields nothing), whatever revisions ``worker/store/migrations/versions`` holds. If this fails
  after a model change, the change needs a revision: see ``worker/store/migrate.py``.
- ``migrate`` upgrades a database from every earlier release and keeps its rows: each past
  revision, the first releases' unversioned SQLite schemas (made by ``create_all`` before
  migrations existed), and a PostgreSQL at 0002 where an old ingress created a newer table.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from worker.store.db import Store
from worker.store.migrate import (
    MIGRATIONS,
    SchemaNotCurrent,
    SchemaUnknown,
    alembic_config,
    differences,
    head,
    migrate,
    require_current,
    revisions,
    schema_problems,
    scripts,
)
from worker.store.models import Base, Booking, EventLink

FIXTURES = Path(__file__).parent / "fixtures"
PAST = revisions()[:-1]  # every revision an earlier release may have left a database at
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty database of each kind (PostgreSQL: a database of its own on the session's)."""
    url = (
        f"sqlite:///{tmp_path / 'bw.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_database")
    )
    store = Store(url)
    yield store
    store.dispose()


def at_revision(store: Store, revision: str) -> None:
    with store.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def add_booking_with_event(store: Store, external_id: str = "old-1") -> None:
    """A booking and its event as every release since the first wrote them."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO bookings (id, tenant, source, external_id, status, message, "
                "source_updated_at, version, applied_version, state, received_at, updated_at, "
                "queued_at) VALUES (7, 'acme', 'generic', :ext, 'confirmed', '{}', :at, 1, 1, "
                "'synced', :at, :at, :at)"
            ),
            {"ext": external_id, "at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO event_links (booking_id, platform, event_id, event_state, "
                "created_at, updated_at) VALUES (7, 'gomry', 'evt-7', 'active', :at, :at)"
            ),
            {"at": AT},
        )


def assert_at_head_with_rows_kept(store: Store) -> None:
    require_current(store)
    with store.read() as connection:
        assert differences(connection) == []
        assert set(inspect(connection).get_table_names()) == set(Base.metadata.tables) | {
            "alembic_version"
        }
    with store.transaction() as session:  # what every sync reads: details included
        link = session.scalars(select(EventLink)).one()
        assert (link.event_id, link.details) == ("evt-7", None)
        assert session.scalars(select(Booking.external_id)).one() == "old-1"


# -- the CI check: models and migrations agree ------------------------------------------------


def test_models_and_migrations_agree(database: Store) -> None:
    assert migrate(database) == f"schema upgraded from empty to {head()}"
    with database.read() as connection:
        assert differences(connection) == []
        tables = set(inspect(connection).get_table_names())
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert migrate(database) == f"schema up to date (revision {head()})"


def test_every_file_in_versions_is_one_revision_of_a_single_history() -> None:
    files = {p.stem for p in (MIGRATIONS / "versions").glob("*.py") if p.stem != "__init__"}
    modules = {Path(s.path).stem for s in scripts().walk_revisions()}
    assert files == modules  # a file alembic does not see would be skipped silently
    assert len(scripts().get_heads()) == 1, "two heads: set down_revision of the newer one"
    assert {"0001", "0002", "0003"} <= set(revisions())


def test_drift_is_reported(database: Store) -> None:
    migrate(database)
    with database.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_failures_open"))
    with database.read() as connection:
        assert any("ix_failures_open" in str(d) for d in differences(connection))


# -- upgrades from earlier releases ----------------------------------------------------------


@pytest.mark.parametrize("revision", PAST)
def test_a_database_at_each_past_revision_is_upgraded_with_its_rows(
    database: Store, revision: str
) -> None:
    at_revision(database, revision)
    add_booking_with_event(database)
    with pytest.raises(SchemaNotCurrent) as refused:
        require_current(database)
    assert str(refused.value) == (
        f"database schema is at revision {revision}, this bookwire needs {head()}: "
        "run `bookwire migrate`"
    )
    assert migrate(database) == f"schema upgraded from {revision} to {head()}"
    assert_at_head_with_rows_kept(database)


@pytest.mark.parametrize("release", ["release_1", "release_2"])
def test_first_releases_unversioned_sqlite_is_completed_stamped_and_upgraded(
    tmp_path: Path, release: str
) -> None:
    """The first releases made their SQLite schema with ``create_all`` (fewer tables, no
    ``deliveries.queued_at``, no ``alembic_version``)."""
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        with store.engine.begin() as connection:
            for statement in (FIXTURES / f"schema_{release}.sql").read_text().split(";"):
                if statement.strip() and not statement.strip().startswith("--"):
                    connection.exec_driver_sql(statement)
        add_booking_with_event(store)
        assert "this bookwire needs" in schema_problems(store)[0]
        done = migrate(store)
        assert done.startswith("schema older than revision 0001; added ") and head() in done
        assert_at_head_with_rows_kept(store)
    finally:
        store.dispose()


@pytest.mark.parametrize("revision", ["0002", "0003"])
def test_unversioned_schema_from_create_all_is_detected_stamped_and_upgraded(
    database: Store, revision: str
) -> None:
    """A database an old ingress made with ``create_all`` (no alembic_version table)."""
    at_revision(database, revision)
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    add_booking_with_event(database)
    assert migrate(database) == (
        f"schema (unversioned) matched revision {revision}; stamped; upgraded to {head()}"
    )
    assert_at_head_with_rows_kept(database)


def test_a_table_an_old_ingress_created_ahead_of_its_revision_is_adopted(
    database: Store,
) -> None:
    """The reported PostgreSQL case: at 0002, an ingress ran ``create_all`` and made
    ``portal_deliveries`` (0003's table); upgrading used to fail with DuplicateTable."""
    at_revision(database, "0003")  # the table as that ingress made it, recorded as 0002
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    add_booking_with_event(database)
    done = migrate(database)
    assert done.startswith("schema (recorded as 0002) matched revision 0003; stamped")
    assert_at_head_with_rows_kept(database)


def test_a_schema_that_matches_no_revision_is_left_alone_and_explained(
    database: Store,
) -> None:
    at_revision(database, "0001")
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("CREATE TABLE mystery (id INTEGER PRIMARY KEY)"))
    with pytest.raises(SchemaUnknown, match=r"closest is 0001 \(extra tables \['mystery'\]\)"):
        migrate(database)
    with database.read() as connection:
        assert "alembic_version" not in inspect(connection).get_table_names()


def test_a_versioned_database_with_a_table_of_someone_elses_still_upgrades(
    database: Store,
) -> None:
    at_revision(database, "0002")
    with database.engine.begin() as connection:
        connection.execute(text("CREATE TABLE dba_audit (id INTEGER PRIMARY KEY)"))
    assert migrate(database) == f"schema upgraded from 0002 to {head()}"
    with database.read() as connection:
        assert "dba_audit" in inspect(connection).get_table_names()
