"""The webhook ingress: read, prepare (verify + parse), record (inbox), answer. Nothing else.

Verifying and parsing happen on the event loop; recording and publishing on the process's
inbox writer, which commits the deliveries waiting together (``worker.ingress.inbox``).

``POST /webhooks/{source}/{tenant}`` answers:

- 202 ``{"inbox_id", "outcome"}``: stored (accepted, stale, or a duplicate of a stored delivery)
- 200: stored and deliberately ignored (an event type we do not act on)
- 401: bad, missing or unreadable signature (or timestamp); nothing stored but a counter
- 404: unknown tenant or source
- 408: the body did not arrive within ``BOOKWIRE_INGRESS_BODY_TIMEOUT`` (10 s); nothing stored
- 413: body over 1 MiB
- 429 with ``Retry-After``: the route (tenant and source) is over ``BOOKWIRE_INGRESS_RATE_LIMIT``
  in this process (``worker.ingress.throttle``); verified, but nothing stored: the retry delivers it
- 422 ``{"error", "field", "reason", "inbox_id"}``: verified but invalid; kept as quarantined
  (202 with the same body for vendors that switch off failing subscriptions)
- 503: the store is down; never a 2xx for something not stored

``/healthz`` and ``/readyz`` are served here too; ``/metrics`` only on the ops listener
(``worker.ingress.probes``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations import registry
from integrations.connector import Source, WebhookRequest
from integrations.errors import SignatureError
from worker.ingress.inbox import InboxWriter
from worker.ingress.probes import health_routes
from worker.ingress.throttle import RouteLimiter
from worker.intake import record as intake
from worker.privacy.audit import Actor
from worker.process.reload import watching
from worker.runtime import Runtime
from worker.telemetry.metrics import INGEST_SECONDS, WEBHOOKS

MAX_BODY = 1024 * 1024
log = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


def create_app(rt: Runtime) -> Starlette:
    """The ASGI app for ``rt``; tenants load (and fail) here, at start."""
    rt.tenants  # noqa: B018 - load and check config before serving anything
    inbox = InboxWriter(rt)
    limiter = RouteLimiter(rt.settings.ingress_rate_limit)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # a changed tenants or secrets file applies without a restart (also on SIGHUP)
        with watching(rt, actor=Actor.ingress, sighup=True):
            yield
        await run_in_threadpool(inbox.stop)  # what is waiting is stored and answered first

    async def webhook(request: Request) -> Response:
        with rt.pinned():  # one generation of the tenants file for the whole request
            return await handle(request)

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        try:
            incoming = await _read(rt, request)
            arrival = _prepare(rt, incoming)
            _admit(limiter, incoming)
        except Refused as refused:
            return refused.answer()
        try:
            receipt = await inbox.record(arrival)
        except SQLAlchemyError:
            WEBHOOKS.labels(incoming.source.slug, incoming.tenant, "store_down").inc()
            return JSONResponse(
                {"error": "store unavailable; retry later"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        _stored(incoming, receipt)
        INGEST_SECONDS.observe(time.perf_counter() - started)
        return _answer(receipt, incoming.source.quarantine_status)

    return Starlette(
        routes=[
            Route("/webhooks/{source}/{tenant}", webhook, methods=["POST"]),
            *health_routes(rt),
        ],
        lifespan=lifespan,
    )


@dataclass(frozen=True)
class Incoming:
    """A webhook as read, before anything is stored: whose it is, its source, its exact bytes."""

    tenant: str
    source: Source
    request: WebhookRequest


class Refused(Exception):
    """A delivery answered before it is recorded (unknown route, too slow, too large, not
    verified, over the route's rate limit)."""

    def __init__(
        self,
        status: int,
        error: str,
        labels: tuple[str, str, str],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status, self.error, self.labels, self.headers = status, error, labels, headers

    def answer(self) -> Response:
        WEBHOOKS.labels(*self.labels).inc()
        return JSONResponse({"error": self.error}, status_code=self.status, headers=self.headers)


async def _read(rt: Runtime, request: Request) -> Incoming:
    """The route's tenant and source (404 if either is unknown) and the body (413 if too large,
    408 if it does not arrive within ``BOOKWIRE_INGRESS_BODY_TIMEOUT``)."""
    slug = request.path_params["source"]
    tenant_id = request.path_params["tenant"]
    tenant = rt.tenant(tenant_id)
    source = registry.connector(slug)
    if tenant is None or slug not in tenant.sources or source is None:
        raise Refused(404, "unknown tenant or source", ("unknown", "unknown", "not_found"))
    timeout = rt.settings.ingress_body_timeout
    try:
        async with asyncio.timeout(timeout):
            body = await _read_body(request)
    except BodyTooLarge:
        raise Refused(413, "body over 1 MiB", (slug, tenant_id, "too_large")) from None
    except TimeoutError:
        error = f"body not received within {timeout:g} s; nothing stored, send it again"
        raise Refused(408, error, (slug, tenant_id, "timeout")) from None
    headers = {k.lower(): v for k, v in request.headers.items()}
    url = _public_url(rt, request)
    return Incoming(tenant_id, source, WebhookRequest(request.method, url, headers, body))


def _prepare(rt: Runtime, incoming: Incoming) -> intake.Arrival:
    """Verify the delivery (401 if it is not the vendor's), then parse it (thin webhooks: only
    shape-check it) into what the inbox records. Pure work: no I/O."""
    tenant, source = incoming.tenant, incoming.source
    refs = rt.tenants.tenants[tenant].sources[source.slug].secrets
    secrets = [ref.value.get_secret_value() for ref in refs]
    options = rt.source_options(tenant, source.slug)
    labels = (source.slug, tenant, "unauthorized")
    try:
        source.verify(incoming.request, secrets=secrets, now=datetime.now(UTC), options=options)
    except SignatureError as exc:
        log.warning(
            "signature rejected",
            extra={"tenant": tenant, "source": source.slug, "error": type(exc).__name__},
        )
        raise Refused(401, f"signature rejected: {exc}", labels) from None
    except Exception as exc:  # a header the connector cannot read is not a verified one
        log.warning(
            "signature unreadable",
            extra={"tenant": tenant, "source": source.slug, "error": type(exc).__name__},
        )
        error = f"signature rejected: could not be checked ({type(exc).__name__})"
        raise Refused(401, error, labels) from None
    return intake.prepare(
        rt,
        tenant=tenant,
        source=source.slug,
        request=incoming.request,
        connector=source,
        now=datetime.now(UTC),
    )


def _admit(limiter: RouteLimiter, incoming: Incoming) -> None:
    """429 with ``Retry-After`` when the route is over its rate limit; nothing is stored, so the
    vendor's retry delivers it later."""
    wait = limiter.admit(incoming.tenant, incoming.source.slug)
    if wait is not None:
        raise Refused(
            429,
            f"too many deliveries for this tenant and source; nothing stored, retry in {wait} s",
            (incoming.source.slug, incoming.tenant, "rate_limited"),
            headers={"Retry-After": str(wait)},
        )


def _stored(incoming: Incoming, receipt: intake.Receipt) -> None:
    """Count and log what the inbox made of a delivery (ids and outcome only)."""
    WEBHOOKS.labels(incoming.source.slug, incoming.tenant, receipt.outcome).inc()
    log.info(
        "webhook stored",
        extra={
            "tenant": incoming.tenant,
            "source": incoming.source.slug,
            "delivery": receipt.delivery_id,
            "outcome": receipt.outcome,
            "booking": receipt.bookings[0] if len(receipt.bookings) == 1 else None,
            "count": len(receipt.bookings),
        },
    )


def _answer(receipt: intake.Receipt, quarantine_status: int) -> Response:
    """Quarantined deliveries answer 422 with the field, except for vendors that disable a
    subscription after failed deliveries (``Source.quarantine_status`` 202): the delivery is
    stored and replayable either way, so acknowledging it loses nothing."""
    if receipt.outcome == "quarantined":
        return JSONResponse(
            {
                "error": "invalid booking",
                "field": receipt.field,
                "reason": receipt.reason,
                "inbox_id": receipt.delivery_id,
            },
            status_code=quarantine_status,
        )
    body: dict[str, Any] = {"inbox_id": receipt.delivery_id, "outcome": receipt.outcome}
    return JSONResponse(body, status_code=200 if receipt.outcome == "ignored" else 202)


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _public_url(rt: Runtime, request: Request) -> str:
    """The URL as the vendor addressed it (behind proxies: BOOKWIRE_PUBLIC_BASE_URL)."""
    url = rt.settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url
