"""Alert groups opened once, rate-limited, and delivered exactly once per group episode.

Beat runs ``bookwire.send_alerts`` every ``alert_interval`` seconds; nothing happens unless
``alert_url`` is set. One run, under one broker lock (a second run at the same time does
nothing):

1. **Observe**: ``rules.evaluate`` lists the groups alert-worthy now. A group with no open
   ``alerts`` row gets one (its ``open_key`` is the group key and unique: inserted
   idempotently); an open row whose group is gone is closed (``open_key`` NULL). A group that
   stays open never alerts again; one that closes and comes back is a new episode and alerts
   again. There is no re-notify timer: an open group is in ``bookwire failures`` / ``status``.
2. **Compose**: the rows not yet on their way get a message key, the sink's dedupe key
   (``webhook-id``), committed before any send. At most ``alert_rate_limit`` messages per
   ``alert_rate_window`` seconds (sent in the window, or composed and not sent yet); when
   more rows wait than the budget leaves, the last message folds all the rest into one ("and
   K more"); with no budget left they wait for the next run, never dropped.
3. **Send**: each unsent message is leased (a conditional UPDATE: one sender), posted, and
   marked sent after the sink's 2xx. A failure releases the lease and keeps ``last_error``;
   the next run sends the same message, with the same key, again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from datetime import datetime, timedelta

from redis.exceptions import LockError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from integrations.alert_sink.client import AlertItem, AlertMessage, AlertSink
from integrations.errors import BookwireError
from worker.alerts import rules
from worker.alerts.rules import Alert
from worker.runtime import Runtime
from worker.store.db import upsert_insert
from worker.store.models import AlertRow

log = logging.getLogger(__name__)
LOCK_KEY = "bookwire:alerts:lock"


def run(rt: Runtime, *, now: datetime) -> int:
    """One alert run; returns how many messages reached the sink (0 with no sink set)."""
    settings = rt.settings
    if not settings.alert_url:
        return 0
    hold = max(60.0, settings.alert_rate_limit * settings.http_timeout * 1.5 + 30)
    lock = rt.redis.lock(LOCK_KEY, timeout=hold, blocking=False)
    if not lock.acquire():
        return 0  # another run is at it
    try:
        observe(rt, rules.evaluate(rt, now=now), now=now)
        compose(rt, now=now)
        return deliver(rt, sink(rt), now=now)
    finally:
        with contextlib.suppress(LockError):  # expired under a slow sink: the leases hold
            lock.release()


def sink(rt: Runtime) -> AlertSink:
    settings = rt.settings
    assert settings.alert_url is not None
    secret = settings.alert_secret.get_secret_value() if settings.alert_secret else None
    return AlertSink(settings.alert_url, settings.alert_format, rt.http, secret=secret)


def observe(rt: Runtime, alerts: list[Alert], *, now: datetime) -> None:
    """Open a row for each new group, close the rows of groups that are gone, and keep the
    counts of rows not yet on their way current."""
    current = {alert.group: alert for alert in alerts}
    with rt.store.transaction() as session:
        rows = session.scalars(select(AlertRow).where(AlertRow.open_key.is_not(None))).all()
        opened = {row.open_key for row in rows}
        for row in rows:
            alert = current.get(row.group_key)
            if alert is None:
                row.open_key, row.closed_at = None, now
            elif row.message_key is None:
                row.title, row.text, row.command = alert.title, alert.text, alert.command
                row.count = alert.count
        new = [alert for group, alert in sorted(current.items()) if group not in opened]
        if new:
            _open(session, new, now=now)


def compose(rt: Runtime, *, now: datetime) -> int:
    """Give waiting rows their message keys within the rate limit; returns messages made."""
    settings = rt.settings
    since = now - timedelta(seconds=settings.alert_rate_window)
    with rt.store.transaction() as session:
        used = session.scalar(
            select(func.count(func.distinct(AlertRow.message_key))).where(
                AlertRow.message_key.is_not(None),
                or_(AlertRow.sent_at.is_(None), AlertRow.sent_at >= since),
            )
        )
        budget = settings.alert_rate_limit - (used or 0)
        waiting = session.scalars(
            select(AlertRow).where(AlertRow.message_key.is_(None)).order_by(AlertRow.id)
        ).all()
        if budget <= 0 or not waiting:
            if waiting:
                log.info("alerts held by the rate limit", extra={"count": len(waiting)})
            return 0
        singles = waiting if len(waiting) <= budget else waiting[: budget - 1]
        folded = waiting[len(singles) :]
        for row in singles:
            row.message_key = _key(f"{row.group_key}|{row.opened_at.isoformat()}|{row.id}")
            row.composed_at = now
        if folded:
            key = _key("folded|" + "|".join(f"{row.group_key}|{row.id}" for row in folded))
            for row in folded:
                row.message_key, row.composed_at = key, now
        return len(singles) + bool(folded)


def deliver(rt: Runtime, to: AlertSink, *, now: datetime) -> int:
    """Send every composed, unsent message once; returns how many the sink took."""
    with rt.store.read() as conn:
        keys = (
            conn.execute(
                select(AlertRow.message_key)
                .where(AlertRow.message_key.is_not(None), AlertRow.sent_at.is_(None))
                .group_by(AlertRow.message_key)
                .order_by(func.min(AlertRow.id))
            )
            .scalars()
            .all()
        )
    sent = 0
    for key in keys:
        assert key is not None
        message = _claim(rt, key, now=now)
        if message is None:
            continue  # another sender holds it, or it was sent since
        try:
            to.send(message)
        except BookwireError as exc:
            _release(rt, key, str(exc)[:500] or type(exc).__name__)
            extra = {"error": type(exc).__name__, "count": len(message.alerts)}
            log.warning("alert not sent; the next run sends it again", extra=extra)
            continue
        except BaseException:
            _release(rt, key, "interrupted")
            raise
        _mark_sent(rt, key, now=now)
        log.info("alert sent", extra={"count": len(message.alerts)})
        sent += 1
    return sent


def _open(session: Session, alerts: list[Alert], *, now: datetime) -> None:
    insert = upsert_insert(session.get_bind().dialect.name)
    values = [
        {
            "group_key": alert.group,
            "open_key": alert.group,
            "kind": alert.kind,
            "tenant": alert.tenant,
            "title": alert.title,
            "text": alert.text,
            "command": alert.command,
            "count": alert.count,
            "opened_at": alert.since,
            "attempts": 0,
        }
        for alert in alerts
    ]
    session.execute(insert(AlertRow).values(values).on_conflict_do_nothing())


def _claim(rt: Runtime, key: str, *, now: datetime) -> AlertMessage | None:
    lease = timedelta(seconds=max(60.0, 6 * rt.settings.http_timeout))
    with rt.store.transaction() as session:
        claimed = session.execute(
            update(AlertRow)
            .where(
                AlertRow.message_key == key,
                AlertRow.sent_at.is_(None),
                or_(AlertRow.lease_until.is_(None), AlertRow.lease_until < now),
            )
            .values(lease_until=now + lease, attempts=AlertRow.attempts + 1)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        rows = session.scalars(
            select(AlertRow).where(AlertRow.message_key == key).order_by(AlertRow.id)
        ).all()
        items = tuple(
            AlertItem(
                group=row.group_key,
                kind=row.kind,
                tenant=row.tenant,
                title=row.title,
                text=row.text,
                command=row.command,
                count=row.count,
                opened_at=row.opened_at,
            )
            for row in rows
        )
        composed = min(row.composed_at or now for row in rows)
        return AlertMessage(key=key, composed_at=composed, alerts=items, folded=len(items) > 1)


def _release(rt: Runtime, key: str, reason: str) -> None:
    with rt.store.transaction() as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.message_key == key, AlertRow.sent_at.is_(None))
            .values(lease_until=None, last_error=reason)
        )


def _mark_sent(rt: Runtime, key: str, *, now: datetime) -> None:
    with rt.store.transaction() as session:
        session.execute(
            update(AlertRow)
            .where(AlertRow.message_key == key)
            .values(sent_at=now, lease_until=None, last_error=None)
        )


def _key(seed: str) -> str:
    """A message key: stable for its rows, so every retry is recognisably the same message."""
    return "bwa_" + hashlib.sha256(seed.encode()).hexdigest()[:32]
