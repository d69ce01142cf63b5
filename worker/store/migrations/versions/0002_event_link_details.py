"""event_links.details: the platform's own JSON about a booking's event (guest ids)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("event_links", sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("event_links", "details")
