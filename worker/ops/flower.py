"""``bookwire flower``: Flower as ops read it, watching only, logging like every bookwire process.

Flower runs in this process (``celery -A worker.celery_app flower``, Celery's own command) with:

- **read-only task control**: Flower's ``--read_only``. Every endpoint that queues, revokes,
  aborts, rate-limits or times out a task, or shuts down, restarts, resizes or re-routes a
  worker, answers 403 ("Read only mode is enabled") and the pages hide their buttons. A
  logged-in user cannot queue arbitrary tasks: replays go through ``bookwire replay`` (on
  today's code and config, idempotent, named in the failure record). Given on the command line,
  it wins over ``FLOWER_READ_ONLY`` and a ``flowerconfig.py``.
- **columns an ops person can read**: the task list shows the ids a task works on (its
  ``argsrepr``, e.g. ``(booking=42)``), the result, and for a failed task the one-line reason
  (``GaveUp``: the kind, the fix, the replay command; no traceback, see ``worker.retry``).
- **our log lines**: the root logger gets ``worker.telemetry.logs``' formatter before tornado
  parses its options (tornado then adds no handler of its own), so Flower's and tornado's
  lines are JSON with ``BOOKWIRE_LOG_JSON=true`` like the worker's
  (``worker.process.celery_command``).

Its login (``FLOWER_BASIC_AUTH``, or ``FLOWER_AUTH`` for OAuth) is Flower's own; ``bookwire up``
generates one for a local run (``local_login``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from config.settings import Settings
from worker.process import celery_command

# the task list's columns, in order (Flower's default is name,uuid,state,received,runtime,worker)
TASK_COLUMNS = ("name", "args", "state", "result", "exception", "received", "runtime", "uuid")
LOGIN_FILE = "flower-login"  # under BOOKWIRE_HOME, mode 0600: ``user:password``
LOGIN_USER = "bookwire"


def options(settings: Settings) -> list[str]:
    """Flower's command-line options for ``settings``."""
    return [
        f"--address={settings.flower_host}",
        f"--port={settings.flower_port}",
        "--persistent=False",
        "--read_only=True",
        f"--tasks_columns={','.join(TASK_COLUMNS)}",
        f"--logging={settings.log_level.lower()}",
    ]


def run(settings: Settings) -> None:
    """Serve Flower in this process until SIGTERM (Flower's own handler exits cleanly)."""
    celery_command.configure_logging(settings)
    celery_command.run(["-A", "worker.celery_app", "flower", *options(settings)])


def local_login(home: Path) -> Path:
    """The file holding this home's generated Flower login (``bookwire:<password>``), made on
    first use with mode 0600 and kept, so a bookmarked login keeps working across runs."""
    path = home / LOGIN_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{LOGIN_USER}:{secrets.token_urlsafe(18)}\n")
    return path


def read_login(path: Path) -> str:
    """``user:password`` from a login file written by ``local_login``."""
    return path.read_text(encoding="utf-8").strip()
