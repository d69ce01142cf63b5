"""portal_deliveries: album links / attendance handed to a tenant's portal, once per event end

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("booking_id", ID, nullable=False),
        sa.Column("tenant", sa.String(length=63), nullable=False),
        sa.Column("portal", sa.String(length=63), nullable=False),
        sa.Column("platform", sa.String(length=63), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("booking_id", "ends_at"),
        sa.UniqueConstraint("delivery_key"),
    )
    op.create_index(
        op.f("ix_portal_deliveries_booking_id"), "portal_deliveries", ["booking_id"], unique=False
    )
    op.create_index(
        "ix_portal_deliveries_state", "portal_deliveries", ["state", "queued_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_portal_deliveries_state", table_name="portal_deliveries")
    op.drop_index(op.f("ix_portal_deliveries_booking_id"), table_name="portal_deliveries")
    op.drop_table("portal_deliveries")
