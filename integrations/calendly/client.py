"""Calendly backfill: every invitee of every scheduled event starting since a date.

- ``GET {api_base_url}/scheduled_events?organization=…&min_start_time=…&count=100`` (or
  ``user=…``; without either, the token owner's ``GET /users/me``), following
  ``pagination.next_page_token``;
- ``GET {api_base_url}/scheduled_events/{uuid}/invitees?count=100`` for each event;
- ``GET {api_base_url}/webhook_subscriptions?organization=…&scope=…`` for source health: each
  subscription's ``state`` (``active``/``disabled``, see ``integrations.subscriptions``).

Bearer token: the tenant's ``credentials.api_token`` (a personal access token). Canceled
events are listed too, so a missed cancellation is caught up; the old invitee of a reschedule
is skipped exactly as its webhook is; a record that cannot be a booking is skipped with a
warning. Every call goes through ``integrations.http.call``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from integrations.booking import BookingMessage
from integrations.calendly.schemas import (
    CurrentUserEnvelope,
    Invitee,
    Options,
    Page,
    ScheduledEvent,
)
from integrations.calendly.webhook import booking_from, options_of, uri_id
from integrations.connector import ParseContext
from integrations.errors import ConfigurationError, PayloadError, PermanentError
from integrations.http import call, parse_body
from integrations.mapping import as_utc, payload_error
from integrations.subscriptions import Subscription, callback_path

log = logging.getLogger(__name__)
TARGET = "calendly"
PAGE_SIZE = 100
MAX_PAGES = 10_000
Model = TypeVar("Model", bound=BaseModel)


def backfill(context: ParseContext, *, since: datetime | date) -> Iterator[BookingMessage]:
    """Bookings for every invitee of events starting at or after ``since``."""
    options = options_of(context)
    http, headers = _session(context)
    base = options.api_base_url.rstrip("/")
    params: dict[str, Any] = {
        **_scope(http, base, headers, options),
        "min_start_time": _iso(since),
        "count": PAGE_SIZE,
        "sort": "start_time:asc",
    }
    for raw_event in _pages(http, f"{base}/scheduled_events", params, headers):
        try:
            event = _record(ScheduledEvent, raw_event, "scheduled_event")
            event_id = uri_id(event.uri, field="scheduled_event.uri")
        except PayloadError as exc:  # one bad record must not stop the backfill
            log.warning("calendly backfill skipped an event", extra={"why": str(exc)})
            continue
        url = f"{base}/scheduled_events/{event_id}/invitees"
        for raw_invitee in _pages(http, url, {"count": PAGE_SIZE}, headers):
            try:
                invitee = _record(Invitee, raw_invitee, "invitee")
                if invitee.status == "canceled" and invitee.rescheduled:
                    continue  # its replacement is listed under the new event
                yield booking_from(
                    invitee, event, context=context, canceled=event.status == "canceled"
                )
            except PayloadError as exc:
                log.warning(
                    "calendly backfill skipped an invitee",
                    extra={"event": event_id, "why": str(exc)},
                )


def _session(context: ParseContext) -> tuple[httpx.Client, dict[str, str]]:
    token = context.credentials.get("api_token")
    if not token:
        raise ConfigurationError("calendly backfill needs credentials.api_token")
    if context.http is None:
        raise ConfigurationError("calendly backfill needs an HTTP client")
    return context.http, {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def _scope(
    http: httpx.Client, base: str, headers: Mapping[str, str], options: Options
) -> dict[str, str]:
    """Calendly lists events for one organization or one user; one of them is required."""
    if options.organization:
        return {"organization": options.organization}
    if options.user:
        return {"user": options.user}
    response = call(http, TARGET, "GET", f"{base}/users/me", headers=dict(headers))
    return {"user": parse_body(TARGET, CurrentUserEnvelope, response).resource.uri}


def _pages(
    http: httpx.Client, url: str, params: dict[str, Any], headers: Mapping[str, str]
) -> Iterator[dict[str, Any]]:
    token: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        query = {**params, "page_token": token} if token else params
        response = call(http, TARGET, "GET", url, params=query, headers=dict(headers))
        page = parse_body(TARGET, Page, response)
        yield from page.collection
        token = page.pagination.next_page_token
        if not token or token in seen:
            return
        seen.add(token)
    raise PermanentError(f"{TARGET}: more than {MAX_PAGES} pages; narrow the backfill")


def _record(model: type[Model], raw: dict[str, Any], prefix: str) -> Model:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise payload_error(exc, prefix=prefix) from None


def _iso(since: datetime | date) -> str:
    return as_utc(since).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Organization(BaseModel):
    uri: str
    current_organization: str


class _Me(BaseModel):
    resource: _Organization


class _WebhookSubscription(BaseModel):
    callback_url: str = ""
    state: str = "active"


def subscriptions(context: ParseContext) -> list[Subscription]:
    """The tenant's webhook subscriptions and their ``state`` (``active``/``disabled``).

    ``GET /webhook_subscriptions`` needs the organization always, and the user for a user
    scope: from the source's options, else from the token owner's ``GET /users/me``."""
    options = options_of(context)
    http, headers = _session(context)
    base = options.api_base_url.rstrip("/")
    params: dict[str, Any] = {"count": PAGE_SIZE}
    if options.organization:
        params |= {"organization": options.organization, "scope": "organization"}
    else:
        response = call(http, TARGET, "GET", f"{base}/users/me", headers=dict(headers))
        me = parse_body(TARGET, _Me, response).resource
        params |= {
            "organization": me.current_organization,
            "scope": "user",
            "user": options.user or me.uri,
        }
    found: list[Subscription] = []
    for raw in _pages(http, f"{base}/webhook_subscriptions", params, headers):
        try:
            item = _record(_WebhookSubscription, raw, "webhook_subscription")
        except PayloadError as exc:
            log.warning("calendly subscription skipped", extra={"why": str(exc)})
            continue
        found.append(
            Subscription(
                active=item.state == "active", callback_path=callback_path(item.callback_url)
            )
        )
    return found


# -- onboarding (``bookwire connect calendly``) ----------------------------------------------

EVENTS = ("invitee.created", "invitee.canceled")


class _CreatedSubscription(BaseModel):
    uri: str
    callback_url: str
    state: str = "active"


class _CreatedEnvelope(BaseModel):
    resource: _CreatedSubscription


def create_subscription(
    http: httpx.Client,
    *,
    api_base_url: str,
    token: str,
    url: str,
    signing_key: str,
    scope: str = "user",
) -> tuple[str, str, str | None]:
    """``POST /webhook_subscriptions`` for invitee.created and invitee.canceled at ``url``,
    signed with ``signing_key`` (Calendly lets the caller choose it; it is write-only there).

    ``scope`` ``user`` (the token owner's bookings) or ``organization`` (everyone's, needs an
    admin's token); both name the token owner's organization (``GET /users/me``). Returns the
    subscription's uri, the organization and the user (``None`` for an organization scope)."""
    base = api_base_url.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    response = call(http, TARGET, "GET", f"{base}/users/me", headers=headers)
    me = parse_body(TARGET, _Me, response).resource
    body: dict[str, Any] = {
        "url": url,
        "events": list(EVENTS),
        "organization": me.current_organization,
        "scope": scope,
        "signing_key": signing_key,
    }
    if scope == "user":
        body["user"] = me.uri
    response = call(
        http, TARGET, "POST", f"{base}/webhook_subscriptions", json=body, headers=headers
    )
    created = parse_body(TARGET, _CreatedEnvelope, response).resource
    return created.uri, me.current_organization, me.uri if scope == "user" else None
