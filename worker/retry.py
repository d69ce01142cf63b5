"""The one retry policy, and the base task class that applies it to every task with an effect.

``RetryPolicy``: exponential backoff with full jitter, a cap and a maximum. Countdowns never
exceed half the broker's visibility timeout: on Redis a message held longer than the visibility
timeout is delivered a second time.

``BookwireTask`` (Celery's custom task class, ``base=`` on ``@app.task``) owns what every task
used to repeat around its body:

- transient errors (timeouts, dropped connections, 5xx, 429, 409 in progress, database or broker
  hiccups) retry with the policy's countdown until ``max_retries``; then, like any permanent
  error, the subject gets a failure record and stops retrying until it is replayed;
- giving up raises ``GaveUp`` so Flower lists the task as FAILURE with one line: the booking
  (and the source's reference), the kind of error and its fix (``cause_of``: slugs and
  statuses, never the outside system's text), the replay command. No cause is chained and its
  ``task-failed`` event carries that line instead of a stack (``on_failure``); it is declared
  in ``throws``, so Celery logs it as expected (one line, no traceback) and never retries it;
- a spent platform budget (``BudgetSpent``: our own limiter refused, nothing was sent) is no
  failed attempt: the task goes back to the queue for the turn it reserved, its retry count
  unchanged, and its thread serves other tenants meanwhile (shown as RETRY in Flower);
- the poison counter: a subject whose starts keep killing the worker is dead-lettered;
- the ``before-ack`` crash point, after the outcome is committed and before the broker ack.

A task declares what it works on as a ``Subject`` record; its body is then a line or two.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, NoReturn, Protocol

import redis
from celery import Task
from celery.exceptions import Retry
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from integrations.errors import (
    BudgetSpent,
    ConfigurationError,
    PayloadError,
    PermanentError,
    TransientError,
)
from worker import crashpoints, poison, runtime
from worker.records.failures import GaveUp, open_failure

log = logging.getLogger(__name__)
TRANSIENT = (TransientError, OperationalError, redis.exceptions.ConnectionError)
PERMANENT = (PermanentError, ConfigurationError, PayloadError, ValidationError)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    base: float = 1.0
    cap: float = 300.0

    def delay(self, retries: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retries + 1``."""
        ceiling = min(self.cap, self.base * (2**retries))
        delay = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.cap)

    def exhausted(self, retries: int) -> bool:
        return retries >= self.max_retries


@dataclass(frozen=True)
class Cause:
    """Why a task gave up, as Flower shows it: what went wrong and the fix, one line."""

    what: str
    fix: str


class GiveUp(Protocol):
    """Records a subject's permanent failure (reason, attempts): it stops until replayed."""

    def __call__(
        self, rt: runtime.Runtime, subject_id: int, reason: str, /, *, now: datetime, attempts: int
    ) -> None: ...


@dataclass(frozen=True)
class Subject:
    """What a task works on (its one id argument) and how it gives up on it."""

    kind: Literal["booking", "delivery"]
    give_up: GiveUp
    # the failure record that names the give-up in Flower; None: any stage but ``overdue``
    stage: str | None
    # errors that are never retried; they give up at once
    permanent: tuple[type[BaseException], ...] = PERMANENT
    # False when the body records its own permanent failures (the hand-off marks its row failed)
    give_up_on_permanent: bool = True
    # count starts that never finished; dead-letter the subject after ``poison_after`` of them
    poison: bool = False


class BookwireTask(Task):
    """The base of every task with an effect: retry, give-up, poison counter, ``before-ack``.

    A task with a ``subject`` (``@app.task(base=BookwireTask, subject=...)``) takes that
    subject's id as its one argument; one without (a batch) applies its own policy in a plain
    function and only gets the crash point."""

    max_retries = None  # the policy decides, from settings
    throws = (GaveUp,)
    subject: Subject | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.subject is None:
            outcome = super().__call__(*args, **kwargs)
        else:
            outcome = self._guarded(self.subject, args[0], partial(super().__call__, *args))
        crashpoints.reach("before-ack")  # the outcome is committed; the broker ack follows
        return outcome

    def policy(self) -> RetryPolicy:
        settings = runtime.current().settings
        cap = float(self.app.conf.bookwire_max_countdown or settings.retry_backoff_max)
        return RetryPolicy(max_retries=settings.max_retries, cap=cap)

    def _guarded(self, subject: Subject, subject_id: int, run: Callable[[], Any]) -> Any:
        rt = runtime.current()
        unfinished = poison.started(rt, subject.kind, subject_id) if subject.poison else 0
        try:
            if subject.poison and poison.is_poison(rt, unfinished):
                poison.forget(rt, subject.kind, subject_id)
                died = unfinished - 1
                reason = f"dead-lettered: the worker died {died} times running this {subject.kind}"
                subject.give_up(rt, subject_id, reason, now=datetime.now(UTC), attempts=died)
                cause = Cause(f"the worker died {died} times on it", "see the worker's log")
                raise self._gave_up(rt, subject, subject_id, cause)
            return run()
        except BudgetSpent as exc:
            self._come_back_later(exc)
        except TRANSIENT as exc:
            self._retry_or_give_up(rt, subject, subject_id, exc)
        except subject.permanent as exc:
            if subject.give_up_on_permanent:  # seen now: after the calls that led to it
                subject.give_up(rt, subject_id, reason_of(exc), now=datetime.now(UTC), attempts=1)
            raise self._gave_up(rt, subject, subject_id, cause_of(exc)) from None
        finally:
            if subject.poison:
                poison.finished(rt, subject.kind, subject_id)

    def _come_back_later(self, exc: BudgetSpent) -> NoReturn:
        """The same task again at the turn the limiter reserved, with the same retry count:
        waiting for a budget is not failing, and a long backlog must not exhaust retries."""
        if self.request.called_directly:
            raise exc
        countdown = min(exc.retry_after or 1.0, self.policy().cap)
        again = self.signature_from_request(countdown=countdown, retries=self.request.retries)
        again.apply_async()
        raise Retry(str(exc), exc, when=countdown, sig=again)

    def _retry_or_give_up(
        self,
        rt: runtime.Runtime,
        subject: Subject,
        subject_id: int,
        exc: BaseException,
    ) -> NoReturn:
        """Within the budget: Celery's Retry with a jittered, capped countdown. Once it is
        spent: the failure is recorded (reason, attempts) and named for Flower, raised without
        the cause chained (the platform's text stays out of Flower)."""
        policy = self.policy()
        retries = self.request.retries or 0
        if policy.exhausted(retries):
            reason = f"gave up after {retries} retries: {reason_of(exc)}"
            subject.give_up(rt, subject_id, reason, now=datetime.now(UTC), attempts=retries + 1)
            cause = cause_of(exc)
            cause = Cause(f"{cause.what} after {retries} retries", cause.fix)
            raise self._gave_up(rt, subject, subject_id, cause) from None
        countdown = policy.delay(retries, getattr(exc, "retry_after", None))
        raise self.retry(countdown=countdown, exc=TransientError(reason_of(exc))) from exc

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """A give-up is an expected end, not a crash: its ``task-failed`` event (what Flower's
        task page shows as the traceback) carries the one-line reason, no stack."""
        if isinstance(exc, GaveUp):
            einfo.traceback = f"{type(exc).__name__}: {exc}"

    @staticmethod
    def _gave_up(rt: runtime.Runtime, subject: Subject, subject_id: int, cause: Cause) -> GaveUp:
        """The exception that marks the task FAILURE in Flower: the subject (with the source's
        own reference), what went wrong and its fix, and the replay of its failure record."""
        ids = {f"{subject.kind}_id": subject_id}
        with rt.store.transaction() as session:
            failure = open_failure(session, stage=subject.stage, **ids)
            if failure is not None:
                log.warning(
                    "gave up; failure recorded",
                    extra={"tenant": failure.tenant, "failure": failure.id, "stage": failure.stage},
                )
                return GaveUp.of(session, failure, what=cause.what, fix=cause.fix)
        shown = f"booking #{subject_id}" if subject.kind == "booking" else f"delivery {subject_id}"
        return GaveUp(f"{shown}: {cause.what} — {cause.fix}; see `bookwire failures`")


def cause_of(exc: BaseException) -> Cause:
    """What stopped a task, for Flower: the kind of error by the error tree, the outside
    system's slug and HTTP status, and the fix. Never the outside system's own text, nor a
    booking's fields (the failure record keeps the full reason for ``bookwire failures``)."""
    if isinstance(exc, ConfigurationError):
        if exc.status in (401, 403):
            return Cause(
                f"{exc.target} refused our credentials ({exc.status})",
                f"check the tenant's {exc.target} credentials in the secrets file",
            )
        return Cause(f"misconfigured: {str(exc)[:200]}", "fix the tenants file")
    if isinstance(exc, TransientError):
        answer = exc.status or "no answer"
        return Cause(
            f"{exc.target or 'an outside system'} kept failing ({answer})",
            f"check that {exc.target or 'it'} is reachable",
        )
    if isinstance(exc, PermanentError):
        who = exc.target or "an outside system"
        if exc.status is None:
            return Cause(f"{who} gave an answer we cannot use", "see `bookwire failures`")
        return Cause(
            f"{who} refused the request ({exc.status})",
            "see its answer in `bookwire failures` (booking data or tenant options)",
        )
    if isinstance(exc, PayloadError):
        where = f" (field {exc.field})" if exc.field else ""
        return Cause(f"the stored delivery does not parse{where}", "see `bookwire failures`")
    if isinstance(exc, ValidationError):
        return Cause(reason_of(exc), "see `bookwire failures`")
    if isinstance(exc, OperationalError):
        return Cause("the database stayed unavailable", "check the database")
    if isinstance(exc, redis.exceptions.ConnectionError):
        return Cause("the broker stayed unavailable", "check Redis")
    if isinstance(exc, LookupError):
        return Cause("a look-up found nothing", "see `bookwire failures`")
    return Cause(type(exc).__name__, "see `bookwire failures` and the worker's log")


def reason_of(exc: Any) -> str:
    """A failure's reason: the error's text, never a stored booking's fields."""
    if isinstance(exc, ValidationError):
        return f"stored booking no longer validates ({exc.error_count()} errors)"
    if isinstance(exc, OperationalError):
        return "database unavailable"
    return str(exc)[:500] or type(exc).__name__
