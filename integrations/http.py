"""One place where transport outcomes become bookwire errors, and every attempt is recorded.

The status → error mapping is data (``STATUS_ERRORS``); 5xx is transient, any other 4xx not
listed is permanent. Every call reports an ``Attempt`` to the recorder installed with
``recording()`` (the worker stores it next to the booking it serves).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from config.tenants import SecretRef
from integrations.errors import (
    ConfigurationError,
    CreateRefused,
    PermanentError,
    PlatformError,
    TransientError,
)

STATUS_ERRORS: dict[int, type[PlatformError] | type[ConfigurationError]] = {
    401: ConfigurationError,
    403: ConfigurationError,
    408: TransientError,
    425: TransientError,
    429: TransientError,
}
TRANSIENT_409_MARKERS = ("idempotent_request_in_progress",)
EXCERPT_CHARS = 500
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Attempt:
    """One outbound request and what came of it; ``at`` is when it was sent."""

    target: str
    method: str
    path: str
    status: int | None
    duration_ms: float
    excerpt: str
    at: datetime


Recorder = Callable[[Attempt], None]
_recorder: ContextVar[Recorder | None] = ContextVar("bookwire_attempt_recorder", default=None)


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Send every Attempt made inside the block to ``recorder``."""
    token = _recorder.set(recorder)
    try:
        yield
    finally:
        _recorder.reset(token)


@contextlib.contextmanager
def refusing_create() -> Iterator[None]:
    """Around a create's POST: a refusal (4xx) is a ``CreateRefused``, which tells the worker
    that the platform made no event with that request's ``Idempotency-Key``."""
    try:
        yield
    except CreateRefused:
        raise
    except PermanentError as exc:
        raise CreateRefused(str(exc), status=exc.status, target=exc.target) from exc


def credential(credentials: Mapping[str, SecretRef], name: str, *, owner: str) -> str:
    """The resolved secret ``credentials.<name>`` a client needs, or a ConfigurationError
    that names where it goes (``owner``: "gomry platform", "hubspot portal" …)."""
    ref = credentials.get(name)
    if ref is None:
        raise ConfigurationError(f"{owner} needs credentials.{name}")
    return ref.value.get_secret_value()


def call(client: httpx.Client, target: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Send one request; return a 2xx response or raise the matching bookwire error."""
    started = (time.perf_counter(), datetime.now(UTC))
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        _record(target, method, url, None, started, type(exc).__name__)
        raise TransientError(f"{target}: timed out ({type(exc).__name__})", target=target) from exc
    except httpx.TransportError as exc:
        _record(target, method, url, None, started, type(exc).__name__)
        raise TransientError(
            f"{target}: connection failed ({type(exc).__name__})", target=target
        ) from exc
    _record(target, method, url, response.status_code, started, response.text[:EXCERPT_CHARS])
    raise_for_status(target, response)
    return response


def get_json(client: httpx.Client | None, target: str, url: str, **kwargs: Any) -> Any:
    """GET ``url`` through ``call`` and return its decoded JSON body: the look-up every
    connector's client makes (``read_json`` for the reads a vendor makes a POST)."""
    return read_json(client, target, "GET", url, **kwargs)


def read_json(
    client: httpx.Client | None, target: str, method: str, url: str, **kwargs: Any
) -> Any:
    """Send a read through ``call`` and return the decoded JSON body. A body that is not JSON
    is a PermanentError (the vendor's contract changed: retrying will not help). ``client`` is
    None at the ingress, where no look-up may run (thin webhooks are parsed in the worker):
    that is a bug, not input."""
    if client is None:
        raise RuntimeError(f"{target} look-ups run in the worker (no HTTP client here)")
    response = call(client, target, method, url, **kwargs)
    try:
        return response.json()
    except ValueError:
        raise PermanentError(f"{target}: response is not JSON", target=target) from None


def parse_body(target: str, model: type[M], response: httpx.Response) -> M:
    """The response body as ``model``; a body of another shape is a PermanentError (the
    platform's contract changed: retrying will not help)."""
    try:
        return model.model_validate_json(response.content)
    except ValueError as exc:
        raise PermanentError(f"{target}: unexpected response shape", target=target) from exc


def raise_for_status(target: str, response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    message = f"{target}: HTTP {status}: {error_message(response)}"
    if status == 409:
        if any(marker in response.text for marker in TRANSIENT_409_MARKERS):
            raise TransientError(message, status=status, retry_after=1.0, target=target)
        raise PermanentError(message, status=status, target=target)
    kind = STATUS_ERRORS.get(status)
    if kind is TransientError or status >= 500:
        raise TransientError(
            message, status=status, retry_after=retry_after(response), target=target
        )
    if kind is ConfigurationError:
        raise ConfigurationError(message, target=target, status=status)
    raise PermanentError(message, status=status, target=target)


def error_message(response: httpx.Response) -> str:
    """The platform's own error text (``error`` or ``message``), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return response.text[:200]


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _record(
    target: str,
    method: str,
    url: str,
    status: int | None,
    started: tuple[float, datetime],
    excerpt: str,
) -> None:
    recorder = _recorder.get()
    if recorder is None:
        return
    path = httpx.URL(url).path
    clock, at = started
    duration_ms = (time.perf_counter() - clock) * 1000
    recorder(Attempt(target, method, path, status, duration_ms, excerpt, at))
