"""The ingress's inbox writer: deliveries waiting are recorded in one transaction (group commit),
each request answered with its own receipt; one refused delivery never fails the rest, and a
store outage answers 503 without stopping the writer."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

import httpx
import pytest
import redis
from sqlalchemy import create_engine, func, make_url, select, text

from config.settings import Settings
from integrations import registry
from integrations.connector import WebhookRequest
from tests.support import ServerThread, booking, signed, wait_for
from worker.ingress.app import create_app
from worker.ingress.inbox import InboxWriter
from worker.intake import record as intake
from worker.runtime import Runtime
from worker.store.db import _normalise
from worker.store.migrate import migrate
from worker.store.models import Booking, Delivery


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{url}/webhooks/generic/acme", content=body, headers=headers, timeout=30)


def post_all(url: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> list[httpx.Response]:
    with concurrent.futures.ThreadPoolExecutor(len(deliveries)) as pool:
        return list(pool.map(lambda d: post(url, *d), deliveries))


def queued_bookings(runtime: Runtime) -> list[list[int]]:
    """The booking ids of each sync task waiting on the broker, one list per message."""
    client = redis.Redis.from_url(runtime.settings.resolved_redis_url)
    batches: list[list[int]] = []
    for raw in client.lrange("bookwire", 0, -1):
        message = json.loads(raw)
        args = json.loads(base64.b64decode(message["body"]))[0]
        task = message["headers"]["task"]
        assert task in ("bookwire.sync_booking", "bookwire.sync_bookings"), task
        batches.append(list(args[0]) if task == "bookwire.sync_bookings" else [args[0]])
    return batches


@contextmanager
def sqlite_write_locked(settings: Settings) -> Iterator[None]:
    """Hold SQLite's write lock from another connection: the writer's next transaction waits
    (its busy timeout) and every delivery arriving meanwhile joins the group after it."""
    path = make_url(settings.resolved_database_url).database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("COMMIT")
    finally:
        other.close()


def arrival(rt: Runtime, body: dict[str, object]) -> intake.Arrival:
    raw, headers = signed(body)
    return intake.prepare(
        rt,
        tenant="acme",
        source="generic",
        request=WebhookRequest("POST", "http://127.0.0.1/webhooks/generic/acme", headers, raw),
        connector=registry.SOURCES["generic"],
        now=datetime.now(UTC),
    )


def test_concurrent_webhooks_each_get_their_own_receipt(
    runtime: Runtime, settings: Settings, ingress: ServerThread
) -> None:
    sent = {f"grp-{i}": signed(booking(f"grp-{i}", title=f"Party {i}")) for i in range(40)}
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        with sqlite_write_locked(settings):
            answers_later = background.submit(post_all, ingress.url, list(sent.values()))
            threading.Event().wait(1.0)  # the requests pile up behind the lock
        answers = dict(zip(sent, answers_later.result(timeout=30), strict=True))

    assert {a.status_code for a in answers.values()} == {202}
    assert {a.json()["outcome"] for a in answers.values()} == {"accepted"}
    inbox_ids = {name: a.json()["inbox_id"] for name, a in answers.items()}
    assert len(set(inbox_ids.values())) == 40
    with runtime.store.transaction() as session:
        for name, inbox_id in inbox_ids.items():
            delivery = session.get(Delivery, inbox_id)
            assert delivery is not None and delivery.body == sent[name][0]
            assert delivery.headers["webhook-id"] == sent[name][1]["webhook-id"]
            stored = session.scalar(select(Booking).where(Booking.external_id == name))
            assert stored is not None and stored.last_delivery_id == inbox_id
            assert stored.message["title"] == f"Party {name.split('-')[1]}"
        ids = set(session.scalars(select(Booking.id)))
    batches = queued_bookings(runtime)
    assert sorted(b for batch in batches for b in batch) == sorted(ids)  # each queued once
    assert max(len(batch) for batch in batches) > 1  # the waiting deliveries went as a group


def test_same_delivery_ten_times_at_once_is_accepted_once(
    runtime: Runtime, settings: Settings, ingress: ServerThread
) -> None:
    delivery = signed(booking("dup-1"))
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        with sqlite_write_locked(settings):
            answers_later = background.submit(post_all, ingress.url, [delivery] * 10)
            threading.Event().wait(0.5)
        answers = answers_later.result(timeout=30)

    assert {a.status_code for a in answers} == {202}
    assert sorted(a.json()["outcome"] for a in answers) == ["accepted"] + ["duplicate"] * 9
    assert len({a.json()["inbox_id"] for a in answers}) == 1
    with runtime.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 1
        [booking_id] = session.scalars(select(Booking.id)).all()
    assert queued_bookings(runtime) == [[booking_id]]


def test_a_request_given_up_on_does_not_stop_the_writer(
    runtime: Runtime, settings: Settings
) -> None:
    writer = InboxWriter(runtime)

    async def scenario() -> intake.Receipt:
        with sqlite_write_locked(settings):
            first = asyncio.ensure_future(writer.record(arrival(runtime, booking("cx-1"))))
            await asyncio.sleep(0.3)  # the writer waits on the lock with cx-1
            gone = asyncio.ensure_future(writer.record(arrival(runtime, booking("cx-2"))))
            await asyncio.sleep(0.1)
            gone.cancel()  # e.g. a timeout or a server that cancels on client disconnect
        assert (await first).outcome == "accepted"
        return await asyncio.wait_for(writer.record(arrival(runtime, booking("cx-3"))), 3)

    try:
        later = asyncio.run(scenario())
    finally:
        writer.stop()
    assert later.outcome == "accepted"


# -- PostgreSQL ------------------------------------------------------------------------------


@contextmanager
def pg_runtime(settings: Settings, runtime: Runtime, url: str) -> Iterator[Runtime]:
    rt = Runtime(settings.model_copy(update={"database_url": url}), tenants=runtime.tenants)
    migrate(rt.store)
    try:
        yield rt
    finally:
        rt.close()


def test_a_delivery_postgres_refuses_is_quarantined_and_does_not_fail_its_group(
    settings: Settings, runtime: Runtime, empty_database: str
) -> None:
    with pg_runtime(settings, runtime, empty_database) as rt:
        # PostgreSQL text cannot hold NUL; SQLite would store it, so this refusal is real only here
        refused = arrival(rt, booking("pg-bad\x00id"))
        assert refused.error is None and refused.messages  # the parser let it through
        good = [arrival(rt, booking(f"pg-{i}")) for i in range(4)]
        group = [*good[:2], refused, *good[2:]]
        writer = InboxWriter(rt)
        admin = create_engine(_normalise(empty_database), isolation_level="AUTOCOMMIT")
        locker = admin.connect()

        def writer_waits_on_lock() -> bool:
            with admin.connect() as conn:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
                return bool(waiting.scalar())

        async def scenario() -> tuple[intake.Receipt, list[intake.Receipt | BaseException]]:
            # the writer is stuck on a locked table while the group gathers behind it
            locker.execute(text("BEGIN"))
            locker.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))
            first = asyncio.ensure_future(writer.record(arrival(rt, booking("pg-first"))))
            await asyncio.to_thread(wait_for, writer_waits_on_lock, timeout=10, every=0.02)
            together = asyncio.gather(*(writer.record(a) for a in group), return_exceptions=True)
            await asyncio.sleep(0.2)
            locker.execute(text("COMMIT"))
            return await first, await together

        try:
            first, receipts = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
        finally:
            writer.stop()
            locker.close()
            admin.dispose()

        assert first.outcome == "accepted"
        results = dict(zip(["g0", "g1", "refused", "g2", "g3"], receipts, strict=True))
        kept = results.pop("refused")
        # kept as quarantined with the reason, like a delivery that does not parse (a 422, and
        # replayable), not a 503 the vendor would retry forever
        assert isinstance(kept, intake.Receipt) and kept.outcome == "quarantined"
        assert kept.reason is not None and "store refused" in kept.reason
        answered = [r for r in results.values() if isinstance(r, intake.Receipt)]
        assert [r.outcome for r in answered] == ["accepted"] * 4
        with rt.store.transaction() as session:
            rows = session.execute(select(Booking.external_id, Booking.last_delivery_id))
            stored = {row.external_id: row.last_delivery_id for row in rows}
            assert session.scalar(select(func.count()).select_from(Delivery)) == 6
            quarantined = session.get(Delivery, kept.delivery_id)
            assert quarantined is not None and quarantined.status == "quarantined"
        assert stored == {
            "pg-first": first.delivery_id,
            **{f"pg-{i}": r.delivery_id for i, r in enumerate(answered)},
        }


class TcpProxy:
    """A real loopback TCP hop in front of PostgreSQL that can be cut and restored (an outage
    of the database as the ingress sees it)."""

    def __init__(self, upstream: socket.AddressFamily, address: object) -> None:
        self.upstream, self.address = upstream, address
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        for sock in [listener, *sockets]:
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.socket(self.upstream, socket.SOCK_STREAM)
            server.connect(self.address)  # type: ignore[arg-type]
            with self._lock:
                self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def through_proxy(url: str) -> tuple[TcpProxy, str]:
    """A proxy to the database of ``url`` and the URL that goes through it."""
    parsed = make_url(_normalise(url))
    socket_dir = parsed.query.get("host")
    port = parsed.port or 5432
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        proxy = TcpProxy(socket.AF_UNIX, f"{socket_dir}/.s.PGSQL.{port}")
    else:
        proxy = TcpProxy(socket.AF_INET, (parsed.host or "127.0.0.1", port))
    proxy.start()
    query = {k: v for k, v in parsed.query.items() if k != "host"}
    proxied = parsed.set(host="127.0.0.1", port=proxy.port, query=query)
    return proxy, proxied.render_as_string(hide_password=False)


def test_store_down_answers_503_to_all_and_the_writer_recovers(
    settings: Settings, runtime: Runtime, empty_database: str
) -> None:
    proxy, url = through_proxy(empty_database)
    try:
        with pg_runtime(settings, runtime, url) as rt, ServerThread(create_app(rt)) as ingress:
            assert post(ingress.url, *signed(booking("down-0"))).status_code == 202
            proxy.cut()
            during = [signed(booking(f"down-{i}")) for i in range(1, 9)]
            answers = post_all(ingress.url, during)
            assert [a.status_code for a in answers] == [503] * 8
            assert {a.headers["retry-after"] for a in answers} == {"5"}

            proxy.start()  # the database is back, on the same address
            after = post(ingress.url, *signed(booking("down-9")))
            assert after.status_code == 202 and after.json()["outcome"] == "accepted"
            # the vendor's retry of a delivery answered 503 is new to us: nothing was half-stored
            retried = post(ingress.url, *during[0])
            assert retried.status_code == 202 and retried.json()["outcome"] == "accepted"
            with rt.store.transaction() as session:
                stored = set(session.scalars(select(Booking.external_id)))
            assert stored == {"down-0", "down-1", "down-9"}
    finally:
        proxy.cut()
