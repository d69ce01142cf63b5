"""Group commit for the ingress: the deliveries waiting are recorded in one transaction.

Each request verifies and parses its delivery on the event loop (no I/O), hands the result to
this process's inbox writer and awaits its receipt. The writer, one thread, takes every
delivery waiting (up to ``MAX_GROUP``), records them all in one transaction
(``intake.record``), publishes what they moved, and answers each request. Under light load a
group is a single delivery and nothing waits for company; under heavy load one commit and one
publish serve many requests. A request is still answered only after its delivery is stored.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import replace

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from integrations.errors import PayloadError
from worker.intake import record as intake
from worker.runtime import Runtime

log = logging.getLogger(__name__)
MAX_GROUP = 100
_STOP = object()


class InboxWriter:
    """The one thread of an ingress process that writes deliveries to the store."""

    def __init__(self, rt: Runtime, *, max_group: int = MAX_GROUP) -> None:
        self._rt = rt
        self._max_group = max_group
        self._waiting: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def record(self, arrival: intake.Arrival) -> intake.Receipt:
        """Store ``arrival`` (with whatever else is waiting) and return its receipt."""
        self._ensure_started()
        done: Future[intake.Receipt] = Future()
        self._waiting.put((arrival, done))
        return await asyncio.wrap_future(done)

    def stop(self) -> None:
        """Record what is waiting, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._waiting.put(_STOP)
            thread.join()

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="inbox-writer", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._waiting.get()
            if first is _STOP:
                return
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
            try:
                self._write(group)  # type: ignore[arg-type]
            except Exception:  # never let the one writer thread die
                log.exception("inbox writer: unexpected error")

    def _write(self, group: list[tuple[intake.Arrival, Future[intake.Receipt]]]) -> None:
        try:
            receipts = intake.record(self._rt, [arrival for arrival, _ in group])
        except OperationalError as exc:  # the store is down: 503, the vendor retries
            for _, done in group:
                _answer(done, error=exc)
        except SQLAlchemyError as exc:
            if len(group) > 1:  # one delivery the database refuses must not fail the rest
                for item in group:
                    self._write([item])
                return
            self._quarantine(*group[0], exc)
        else:
            for (_, done), receipt in zip(group, receipts, strict=True):
                _answer(done, receipt=receipt)

    def _quarantine(
        self, arrival: intake.Arrival, done: Future[intake.Receipt], exc: SQLAlchemyError
    ) -> None:
        """The database refused what the delivery carries (a value no column can hold): keep
        the delivery as quarantined, with the reason, like one that does not parse."""
        cause = getattr(exc, "orig", None) or exc
        reason = f"the store refused the booking ({type(cause).__name__})"
        refused = replace(arrival, messages=(), error=PayloadError(reason), deferred=False)
        try:
            receipts = intake.record(self._rt, [refused])
        except SQLAlchemyError as again:
            _answer(done, error=again)
        else:
            _answer(done, receipt=receipts[0])


def _answer(
    done: Future[intake.Receipt],
    *,
    receipt: intake.Receipt | None = None,
    error: BaseException | None = None,
) -> None:
    """Resolve a request's future, unless the request was given up on (cancelled) meanwhile."""
    if not done.set_running_or_notify_cancel():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(receipt)  # type: ignore[arg-type]
