"""Engine and sessions for SQLite (WAL, busy timeout) or PostgreSQL, from one URL."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker


class Store:
    """The database: one engine per process, short transactions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = _normalise(url)
        self.engine: Engine = _engine(self.url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Threads of one process that race for it lose to
        # SQLite's busy handler, which sleeps with backoff (up to 100 ms a round): the ingest
        # latency tail in the benchmark. Taking turns in-process first removes that wait; other
        # processes still meet at SQLite's lock. PostgreSQL needs no such thing.
        self._writer: contextlib.AbstractContextManager[object] = (
            threading.RLock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one committed-or-rolled-back transaction."""
        with self._writer, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (Core). On SQLite a plain deferred ``BEGIN``: in WAL mode a
        reader neither takes nor waits for the write lock, so reads never queue behind writers."""
        with self.engine.connect() as conn:
            conn.execution_options(bookwire_read=True)
            with conn.begin():
                yield conn

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def dispose(self) -> None:
        self.engine.dispose()


def upsert_insert(dialect: str) -> Any:
    """The dialect's ``insert`` construct, the one with ``ON CONFLICT`` (SQLite, PostgreSQL)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _normalise(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _engine(url: str, pool_size: int) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _immediate(conn: Any) -> None:
            # Writers take the write lock up front: no deadlock-prone lock upgrades between
            # writers. Store.read() transactions read a snapshot without it.
            reading = conn.get_execution_options().get("bookwire_read", False)
            conn.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
