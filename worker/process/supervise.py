"""Keep a Celery process running: restart it when it dies unexpectedly, stop it cleanly.

Celery workers can exit on their own when the broker connection drops (an "Unrecoverable
error" inside kombu's reconnect; seen here on a broker restart). Nothing is lost when that
happens — unacknowledged messages stay in the broker and the relay republishes pending work —
but nothing is processed until the worker runs again. ``bookwire worker`` therefore runs Celery
as a child and restarts it (a restart budget stops a crash loop); SIGTERM and SIGINT are passed
on and end the supervision. In production a process manager (compose's ``restart:``, systemd)
does the same one level up.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections import deque
from types import FrameType

log = logging.getLogger(__name__)  # a log line like the child's (JSON with BOOKWIRE_LOG_JSON)
MAX_RESTARTS = 10
WINDOW_SECONDS = 60.0


def supervise(argv: list[str], *, name: str) -> int:
    """Run ``argv`` until it exits cleanly or we are told to stop; returns its exit code."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    restarts: deque[float] = deque()
    while True:
        child = subprocess.Popen(argv)
        code = child.wait()
        if stopping or code == 0:
            return code
        now = time.monotonic()
        restarts.append(now)
        while restarts and now - restarts[0] > WINDOW_SECONDS:
            restarts.popleft()
        if len(restarts) > MAX_RESTARTS:
            log.error("%s keeps exiting (last code %s); giving up", name, code)
            return code
        log.warning("%s exited with code %s; restarting", name, code)
        time.sleep(1.0)
