"""What is alert-worthy right now, as one ``Alert`` per group (tenant and cause).

Every rule reads a fact another wing already keeps; none judges anything itself:

- ``failure:<tenant>:<stage>:<source>``: open failure records at ``parse``, ``fetch``,
  ``sync`` or ``overdue`` (``worker.records.failures``), one group per tenant, stage and
  source, with how many and the command that replays them;
- ``drift:<tenant>:<kind>``: drift the last reconcile found (``worker.sync.reconcile``'s
  counts in the broker, the same the ``bookwire_drift_items`` gauge serves);
- ``source:<tenant>:<source>:silent`` / ``…:disabled``: the last source health sweep's
  verdict (``worker.intake.source_health``);
- ``handoff:<tenant>:missing``: events that ended with no album handed off: hand-offs that
  gave up (open ``portal`` failures) or still not handed off ``alert_handoff_after_hours``
  after they were due.

A group is alert-worthy while its cause lasts (``count`` > 0); ``worker.alerts.send`` alerts
when it appears and again only after it went away and came back. Titles and texts carry
tenant ids, slugs, kinds, counts and times: never a failure's reason (an outside system's
words), never people.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from worker.intake import source_health
from worker.runtime import Runtime
from worker.store.models import Failure, HandOff
from worker.sync.reconcile import DRIFT_KEY

Kind = Literal["failure", "drift", "source", "handoff"]
FAILURE_STAGES = ("parse", "fetch", "sync", "overdue")
_WHAT = {
    "parse": "a delivery that does not parse, quarantined",
    "fetch": "a thin delivery whose look-ups failed",
    "sync": "a booking whose event could not be made",
    "overdue": "a booking with no event in time",
}


@dataclass(frozen=True)
class Alert:
    """One alert group as it stands now: the cause in one line, how many, and what to run."""

    group: str
    kind: Kind
    tenant: str
    title: str
    text: str
    command: str
    count: int
    since: datetime  # when its cause was first seen (now, where no one recorded it)


def evaluate(rt: Runtime, *, now: datetime) -> list[Alert]:
    """Every group that is alert-worthy at ``now``."""
    return [
        *failures(rt, now=now),
        *drift(rt, now=now),
        *sources(rt, now=now),
        *handoffs(rt, now=now),
    ]


def failures(rt: Runtime, *, now: datetime) -> list[Alert]:
    """Open failure records, one group per tenant, stage and source (one grouped query)."""
    query = (
        select(
            Failure.tenant,
            Failure.stage,
            Failure.source,
            func.count(),
            func.min(Failure.id),
            func.min(Failure.first_seen),
        )
        .where(Failure.resolved_at.is_(None), Failure.stage.in_(FAILURE_STAGES))
        .group_by(Failure.tenant, Failure.stage, Failure.source)
    )
    with rt.store.read() as conn:
        rows = conn.execute(query).all()
    found = []
    for tenant, stage, source, count, first_id, first_seen in rows:
        filters = f"--tenant {tenant} --stage {stage} --source {source}"
        command = (
            f"bookwire replay --failure {first_id}"
            if count == 1
            else f"bookwire replay --matching {filters}"
        )
        since = _aware(first_seen, now)
        found.append(
            Alert(
                group=f"failure:{tenant}:{stage}:{source}",
                kind="failure",
                tenant=tenant,
                title=f"{tenant}: {count} open {stage} failure{_s(count)} ({source})",
                text=(
                    f"Tenant {tenant}, source {source}: {count} open {stage} failure{_s(count)} "
                    f"({_WHAT[stage]}), the first seen {_iso(since)}. Inspect: bookwire failures "
                    f"{filters}"
                ),
                command=command,
                count=count,
                since=since,
            )
        )
    return found


def drift(rt: Runtime, *, now: datetime) -> list[Alert]:
    """Drift items the last reconcile of each tenant found, one group per tenant and kind."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    platforms: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, value in rt.redis.hgetall(DRIFT_KEY).items():
        platform, kind, tenant = _text(name).split("|", 2)
        if int(value) > 0:
            counts[(tenant, kind)] += int(value)
            platforms[(tenant, kind)].add(platform)
    found = []
    for (tenant, kind), count in sorted(counts.items()):
        on = ", ".join(sorted(platforms[(tenant, kind)]))
        found.append(
            Alert(
                group=f"drift:{tenant}:{kind}",
                kind="drift",
                tenant=tenant,
                title=f"{tenant}: {count} {kind} drift item{_s(count)} on {on}",
                text=(
                    f"Tenant {tenant}: the last reconcile found {count} event{_s(count)} on "
                    f"{on} that differ from the bookings ({kind}). Inspect: bookwire status "
                    f"--drift; converge: bookwire reconcile --tenant {tenant} --repair"
                ),
                command=f"bookwire reconcile --tenant {tenant} --repair",
                count=count,
                since=now,
            )
        )
    return found


def sources(rt: Runtime, *, now: datetime) -> list[Alert]:
    """Sources the last health sweep found silent or disabled, one group per problem."""
    found = []
    for (tenant, source), verdict in sorted(source_health.remembered(rt).items()):
        checked = verdict.get("checked_at") or _iso(now)
        if verdict.get("silent"):
            found.append(
                Alert(
                    group=f"source:{tenant}:{source}:silent",
                    kind="source",
                    tenant=tenant,
                    title=f"{tenant}: source {source} is silent",
                    text=(
                        f"Tenant {tenant}: no {source} webhook delivery for longer than "
                        f"expected (checked {checked}); the gap is backfilled where {source} "
                        "has a list API."
                    ),
                    command="bookwire status --sources",
                    count=1,
                    since=now,
                )
            )
        if verdict.get("disabled"):
            url = rt.settings.public_base_url
            found.append(
                Alert(
                    group=f"source:{tenant}:{source}:disabled",
                    kind="source",
                    tenant=tenant,
                    title=f"{tenant}: the {source} webhook subscription is disabled",
                    text=(
                        f"Tenant {tenant}: {source} disabled the webhook subscription (checked "
                        f"{checked}). Inspect: bookwire status --sources; register it again: "
                        f"bookwire connect {source} --tenant {tenant} --url {url}"
                    ),
                    command=f"bookwire connect {source} --tenant {tenant} --url {url}",
                    count=1,
                    since=now,
                )
            )
    return found


def handoffs(rt: Runtime, *, now: datetime) -> list[Alert]:
    """Per tenant: hand-offs that gave up, and hand-offs still not done long after due."""
    late = now - timedelta(hours=rt.settings.alert_handoff_after_hours)
    with rt.store.read() as conn:
        failed = conn.execute(
            select(Failure.tenant, func.count(), func.min(Failure.first_seen))
            .where(Failure.resolved_at.is_(None), Failure.stage == "portal")
            .group_by(Failure.tenant)
        ).all()
        overdue = conn.execute(
            select(HandOff.tenant, func.count(), func.min(HandOff.due_at))
            .where(HandOff.state.in_(("pending", "sending")), HandOff.due_at < late)
            .group_by(HandOff.tenant)
        ).all()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    first: dict[str, datetime] = {}
    for index, rows in enumerate((failed, overdue)):
        for tenant, count, since in rows:
            counts[tenant][index] += count
            at = _aware(since, now)
            first[tenant] = min(first.get(tenant, at), at)
    found = []
    for tenant, (gave_up, waiting) in sorted(counts.items()):
        count = gave_up + waiting
        hours = f"{rt.settings.alert_handoff_after_hours:g}"
        found.append(
            Alert(
                group=f"handoff:{tenant}:missing",
                kind="handoff",
                tenant=tenant,
                title=f"{tenant}: {count} ended event{_s(count)} with no album handed off",
                text=(
                    f"Tenant {tenant}: {gave_up} hand-off{_s(gave_up)} to the portal gave up, "
                    f"{waiting} still not handed off {hours} h after due. Inspect: bookwire "
                    f"failures --tenant {tenant} --stage portal"
                ),
                command=f"bookwire replay --matching --tenant {tenant} --stage portal",
                count=count,
                since=first[tenant],
            )
        )
    return found


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(value: datetime, now: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=now.tzinfo)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
