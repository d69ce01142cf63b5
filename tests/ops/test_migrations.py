"""Migrations on a real PostgreSQL: upgrade to head gives exactly the models' schema.

If this fails after a model change, the change needs a revision: see ``worker/store/migrate.py``.
"""

from __future__ import annotations

from sqlalchemy import inspect, text

from worker.store.db import Store
from worker.store.migrate import differences, migrate
from worker.store.models import Base


def test_upgrade_to_head_matches_the_models_exactly(empty_database: str) -> None:
    store = Store(empty_database)
    try:
        assert "alembic upgrade head" in migrate(store)
        with store.engine.connect() as conn:
            assert differences(conn) == []
            tables = set(inspect(conn).get_table_names())
        assert tables == set(Base.metadata.tables) | {"alembic_version"}
        assert "alembic upgrade head" in migrate(store)  # a second run changes nothing
    finally:
        store.dispose()


def test_schema_from_create_all_is_adopted_not_recreated(empty_database: str) -> None:
    store = Store(empty_database)
    try:
        store.create_schema()  # an ingress started before anyone ran the migrations
        assert "stamped at head" in migrate(store)
        assert "alembic upgrade head" in migrate(store)
        with store.engine.connect() as conn:
            assert differences(conn) == []
    finally:
        store.dispose()


def test_drift_is_reported(empty_database: str) -> None:
    store = Store(empty_database)
    try:
        migrate(store)
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE failures DROP COLUMN attempts"))
        with store.engine.connect() as conn:
            assert any("attempts" in str(d) for d in differences(conn))
    finally:
        store.dispose()


def test_sqlite_default_is_created_from_the_models(tmp_path: object) -> None:
    store = Store(f"sqlite:///{tmp_path}/bw.db")
    try:
        assert "SQLite" in migrate(store)
        with store.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= set(Base.metadata.tables)
    finally:
        store.dispose()
