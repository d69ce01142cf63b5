"""Alembic environment: runs on the connection ``worker.store.migrate`` hands it.

On PostgreSQL every run takes a transaction-scoped advisory lock first, so several processes
starting at once (compose's migrate service, a second deploy) migrate one after the other.
Our ``UTCDateTime`` type is rendered as plain ``DateTime(timezone=True)`` so revisions never
import application code.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import text

from worker.store.models import Base, UTCDateTime

LOCK_ID = 7_310_422_001  # any constant shared by every bookwire migration run


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        context.run_migrations()


run()
