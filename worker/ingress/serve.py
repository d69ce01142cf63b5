"""``bookwire ingress``: the public webhook app and the ops app, two listeners in one process.

The webhook app listens on ``BOOKWIRE_INGRESS_HOST:PORT`` (public, behind the TLS proxy); the
ops app (``/metrics``, ``/healthz``, ``/readyz``: ``worker.ingress.probes``) on
``BOOKWIRE_OPS_HOST:PORT``, loopback by default. The ops socket is bound first, so a taken ops
port stops the command before it serves anything. The ops server runs in a thread of its own
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


class OpsPortTaken(Exception):
    """The ops listener's address could not be bound; the message names the setting to change."""


def serve(rt: Runtime) -> None:
    """Serve until SIGTERM or Ctrl-C; raises ``OpsPortTaken`` before serving anything."""
    ops_socket = bind_ops(rt.settings.ops_host, rt.settings.ops_port)
    ops = uvicorn.Server(
        uvicorn.Config(
            create_ops_app(rt),
            lifespan="off",
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
    try:
        uvicorn.run(
            create_app(rt),
            host=rt.settings.ingress_host,
            port=rt.settings.ingress_port,
            timeout_keep_alive=KEEP_ALIVE,
            log_level="warning",
            log_config=None,  # ours (worker.telemetry.logs): JSON lines when BOOKWIRE_LOG_JSON=true
            access_log=False,
        )
    finally:
        ops.should_exit = True
        thread.join(timeout=10)
        ops_socket.close()


def bind_ops(host: str, port: int) -> socket.socket:
    """A listening socket on the ops address, or ``OpsPortTaken`` with the fix."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OpsPortTaken(
            f"ops listener {host}:{port} could not be bound ({exc.strerror}): set "
            "BOOKWIRE_OPS_PORT to a free port (BOOKWIRE_OPS_HOST for another address)"
        ) from None
    sock.listen(128)
    return sock
