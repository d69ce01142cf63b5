"""Logging for every bookwire process: plain text, or one JSON object per line (``log_json``).

Ids, never content: a log line carries the message plus the allow-listed ``extra`` fields below
(tenant, source, booking, delivery, task …) and whatever ``log_context`` set for the current task
(the Celery signal handlers in ``worker.telemetry.observe`` set the booking or delivery id of the
task that
is running). Any other ``extra`` key is dropped, so a careless ``extra={"customer": …}`` never
reaches a log. The same formatter serves the ingress and the worker (Celery's own logging is
replaced through its ``setup_logging`` signal).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# ids, slugs, states and outcomes only
FIELDS = (
    "tenant",
    "source",
    "booking",
    "delivery",
    "failure",
    "stage",
    "event",
    "outcome",
    "task",
    "task_id",
    "error",
    "attempts",
    "count",
)
_context: ContextVar[dict[str, Any] | None] = ContextVar("bookwire_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (ids only) to every log line written inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def set_context(**fields: Any) -> object:
    """Like ``log_context`` for code that cannot use a ``with`` (signal handlers)."""
    return _context.set({**(_context.get() or {}), **fields})


def reset_context(token: object) -> None:
    _context.reset(token)  # type: ignore[arg-type]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The allow-listed id fields of a record: its context, then its ``extra``."""
    found = {k: v for k, v in (_context.get() or {}).items() if k in FIELDS}
    for key in FIELDS:
        value = getattr(record, key, None)
        if value is not None:
            found[key] = value
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, the id fields, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **fields(record),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …`` with the same id fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in fields(record).items())
        if not extra:
            return text
        head, sep, tail = text.partition("\n")
        return f"{head} {extra}{sep}{tail}"


def configure(*, json_lines: bool, level: str | int = "INFO") -> None:
    """Send every logger to stderr through our formatter (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for noisy in ("httpx", "httpcore"):  # they log full URLs at INFO
        logging.getLogger(noisy).setLevel(logging.WARNING)
