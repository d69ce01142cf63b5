"""Schema migrations: Alembic for PostgreSQL, ``create_all`` for the embedded SQLite default.

``bookwire migrate`` calls ``migrate(store)``:

- PostgreSQL: ``alembic upgrade head`` with the revisions in ``worker/store/migrations``. A
  database whose tables were made by ``create_all`` (an ingress started before any migration)
  and that matches the models exactly is stamped at head instead; any other unversioned schema
  is an error that names the differences.
- SQLite (embedded, one machine): ``create_all``, as every process does at start.

New columns or tables: change ``models.py``, then generate a revision against a database at
head (``alembic_config(url)`` and ``alembic.command.revision(cfg, message, autogenerate=True)``),
review it, and commit it next to the model change. ``tests/ops/test_migrations.py`` fails when
the models and the migrations disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from worker.store.db import Store
from worker.store.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config, programmatic: no ini file, the connection handed over directly."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def differences(connection: Connection) -> list[Any]:
    """What separates the database's schema from the models (empty when they match)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def migrate(store: Store) -> str:
    """Bring the schema up to date; returns what was done, for the operator."""
    if store.dialect != "postgresql":
        store.create_schema()
        return "schema up to date (SQLite: created from the models)"
    with store.engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if tables and "alembic_version" not in tables:
            diff = differences(connection)
            if diff:
                raise RuntimeError(
                    "unversioned schema differs from the models; migrate by hand: "
                    + "; ".join(str(d) for d in diff[:10])
                )
            command.stamp(config, "head")
            return "existing schema matches the models; stamped at head"
        command.upgrade(config, "head")
    return "schema up to date (PostgreSQL: alembic upgrade head)"
