"""Source health: is each tenant's source still delivering, and if not, close the gap.

Vendors give up on deliveries that keep failing and some disable the subscription (Calendly's
``state = "disabled"``, Pipedrive's ``is_active = 0``). For every tenant and source that has an
expectation (``expect_delivery_within`` in the tenants file) or a subscription API
(``integrations.subscriptions``) the sweep (beat task ``bookwire.check_sources``):

1. reads the last webhook delivery seen, one grouped query over the inbox (backfilled
   deliveries do not count: they are bookwire reading, not the vendor sending);
2. reads the subscription state where the vendor has an API for it;
3. a source that is **silent** (no delivery for longer than expected) or **disabled** gets one
   open ``source`` failure record per tenant and source (bumped while it lasts, resolved once
   the source is healthy again) and is counted in the ``bookwire_source_silent`` /
   ``bookwire_source_disabled`` gauges (labels: source slug only);
4. closes the gap itself: backfills the window from the last delivery seen (minus
   ``source_backfill_margin``) until now through ``worker.intake.backfill``, the same intake as a
   webhook, so nothing is created twice.

The last sweep's verdicts live in the broker (``HEALTH_KEY``) for the gauges and ``bookwire
status --sources``. Reasons and logs name tenants and sources by slug, never people.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.tenants import SourceConfig
from integrations import registry
from integrations.errors import BookwireError
from integrations.subscriptions import DISABLED, Reader, state_of
from worker.intake.backfill import backfill
from worker.runtime import Runtime
from worker.store.models import Delivery, Failure

log = logging.getLogger(__name__)
STAGE = "source"
HEALTH_KEY = "bookwire:source_health"  # field "<source>|<tenant>" -> the last verdict (JSON)
UNKNOWN = "unknown"  # the subscription could not be read this time


@dataclass(frozen=True)
class Verdict:
    """One tenant's source as the sweep judged it (slugs, times and states only)."""

    tenant: str
    source: str
    last_delivery: datetime | None
    expect_within: float | None  # seconds; None: no expectation
    subscription: str | None  # active, disabled, missing, unknown; None: no API for it
    checked_at: datetime

    @property
    def silent(self) -> bool:
        if self.expect_within is None:
            return False
        if self.last_delivery is None:
            return True
        return (self.checked_at - self.last_delivery).total_seconds() > self.expect_within

    @property
    def disabled(self) -> bool:
        return self.subscription == DISABLED

    @property
    def healthy(self) -> bool:
        return not (self.silent or self.disabled)

    def problem(self) -> str:
        """Why the source is unhealthy, for the failure record ('' when it is healthy)."""
        parts = []
        if self.disabled:
            parts.append(f"the {self.source} webhook subscription is disabled at the vendor")
        if self.silent:
            seen = (
                f"no delivery since {self.last_delivery.isoformat()}"
                if self.last_delivery
                else "no delivery ever recorded"
            )
            parts.append(f"{seen} (expected within {_human(self.expect_within or 0)})")
        return "; ".join(parts)


def last_deliveries(session: Session) -> dict[tuple[str, str], datetime]:
    """(tenant, source) -> when the vendor last delivered a webhook (one grouped query)."""
    rows = session.execute(
        select(Delivery.tenant, Delivery.source, func.max(Delivery.received_at))
        .where(Delivery.delivery_key.not_like("backfill:%"))
        .group_by(Delivery.tenant, Delivery.source)
    ).all()
    return {(tenant, source): _aware(at) for tenant, source, at in rows if at is not None}


def watched(rt: Runtime) -> Iterator[tuple[str, str, SourceConfig]]:
    """Every tenant's source with an expectation or a subscription API."""
    for tenant_id, tenant in sorted(rt.tenants.tenants.items()):
        for slug, source in sorted(tenant.sources.items()):
            if source.expected_silence_seconds is not None or _reader(slug, source):
                yield tenant_id, slug, source


def _reader(slug: str, source: SourceConfig) -> Reader | None:
    """How to read the subscription, if it can be read: the vendor has an API for it and the
    tenant gave the API token both readers need (a webhook-only tenant is not asked every
    check)."""
    connector = registry.connector(slug)
    if connector is None or "api_token" not in source.credentials:
        return None
    return connector.subscriptions


def judge(rt: Runtime, *, now: datetime, read_subscriptions: bool = True) -> list[Verdict]:
    """The verdict on every watched source (reads the vendors' subscription APIs)."""
    with rt.store.transaction() as session:
        seen = last_deliveries(session)
    verdicts = []
    for tenant, slug, source in watched(rt):
        subscription = None
        read = _reader(slug, source) if read_subscriptions else None
        if read is not None:
            subscription = _subscription(rt, tenant, slug, read, now=now)
        verdicts.append(
            Verdict(
                tenant=tenant,
                source=slug,
                last_delivery=seen.get((tenant, slug)),
                expect_within=source.expected_silence_seconds,
                subscription=subscription,
                checked_at=now,
            )
        )
    return verdicts


def sweep(rt: Runtime, *, now: datetime) -> int:
    """The beat task's run: judge every watched source, record, count and close the gaps.
    Returns how many sources are unhealthy."""
    unhealthy = 0
    verdicts = judge(rt, now=now)
    for verdict in verdicts:
        if verdict.healthy:
            _resolve(rt, verdict, now=now)
        else:
            unhealthy += 1
            _record(rt, verdict, f"{verdict.problem()}; {_close_gap(rt, verdict, now=now)}")
        _remember(rt, verdict)
    current = {f"{v.source}|{v.tenant}" for v in verdicts}
    gone = [n for n in rt.redis.hkeys(HEALTH_KEY) if _text(n) not in current]
    if gone:  # a source no longer watched (tenants file changed) leaves the gauges
        rt.redis.hdel(HEALTH_KEY, *gone)
    return unhealthy


def gap_start(verdict: Verdict, *, margin: float) -> datetime:
    """Where a backfill of this source's gap starts: its last delivery (else as far back as
    the expectation reaches) minus ``margin`` seconds."""
    anchor = verdict.last_delivery or verdict.checked_at - timedelta(
        seconds=verdict.expect_within or 0
    )
    return anchor - timedelta(seconds=margin)


def remembered(rt: Runtime) -> dict[tuple[str, str], dict[str, Any]]:
    """(tenant, source) -> the last sweep's verdict as stored (see ``HEALTH_KEY``)."""
    found = {}
    for name, value in rt.redis.hgetall(HEALTH_KEY).items():
        source, tenant = _text(name).split("|", 1)
        found[(tenant, source)] = json.loads(value)
    return found


def counts(rt: Runtime) -> dict[str, tuple[int, int]]:
    """source -> (tenants silent, tenants disabled) at the last sweep, for the gauges."""
    totals: dict[str, tuple[int, int]] = {}
    for (_tenant, source), verdict in remembered(rt).items():
        silent, disabled = totals.get(source, (0, 0))
        totals[source] = (silent + bool(verdict["silent"]), disabled + bool(verdict["disabled"]))
    return totals


def lines(rt: Runtime, *, now: datetime) -> list[str]:
    """``bookwire status --sources``: a line per watched tenant/source (no vendor calls: the
    subscription state is the last sweep's)."""
    stored = remembered(rt)
    found = []
    for verdict in judge(rt, now=now, read_subscriptions=False):
        last = stored.get((verdict.tenant, verdict.source), {})
        config = rt.tenants.tenants[verdict.tenant].sources[verdict.source]
        readable = _reader(verdict.source, config) is not None
        subscription = last.get("subscription") or ("not checked yet" if readable else "n/a")
        judged = replace(verdict, subscription=last.get("subscription"))
        seen = "never"
        if verdict.last_delivery is not None:
            ago = _human((now - verdict.last_delivery).total_seconds())
            seen = f"{verdict.last_delivery.isoformat()} ({ago} ago)"
        expect = _human(verdict.expect_within) if verdict.expect_within else "none"
        found.append(
            f"{verdict.tenant} {verdict.source}: last delivery {seen}, expected within {expect}, "
            f"subscription {subscription}: {'ok' if judged.healthy else judged.problem()}"
        )
    return found


def _close_gap(rt: Runtime, verdict: Verdict, *, now: datetime) -> str:
    """Backfill the source's gap; what happened, for the failure record."""
    since = gap_start(verdict, margin=rt.settings.source_backfill_margin)
    try:
        report = backfill(rt, verdict.source, verdict.tenant, since=since, now=now)
    except LookupError as exc:  # a source without a list API: the vendor must resend
        return f"not backfilled: {exc}"
    except BookwireError as exc:
        log.warning(
            "source gap backfill failed",
            extra={"tenant": verdict.tenant, "source": verdict.source, "why": type(exc).__name__},
        )
        return (
            f"backfill since {since.isoformat()} failed ({type(exc).__name__}); retried next check"
        )
    return (
        f"backfilled since {since.isoformat()}: {report.fetched} fetched, "
        f"{report.accepted} new, {report.duplicates} already recorded"
    )


def _subscription(rt: Runtime, tenant: str, source: str, read: Reader, *, now: datetime) -> str:
    try:
        context = rt.parse_context(tenant, source, now=now, with_http=True)
        found = read(context)
    except BookwireError as exc:
        log.warning(
            "subscription state not read",
            extra={"tenant": tenant, "source": source, "why": type(exc).__name__},
        )
        return UNKNOWN
    return state_of(found, source=source, tenant=tenant)


def _record(rt: Runtime, verdict: Verdict, reason: str) -> None:
    """Open, or bump, the one ``source`` failure of this tenant and source."""
    with rt.store.transaction() as session:
        failure = session.scalar(_open(verdict.tenant, verdict.source))
        if failure is None:
            session.add(
                Failure(
                    tenant=verdict.tenant,
                    source=verdict.source,
                    stage=STAGE,
                    reason=reason[:2000],
                    attempts=1,
                    first_seen=verdict.checked_at,
                    last_seen=verdict.checked_at,
                )
            )
        else:
            failure.reason = reason[:2000]
            failure.attempts += 1
            failure.last_seen = verdict.checked_at


def _resolve(rt: Runtime, verdict: Verdict, *, now: datetime) -> None:
    with rt.store.transaction() as session:
        for failure in session.scalars(_open(verdict.tenant, verdict.source)):
            failure.resolved_at = now


def _open(tenant: str, source: str) -> Any:
    return select(Failure).where(
        Failure.stage == STAGE,
        Failure.tenant == tenant,
        Failure.source == source,
        Failure.resolved_at.is_(None),
    )


def _remember(rt: Runtime, verdict: Verdict) -> None:
    value = {
        "subscription": verdict.subscription,
        "silent": verdict.silent,
        "disabled": verdict.disabled,
        "checked_at": verdict.checked_at.isoformat(),
    }
    rt.redis.hset(HEALTH_KEY, f"{verdict.source}|{verdict.tenant}", json.dumps(value))


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}".rstrip("0").rstrip(".") + unit
    return f"{seconds:.0f}s"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
