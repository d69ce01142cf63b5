"""``bookwire ingress``: the public webhook app and the ops app, two listeners in one process.

The webhook app listens on ``BOOKWIRE_INGRESS_HOST:PORT`` (public, behind the TLS proxy); the
ops app (``/metrics``, ``/healthz``, ``/readyz``: ``worker.ingress.probes``) on
``BOOKWIRE_OPS_HOST:PORT``, loopback by default. Both sockets are bound before anything is
served, so a taken port stops the command at once (``PortTaken``, exit code 3) naming the
setting to change. The ops server runs in a thread of its own
(signals belong to the public server, whose shutdown stores what is waiting in the inbox); it
stops when the public server has.

uvicorn closes a keep-alive connection idle for ``KEEP_ALIVE`` seconds; a body that does not
arrive in time is the app's 408 (``BOOKWIRE_INGRESS_BODY_TIMEOUT``). A client that stalls
while sending its headers is for the TLS proxy in front to cut (nginx ``client_header_timeout``).
"""

from __future__ import annotations

import socket
import threading

import uvicorn

from worker.ingress.app import create_app
from worker.ingress.probes import create_ops_app
from worker.runtime import Runtime

KEEP_ALIVE = 5  # seconds an idle keep-alive connection is kept


class PortTaken(Exception):
    """A listener's address could not be bound; the message names the setting to change."""


def serve(rt: Runtime) -> None:
    """Serve until SIGTERM or Ctrl-C; raises ``PortTaken`` before serving anything."""
    settings = rt.settings
    ops_socket = listen(settings.ops_host, settings.ops_port, "BOOKWIRE_OPS")
    try:
        public_socket = listen(settings.ingress_host, settings.ingress_port, "BOOKWIRE_INGRESS")
    except PortTaken:
        ops_socket.close()
        raise
    ops = uvicorn.Server(
        uvicorn.Config(
            create_ops_app(rt),
            lifespan="off",  # the public app's lifespan owns the inbox
            timeout_keep_alive=KEEP_ALIVE,
            log_level="warning",
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(
        target=ops.run, kwargs={"sockets": [ops_socket]}, name="ops-listener", daemon=True
    )
    thread.start()
    public = uvicorn.Server(
        uvicorn.Config(
            create_app(rt),
            timeout_keep_alive=KEEP_ALIVE,
            log_level="warning",
            log_config=None,  # ours (worker.telemetry.logs): JSON lines when BOOKWIRE_LOG_JSON=true
            access_log=False,
        )
    )
    try:
        public.run(sockets=[public_socket])
    finally:
        ops.should_exit = True
        thread.join(timeout=10)
        ops_socket.close()
        public_socket.close()


def listen(host: str, port: int, setting: str) -> socket.socket:
    """A listening socket on ``host:port``, or ``PortTaken`` naming ``setting``'s _PORT/_HOST."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortTaken(
            f"{host}:{port} could not be bound ({exc.strerror}): set {setting}_PORT to a free "
            f"port ({setting}_HOST for another address)"
        ) from None
    sock.listen(2048)  # uvicorn's own backlog
    return sock
