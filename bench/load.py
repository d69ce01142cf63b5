"""The load generator: signed booking webhooks over HTTP/1.1 keep-alive, in a process of its own.

Run by the benchmark as ``python -m bench.load PLAN.json RESULTS.json`` so its CPU never counts
against the system under test. The client is a minimal asyncio HTTP/1.1 client (one persistent
connection per concurrent sender, requests written as raw bytes): a general-purpose client would
spend more CPU on the shared machine than the ingress it measures.

Each booking gets a unique id and is signed (Standard Webhooks, the generic source) just before
it is sent; ``sent_at`` is the wall clock at that moment, which the report compares with the
platform's ``created_at`` for the end-to-end latency. With ``duplicate`` every delivery is sent
a second time, byte for byte (same ``webhook-id``), ``concurrency`` sends later, as a vendor's
redelivery would be. With ``rate`` the sends are paced at that many bookings per second instead
of as fast as ``concurrency`` allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from integrations.generic.webhook import sign


@dataclass(frozen=True)
class Plan:
    """What to send, where and how fast."""

    targets: list[tuple[str, int]]
    tenant: str
    secret: str
    prefix: str
    bookings: int
    concurrency: int
    duplicate: bool = False
    rate: float | None = None


@dataclass
class Sent:
    """One request and its answer (``status`` 0: the connection failed)."""

    booking: int
    copy: int
    sent_at: float
    latency: float
    status: int
    outcome: str | None = None


@dataclass
class Results:
    started: float
    finished: float
    sent: list[Sent] = field(default_factory=list)
    cpu_s: float = 0.0  # the generator's own CPU time, reported next to the stack's
    rss_peak_mb: float = 0.0


def booking_id(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}"


def booking_body(booking: str, now: datetime) -> bytes:
    """A confirmed generic booking: tomorrow evening in New York."""
    day = (now + timedelta(days=1)).date().isoformat()
    return json.dumps(
        {
            "booking_id": booking,
            "status": "confirmed",
            "title": "Summer Launch Party",
            "start": f"{day}T18:00:00-04:00",
            "end": f"{day}T22:00:00-04:00",
            "timezone": "America/New_York",
            "location": "Convention Center, New York",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "attendees": [],
            "updated_at": now.isoformat(),
        }
    ).encode()


def order(plan: Plan) -> list[tuple[int, int]]:
    """(booking, copy) in sending order; a second copy trails its first by ``concurrency``."""
    if not plan.duplicate:
        return [(i, 0) for i in range(plan.bookings)]
    lag = max(1, plan.concurrency)
    sequence: list[tuple[int, int]] = []
    for i in range(plan.bookings):
        sequence.append((i, 0))
        if i >= lag:
            sequence.append((i - lag, 1))
    sequence += [(i, 1) for i in range(max(0, plan.bookings - lag), plan.bookings)]
    return sequence


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects after a failure or ``Connection: close``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(raw)
            await self._writer.drain()
            head = await self._reader.readuntil(b"\r\n\r\n")
            status, length, close = _parse_head(head)
            body = await self._reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            await self.close()
            return 0, b""
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    return status, length, close


def _request(plan: Plan, target: tuple[str, int], booking: str, msg_id: str) -> bytes:
    now = datetime.now(UTC)
    body = booking_body(booking, now)
    signature = sign(plan.secret, msg_id, now, body.decode())
    head = (
        f"POST /webhooks/generic/{plan.tenant} HTTP/1.1\r\n"
        f"host: {target[0]}:{target[1]}\r\n"
        "content-type: application/json\r\n"
        f"webhook-id: {msg_id}\r\n"
        f"webhook-timestamp: {int(now.timestamp())}\r\n"
        f"webhook-signature: {signature}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def run(plan: Plan) -> Results:
    """Send every booking (and copy) and record what each request got back."""
    sequence = order(plan)
    results = Results(started=time.time(), finished=0.0)
    first: dict[int, bytes] = {}
    queue: asyncio.Queue[tuple[int, int] | None] = asyncio.Queue()

    async def sender(slot: int) -> None:
        target = plan.targets[slot % len(plan.targets)]
        connection = Connection(*target)
        while (item := await queue.get()) is not None:
            index, copy = item
            raw = first.get(index) if copy else None
            if raw is None:
                booking = booking_id(plan.prefix, index)
                raw = _request(plan, target, booking, f"msg_{booking}")
                first[index] = raw
            sent_at, clock = time.time(), time.perf_counter()
            status, body = await connection.request(raw)
            latency = time.perf_counter() - clock
            results.sent.append(Sent(index, copy, sent_at, latency, status, _outcome(body)))
            if copy:
                first.pop(index, None)
        await connection.close()

    senders = [asyncio.create_task(sender(slot)) for slot in range(plan.concurrency)]
    await _feed(queue, sequence, plan)
    for _ in senders:
        queue.put_nowait(None)
    await asyncio.gather(*senders)
    results.finished = time.time()
    return results


async def _feed(
    queue: asyncio.Queue[tuple[int, int] | None], sequence: list[tuple[int, int]], plan: Plan
) -> None:
    if not plan.rate:
        for item in sequence:
            queue.put_nowait(item)
        return
    # Paced: bookings (not requests) per second; a duplicate goes out with the booking due then.
    start = time.perf_counter()
    for due, batch in _paced(sequence, plan.rate, start):
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for item in batch:
            queue.put_nowait(item)


def _paced(
    sequence: list[tuple[int, int]], rate: float, start: float
) -> Iterator[tuple[float, list[tuple[int, int]]]]:
    firsts = 0
    batch: list[tuple[int, int]] = []
    for item in sequence:
        batch.append(item)
        if item[1] == 0:
            yield start + firsts / rate, batch
            firsts += 1
            batch = []
    if batch:
        yield start + firsts / rate, batch


def _outcome(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("outcome") if body else None
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def load_plan(path: Path) -> Plan:
    raw: dict[str, Any] = json.loads(path.read_text("utf-8"))
    raw["targets"] = [(host, int(port)) for host, port in raw["targets"]]
    return Plan(**raw)


def main(argv: list[str]) -> int:
    plan_file, results_file = Path(argv[0]), Path(argv[1])
    results = asyncio.run(run(load_plan(plan_file)))
    results.cpu_s = time.process_time()
    results.rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results_file.write_text(json.dumps(asdict(results)), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
