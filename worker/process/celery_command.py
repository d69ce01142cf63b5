"""``python -m worker.process.celery_command …``: Celery's own command, logging our way from
its first line.

Celery hands its logging to ``worker.telemetry.observe`` (the ``setup_logging`` signal) only
once the worker or beat is built; what it writes before then (the warning that a worker runs
as root, a deprecation) would be plain text in JSON mode. Here the root logger gets our
formatter and Python's warnings become log lines before Celery starts. ``bookwire worker``
and ``bookwire beat`` run Celery through this module (with ``--quiet`` in JSON mode: Celery
prints its start-up banner to stdout, not through logging), ``bookwire flower`` through
``run``.
"""

from __future__ import annotations

import logging
import sys

from config.settings import Settings
from worker.telemetry import logs


def configure_logging(settings: Settings) -> None:
    """Our formatter on the root logger, warnings included (JSON with BOOKWIRE_LOG_JSON)."""
    logs.configure(json_lines=settings.log_json, level=settings.log_level)
    logging.captureWarnings(True)


def argv(settings: Settings) -> list[str]:
    """The start of a command line that runs Celery on bookwire's app, logging our way."""
    quiet = ["--quiet"] if settings.log_json else []  # the banner is not a log line
    return [sys.executable, "-m", __name__, "-A", "worker.celery_app", *quiet]


def run(args: list[str]) -> None:
    """Run Celery's command ``args`` (after ``celery``) in this process."""
    from celery.bin.celery import celery

    celery.main(args=args, prog_name="celery", auto_envvar_prefix="CELERY")


def main() -> None:
    configure_logging(Settings())
    run(sys.argv[1:])


if __name__ == "__main__":
    main()
