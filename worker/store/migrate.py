"""Schema migrations: the revisions in ``worker/store/migrations`` are the one source of truth.

No bookwire process creates tables. ``bookwire migrate`` (run first by ``bookwire up``,
compose's ``migrate`` service and the test fixtures) calls ``migrate(store)``, which brings a
database from any earlier release to head, on SQLite and PostgreSQL alike:

- an empty database: ``alembic upgrade head``;
- a versioned one: ``alembic upgrade head`` from its recorded revision;
- an unversioned one (made by an old release's ``create_all``, before migrations existed): its
  revision is found by comparing its tables and columns with the schema each revision makes
  (built in a scratch in-memory SQLite database); it is stamped there, then upgraded. A schema
  older than the first revision (the first releases had fewer tables) gets the missing
  tables first. A schema that matches no revision is an error naming the differences;
- a recorded revision the schema contradicts (an old ingress created a newer table itself) is
  corrected the same way before upgrading, instead of failing on "table already exists".

Every other process calls ``require_current(store)`` at start and refuses to run on an older
schema (``SchemaNotCurrent``: one line that says to run ``bookwire migrate``); the ingress's
``/readyz`` reports the same through ``schema_problems``.

New columns or tables: change ``models.py``, then generate a revision against a database at
head (``alembic_config(connection)`` and ``alembic.command.revision(cfg, message,
autogenerate=True)``), review it, and commit it next to the model change.
``tests/ops/test_migrations.py`` fails when the models and the migrations disagree.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect

from worker.store.db import Store
from worker.store.models import Base

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"

Shape = dict[str, frozenset[str]]  # table -> its column names


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this bookwire needs (run ``bookwire migrate``)."""

    def __init__(self, current: str | None, needed: str) -> None:
        self.current = current
        self.needed = needed
        at = f"at revision {current}" if current else "empty or unversioned"
        super().__init__(
            f"database schema is {at}, this bookwire needs {needed}: run `bookwire migrate`"
        )


class SchemaUnknown(Exception):
    """An unversioned schema that matches no revision: it needs a person, not a guess."""


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config, programmatic: no ini file, the connection handed over directly."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The revision this bookwire needs (several heads would be a broken history)."""
    return "+".join(sorted(scripts().get_heads()))


def revisions() -> list[str]:
    """Every revision, oldest first."""
    return [script.revision for script in reversed(list(scripts().walk_revisions()))]


def current_revision(connection: Connection) -> str | None:
    heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or None


def differences(connection: Connection) -> list[Any]:
    """What separates the database's schema from the models (empty when they match)."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def schema_problems(store: Store) -> list[str]:
    """``[]`` when the schema is at head, else the one line an operator needs."""
    try:
        require_current(store)
    except SchemaNotCurrent as exc:
        return [str(exc)]
    return []


def require_current(store: Store) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at this bookwire's head revision."""
    with store.read() as connection:
        current = current_revision(connection)
    if current != head():
        raise SchemaNotCurrent(current, head())


def migrate(store: Store) -> str:
    """Bring the schema to head from wherever it is; returns what was done, for the operator."""
    with store.engine.begin() as connection:
        config = alembic_config(connection)
        before = current_revision(connection)
        adopted = _adopt(connection, config, before)
        command.upgrade(config, "head")
        after = current_revision(connection)
    if adopted:
        return f"{adopted}; upgraded to {after}"
    if before == after:
        return f"schema up to date (revision {after})"
    return f"schema upgraded from {before or 'empty'} to {after}"


def _adopt(connection: Connection, config: Config, recorded: str | None) -> str | None:
    """Stamp an unversioned (or wrongly versioned) schema at the revision it really has."""
    shape = _shape(connection)
    if not shape:
        return None
    if recorded is not None:
        return _correct(config, recorded, shape)
    shapes = revision_shapes()
    for revision in reversed(list(shapes)):
        if shapes[revision] == shape:
            command.stamp(config, revision, purge=True)
            return f"schema (unversioned) matched revision {revision}; stamped"
    first = next(iter(shapes))
    missing = _missing_before(shape, shapes[first])
    if missing is None:
        raise SchemaUnknown(
            f"the schema (unversioned) matches no revision; closest is "
            f"{_closest(shape, shapes)}. Migrate it by hand."
        )
    operations = Operations(MigrationContext.configure(connection))
    for table, columns in missing.items():
        if table not in shape:
            Base.metadata.tables[table].create(connection)
            continue
        for name in columns:
            operations.add_column(table, Base.metadata.tables[table].c[name].copy())
    command.stamp(config, first, purge=True)
    added = ", ".join(
        ", ".join(f"{table}.{c}" for c in columns) if table in shape else table
        for table, columns in missing.items()
    )
    return f"schema older than revision {first}; added {added} and stamped"


def _correct(config: Config, recorded: str, shape: Shape) -> str | None:
    """A versioned schema that is exactly a later revision's (an old ingress's ``create_all``
    made a newer table) is stamped there; anything else is left to ``alembic upgrade`` (an
    extra table of someone else's is none of our business)."""
    try:
        shapes = revision_shapes()
    except Exception:  # a revision only PostgreSQL can run: no scratch shapes, plain upgrade
        log.warning("revision shapes unavailable; upgrading without schema detection")
        return None
    if recorded not in shapes or shapes[recorded] == shape:
        return None
    later = list(shapes)[list(shapes).index(recorded) + 1 :]
    for revision in reversed(later):
        if shapes[revision] == shape:
            command.stamp(config, revision, purge=True)
            return f"schema (recorded as {recorded}) matched revision {revision}; stamped"
    return None


def _missing_before(shape: Shape, first: Shape) -> dict[str, list[str]] | None:
    """What a schema older than the first revision lacks (table -> missing columns), or None
    when it is not simply older: it has a table or column the first revision does not, or a
    missing piece is not in the models as the first revision made it, or a missing column
    could not be added to a table with rows (not nullable)."""
    if any(table not in first or not columns <= first[table] for table, columns in shape.items()):
        return None
    missing: dict[str, list[str]] = {}
    for table, columns in first.items():
        model = Base.metadata.tables.get(table)
        if model is None or not columns <= {c.name for c in model.columns}:
            return None
        lacking = sorted(columns - shape.get(table, frozenset()))
        if table in shape and any(not model.c[name].nullable for name in lacking):
            return None
        if lacking:
            missing[table] = lacking
    return missing


def _closest(shape: Shape, shapes: dict[str, Shape]) -> str:
    def distance(other: Shape) -> int:
        tables = set(shape) | set(other)
        return sum(len(shape.get(t, frozenset()) ^ other.get(t, frozenset())) for t in tables)

    revision = min(shapes, key=lambda r: distance(shapes[r]))
    other = shapes[revision]
    extra = sorted(set(shape) - set(other))
    lacking = sorted(set(other) - set(shape))
    columns = sorted(f"{t}.{c}" for t in set(shape) & set(other) for c in shape[t] ^ other[t])
    detail = "; ".join(
        part
        for part in (
            f"extra tables {extra}" if extra else "",
            f"missing tables {lacking}" if lacking else "",
            f"differing columns {columns}" if columns else "",
        )
        if part
    )
    return f"{revision} ({detail})"


def _shape(connection: Connection) -> Shape:
    inspector = inspect(connection)
    return {
        table: frozenset(column["name"] for column in inspector.get_columns(table))
        for table in inspector.get_table_names()
        if table != VERSION_TABLE
    }


@cache
def revision_shapes() -> dict[str, Shape]:
    """The tables and columns each revision makes, oldest first (scratch in-memory SQLite)."""
    engine = create_engine("sqlite://")
    shapes: dict[str, Shape] = {}
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            for revision in revisions():
                command.upgrade(config, revision)
                shapes[revision] = _shape(connection)
    finally:
        engine.dispose()
    return shapes
