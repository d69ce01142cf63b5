"""The chaos run's load: bookings that change while they sync, every webhook delivered twice.

Run as ``python -m bench.chaos_load PLAN.json RESULTS.json`` (a process of its own, as
``bench.load``). Each booking is a short story of **stages** (``stages``): confirmed; for a
seeded share of bookings later rescheduled (new start and end, a later ``updated_at``); for
another share later cancelled. A booking's next stage is sent a few seconds after its previous
one was answered, while other bookings are still arriving, so changes interleave with the load.

Every delivery goes out twice with the same ``webhook-id``: for even bookings both copies at
once on two connections (a vendor's concurrent retry), for odd ones the second copy
``redeliver_after`` seconds later. A send that gets no answer, a 5xx or a 429 is retried (the
same delivery, signed again with a fresh timestamp, as Standard Webhooks senders do) until it
is answered, as a vendor keeps retrying. Each stage's ``updated_at`` is fixed by the plan, so
the booking's expected final state is known without the results: the last stage acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.load import Connection, booking_id
from integrations.generic.webhook import sign

ZONE = "America/New_York"
IDLE_SECONDS = 2.0  # a keep-alive connection idle longer is reopened (uvicorn closes at 5 s)


@dataclass(frozen=True)
class Plan:
    """What to send, where, how fast, and how bookings change."""

    targets: list[tuple[str, int]]
    tenant: str
    secret: str
    prefix: str
    bookings: int
    concurrency: int
    rate: float  # new bookings per second
    reschedule_share: float = 0.2
    cancel_share: float = 0.1
    change_after: tuple[float, float] = (1.0, 8.0)  # seconds between a booking's stages
    redeliver_after: float = 3.0  # seconds before the later duplicate copy
    seed: int = 1
    base: str = ""  # ISO time the plan was made; stage times derive from it
    max_tries: int = 200  # per delivery; 0.25-2 s apart, so minutes of outage are ridden out


@dataclass(frozen=True)
class Stage:
    """One state of a booking, as its webhook says it."""

    status: str  # confirmed | cancelled
    start: datetime
    end: datetime
    updated_at: datetime

    def body(self, booking: str) -> bytes:
        return json.dumps(
            {
                "booking_id": booking,
                "status": self.status,
                "title": "Chaos Night",
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "timezone": ZONE,
                "location": "Convention Center, New York",
                "customer": {"name": "Test Customer", "email": "customer@example.com"},
                "attendees": [],
                "updated_at": self.updated_at.isoformat(),
            }
        ).encode()


@dataclass
class Results:
    """Per delivery (``booking/stage``): statuses of every try of each copy."""

    started: float
    finished: float = 0.0
    acknowledged: dict[str, int] = field(default_factory=dict)  # booking -> last acked stage
    requests: int = 0
    retried: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)  # "booking/stage/copy" never acked


def stages(plan: Plan, index: int) -> list[Stage]:
    """Booking ``index``'s stages, the same on every call (seeded by plan and index)."""
    draw = random.Random(f"{plan.seed}:{index}")
    base = datetime.fromisoformat(plan.base)
    day = base.replace(hour=23, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start = day + timedelta(minutes=15 * draw.randrange(0, 8))
    story = [Stage("confirmed", start, start + timedelta(hours=4), base - timedelta(minutes=30))]
    if draw.random() < plan.reschedule_share:
        moved = day + timedelta(days=draw.randrange(1, 30), hours=draw.randrange(-9, 0))
        length = timedelta(minutes=30 * draw.randrange(2, 9))
        story.append(Stage("confirmed", moved, moved + length, story[-1].updated_at + _MINUTE))
    if draw.random() < plan.cancel_share:
        last = story[-1]
        story.append(Stage("cancelled", last.start, last.end, last.updated_at + _MINUTE))
    return story


_MINUTE = timedelta(minutes=1)


async def run(plan: Plan) -> Results:
    """Send every booking's stories, paced at ``plan.rate`` new bookings per second."""
    results = Results(started=time.time())
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for slot in range(plan.concurrency):
        pool.put_nowait(Connection(*plan.targets[slot % len(plan.targets)]))
    draw = random.Random(plan.seed)
    idle_since: dict[int, float] = {}

    async def send(booking: str, stage: int, body: bytes, copy: int) -> bool:
        msg_id = f"msg_{booking}-{stage}"
        for attempt in range(plan.max_tries):
            connection = await pool.get()
            try:
                if time.monotonic() - idle_since.get(id(connection), 0.0) > IDLE_SECONDS:
                    await connection.close()  # the server may have closed it: start afresh
                status, answer = await connection.request(_request(plan, connection, msg_id, body))
            finally:
                idle_since[id(connection)] = time.monotonic()
                pool.put_nowait(connection)
            results.requests += 1
            results.retried += attempt > 0
            results.statuses[str(status)] = results.statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                outcome = _outcome(answer)
                results.outcomes[outcome] = results.outcomes.get(outcome, 0) + 1
                return True
            if status and status < 500 and status != 429:
                break  # refused for good: a harness or configuration error, reported
            await asyncio.sleep(min(2.0, 0.25 * (attempt + 1)))
        results.unanswered.append(f"{booking}/{stage}/{copy}")
        return False

    async def story(index: int) -> None:
        booking = booking_id(plan.prefix, index)
        later: list[asyncio.Task[bool]] = []
        for n, stage in enumerate(stages(plan, index)):
            if n:
                await asyncio.sleep(draw.uniform(*plan.change_after))
            body = stage.body(booking)
            if index % 2 == 0:
                acked = any(
                    await asyncio.gather(send(booking, n, body, 0), send(booking, n, body, 1))
                )
            else:
                acked = await send(booking, n, body, 0)
                later.append(asyncio.create_task(_later(plan, send(booking, n, body, 1))))
            if not acked:
                break  # the vendor gave up on this delivery; later changes are never sent
            results.acknowledged[booking] = n
        await asyncio.gather(*later)

    started = time.perf_counter()
    tasks = []
    for index in range(plan.bookings):
        delay = started + index / plan.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(story(index)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        await pool.get_nowait().close()
    results.finished = time.time()
    return results


async def _later(plan: Plan, sending: Any) -> bool:
    await asyncio.sleep(plan.redeliver_after)
    return bool(await sending)


def _request(plan: Plan, connection: Connection, msg_id: str, body: bytes) -> bytes:
    now = datetime.now(UTC)
    head = (
        f"POST /webhooks/generic/{plan.tenant} HTTP/1.1\r\n"
        f"host: {connection.host}:{connection.port}\r\n"
        "content-type: application/json\r\n"
        f"webhook-id: {msg_id}\r\n"
        f"webhook-timestamp: {int(now.timestamp())}\r\n"
        f"webhook-signature: {sign(plan.secret, msg_id, now, body.decode())}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _outcome(body: bytes) -> str:
    try:
        value = json.loads(body).get("outcome") if body else None
    except (ValueError, AttributeError):
        return "unknown"
    return value if isinstance(value, str) else "unknown"


def load_plan(path: Path) -> Plan:
    raw: dict[str, Any] = json.loads(path.read_text("utf-8"))
    raw["targets"] = [(host, int(port)) for host, port in raw["targets"]]
    raw["change_after"] = tuple(raw["change_after"])
    return Plan(**raw)


def main(argv: list[str]) -> int:
    plan_file, results_file = Path(argv[0]), Path(argv[1])
    results = asyncio.run(run(load_plan(plan_file)))
    results_file.write_text(json.dumps(asdict(results)), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
