"""What the store says about a chaos run: intents by outcome, ambiguous ones left, attempts by
status, and for an offending booking its whole timeline (intents and platform attempts), so a
duplicate or a lost booking can be traced to the step that went wrong.

Read-only queries; ids, versions, statuses and times only (never a body or an excerpt).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import create_engine, text


def summary(database_url: str, prefix: str) -> dict[str, Any]:
    """Intents by operation and outcome (``open``: never finished), attempts by status,
    bookings by state, open failures by stage."""
    engine = create_engine(database_url)
    pattern = prefix + "-%"
    try:
        with engine.connect() as conn:
            intents = conn.execute(
                text(
                    "SELECT i.operation, COALESCE(i.outcome, 'open'), COUNT(*) FROM sync_intents i "
                    "JOIN bookings b ON b.id = i.booking_id WHERE b.external_id LIKE :p "
                    "GROUP BY i.operation, COALESCE(i.outcome, 'open')"
                ),
                {"p": pattern},
            ).all()
            failures = conn.execute(
                text(
                    "SELECT f.stage, COUNT(*) FROM failures f JOIN bookings b "
                    "ON b.id = f.booking_id WHERE b.external_id LIKE :p "
                    "AND f.resolved_at IS NULL GROUP BY f.stage"
                ),
                {"p": pattern},
            ).all()
            states = conn.execute(
                text(
                    "SELECT state, COUNT(*) FROM bookings WHERE external_id LIKE :p GROUP BY state"
                ),
                {"p": pattern},
            ).all()
            attempts = conn.execute(
                text(
                    "SELECT a.method, COALESCE(CAST(a.status AS VARCHAR(8)), 'error'), COUNT(*) "
                    "FROM attempts a JOIN bookings b ON b.id = a.booking_id "
                    "WHERE b.external_id LIKE :p GROUP BY a.method, a.status"
                ),
                {"p": pattern},
            ).all()
    finally:
        engine.dispose()
    return {
        "intents": {f"{op}:{outcome}": int(n) for op, outcome, n in intents},
        "attempts": {f"{method} {status}": int(n) for method, status, n in attempts},
        "bookings": {str(state): int(n) for state, n in states},
        "open_failures": {str(stage): int(n) for stage, n in failures},
    }


def progress(database_url: str, prefix: str) -> tuple[int, list[str]]:
    """(bookings stored, external ids still pending: a version not applied, not failed)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT COUNT(*) FROM bookings WHERE external_id LIKE :p"),
                {"p": prefix + "-%"},
            ).scalar_one()
            pending = conn.execute(
                text(
                    "SELECT external_id FROM bookings WHERE external_id LIKE :p "
                    "AND applied_version < version AND state != 'failed' ORDER BY external_id"
                ),
                {"p": prefix + "-%"},
            ).scalars()
            return int(stored), [str(e) for e in pending]
    finally:
        engine.dispose()


def timelines(database_url: str, bookings: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each booking's row, intents and platform attempts in order (by external id)."""
    engine = create_engine(database_url)
    found: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as conn:
            for external in bookings:
                row = (
                    conn.execute(
                        text(
                            "SELECT id, state, version, applied_version FROM bookings "
                            "WHERE external_id = :e"
                        ),
                        {"e": external},
                    )
                    .mappings()
                    .first()
                )
                if row is None:
                    found[external] = {"booking": None}
                    continue
                intents = conn.execute(
                    text(
                        "SELECT id, version, operation, idempotency_key, started_at, finished_at, "
                        "outcome, event_id FROM sync_intents WHERE booking_id = :b ORDER BY id"
                    ),
                    {"b": row["id"]},
                ).mappings()
                attempts = conn.execute(
                    text(
                        "SELECT method, path, status, at FROM attempts WHERE booking_id = :b "
                        "ORDER BY id"
                    ),
                    {"b": row["id"]},
                ).mappings()
                links = conn.execute(
                    text("SELECT event_id FROM event_links WHERE booking_id = :b"),
                    {"b": row["id"]},
                ).all()
                found[external] = {
                    "booking": {k: _plain(v) for k, v in row.items()},
                    "links": [str(link[0]) for link in links],
                    "intents": [{k: _plain(v) for k, v in i.items()} for i in intents],
                    "attempts": [{k: _plain(v) for k, v in a.items()} for a in attempts],
                }
    finally:
        engine.dispose()
    return found


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str) else str(value)
