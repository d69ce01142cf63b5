"""handoffs: portal_deliveries renamed (a "delivery" is only an inbound webhook from now on)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL's names that carry the table's (its defaults for 0003's table, and our indexes)
POSTGRES_INDEXES = (
    "ix_{}_booking_id",
    "ix_{}_state",
    "{}_pkey",
    "{}_booking_id_ends_at_key",
    "{}_delivery_key_key",
)


def upgrade() -> None:
    _rename("portal_deliveries", "handoffs")


def downgrade() -> None:
    _rename("handoffs", "portal_deliveries")


def _rename(old: str, new: str) -> None:
    """The table, its indexes (constraints follow their index on PostgreSQL), its sequence and
    foreign key; fixed identifiers only."""
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        for name in POSTGRES_INDEXES:
            op.execute(f"ALTER INDEX IF EXISTS {name.format(old)} RENAME TO {name.format(new)}")
        op.execute(f"ALTER SEQUENCE IF EXISTS {old}_id_seq RENAME TO {new}_id_seq")
        fkey = f"{old}_booking_id_fkey"
        op.execute(
            f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = '{fkey}') "  # noqa: S608
            f"THEN ALTER TABLE {new} RENAME CONSTRAINT {fkey} TO {new}_booking_id_fkey; "
            "END IF; END $$"
        )
        return
    # SQLite renames no index: they are made again under the new table's names
    op.drop_index(f"ix_{old}_state", table_name=new)
    op.drop_index(f"ix_{old}_booking_id", table_name=new)
    op.create_index(f"ix_{new}_booking_id", new, ["booking_id"], unique=False)
    op.create_index(f"ix_{new}_state", new, ["state", "queued_at"], unique=False)
