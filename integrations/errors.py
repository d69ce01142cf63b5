"""The error tree every integration raises, defined once.

::

    BookwireError
    ├── SignatureError        the delivery is not from who it claims: 401, never processed
    ├── PayloadError          verified but unusable: quarantined with the reason, 422
    ├── ConfigurationError    our side is misconfigured (401/403 from a platform, bad options)
    └── PlatformError         a call to an outside system failed
        ├── TransientError    timeouts, dropped connections, 5xx, 429, 409 in progress: retry
        │   └── BudgetSpent   our shared request budget for the platform is spent: nothing sent
        └── PermanentError    any other 4xx: never retried, becomes a failure record
            └── CreateRefused the platform refused a create: nothing was made with its key

Messages never carry secrets or personal data: they name fields, statuses and ids only.
"""

from __future__ import annotations


class BookwireError(Exception):
    """Base of every error bookwire raises on purpose."""


class SignatureError(BookwireError):
    """The delivery failed verification (bad, missing or stale signature)."""


class PayloadError(BookwireError):
    """A verified delivery that does not parse; ``field`` says where."""

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)


class ConfigurationError(BookwireError):
    """Credentials or options are wrong; retrying will not help until config changes.

    ``target`` and ``status`` are set when an outside system refused our credentials (401/403):
    they name the refusal without the system's own text."""

    def __init__(
        self, message: str, *, target: str | None = None, status: int | None = None
    ) -> None:
        self.target = target
        self.status = status
        super().__init__(message)


class PlatformError(BookwireError):
    """An outbound call to ``target`` (a slug, when known) failed."""

    def __init__(
        self, message: str, *, status: int | None = None, target: str | None = None
    ) -> None:
        self.status = status
        self.target = target
        super().__init__(message)


class TransientError(PlatformError):
    """Worth retrying, after ``retry_after`` seconds when the server said so."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        target: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, target=target)


class BudgetSpent(TransientError):
    """Our own rate limiter refused the call: nothing was sent. ``retry_after`` is the slot
    reserved for the next try; a task runs again then without spending a retry."""


class PermanentError(PlatformError):
    """The outside system refused the request; the message is the platform's own."""


class CreateRefused(PermanentError):
    """A create answered 4xx: the platform made no event with this ``Idempotency-Key``.

    Platforms replay a key's answer (refusals too) for 24 h, so the next create of the booking
    needs the booking's next key. A 422 to a key reused with another body (Stripe, the IETF
    Idempotency-Key draft) is one as well: the worker then looks the event up by reference."""
