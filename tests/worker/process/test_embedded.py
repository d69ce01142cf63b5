"""The embedded broker (`bookwire up` without a broker URL) is private: its unix socket only, in
a directory no other user can enter, and no TCP port anyone on the machine could reach."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis
from kombu import Connection

from config.settings import Settings
from worker.process.embedded import start_valkey


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(home=tmp_path / "var")
    server = start_valkey(settings)
    try:
        yield settings
    finally:
        server.stop()


def valkey_process(settings: Settings) -> psutil.Process:
    """This broker's server (it runs in its data directory; the test session has its own)."""
    [found] = [
        p
        for p in psutil.Process().children()
        if "valkey" in p.name() and Path(p.cwd()) == settings.valkey_dir
    ]
    return found


def test_it_listens_on_no_tcp_port(embedded: Settings) -> None:
    assert valkey_process(embedded).net_connections(kind="inet") == []


def test_its_socket_is_for_this_user_only(embedded: Settings) -> None:
    assert stat.S_IMODE(embedded.valkey_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(embedded.valkey_socket.stat().st_mode) & 0o077 == 0


def test_celery_and_redis_py_reach_it_through_the_socket(embedded: Settings) -> None:
    client = redis.Redis.from_url(embedded.resolved_redis_url)
    assert client.ping()
    client.close()
    with Connection(embedded.resolved_broker_url) as connection:
        connection.ensure_connection(max_retries=1)
        queue = connection.SimpleQueue("bookwire-embedded-check")
        queue.put({"booking": 1})
        assert queue.get(timeout=5).payload == {"booking": 1}
        queue.close()
