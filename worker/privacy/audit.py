"""The audit log: what was done to stored data, by whom, how much; never whose.

One row per erasure (``bookwire erase``), retention purge (the beat job), replay
(``bookwire replay``) or reload of the tenants file. ``actor`` says where it came from (``cli``,
``beat``, or the ``ingress`` or ``worker`` process that applied a reload);
``counts`` are numbers of rows touched by kind. Emails, names and booking ids stay out: the
record proves that an erasure happened without saying about whom.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.models import AuditRecord


class Action(StrEnum):
    erase = "erase"
    purge = "purge"
    replay = "replay"
    reload = "reload"


class Actor(StrEnum):
    cli = "cli"
    beat = "beat"
    ingress = "ingress"
    worker = "worker"


def record(
    session: Session,
    action: Action,
    *,
    actor: Actor,
    counts: Mapping[str, int],
    at: datetime,
    tenant: str | None = None,
) -> None:
    """Add one audit row in the caller's transaction (it commits with what it describes)."""
    session.add(
        AuditRecord(
            at=at,
            action=action.value,
            actor=actor.value,
            tenant=tenant,
            counts={key: int(value) for key, value in counts.items()},
        )
    )


def recent(session: Session, *, limit: int = 100) -> list[AuditRecord]:
    """The latest audit rows, newest first."""
    query = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    return list(session.scalars(query))
