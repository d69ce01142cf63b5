"""Webhook subscription state, read from the vendors that have an API for it.

A vendor that keeps failing to deliver may disable the subscription instead of retrying for ever:

- Calendly: ``GET /webhook_subscriptions?organization=…&scope=organization|user[&user=…]``,
  each with ``state`` ``active`` or ``disabled`` (and ``retry_started_at`` while it retries);
- Pipedrive: ``GET /v1/webhooks``, each with ``is_active`` (1/0), ``last_delivery_time`` and
  ``last_http_status``.

The other sources (HubSpot, Acuity, Square, Cal.com, generic) have no read of this kind that
bookwire uses: their health is judged by silence alone. Only the subscriptions whose callback URL
is this tenant's ingress route (``…/webhooks/<source>/<tenant>``) count; when none does (a proxy
rewrote the URL) every subscription the credentials can see counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from integrations.connector import ParseContext

ACTIVE, DISABLED, MISSING = "active", "disabled", "missing"


@dataclass(frozen=True)
class Subscription:
    """One vendor webhook subscription as bookwire judges it (no URL: it may hold a token)."""

    active: bool
    callback_path: str  # the path of its callback URL, never the query string
    last_delivery: datetime | None = None
    last_status: int | None = None


def state_of(subscriptions: Sequence[Subscription], *, source: str, tenant: str) -> str:
    """``active``, ``disabled`` (any of ours is) or ``missing`` (none listed)."""
    ours = [s for s in subscriptions if s.callback_path.rstrip("/").endswith(f"/{source}/{tenant}")]
    chosen = ours or list(subscriptions)
    if not chosen:
        return MISSING
    return ACTIVE if all(s.active for s in chosen) else DISABLED


# read(context) -> the subscriptions the tenant's credentials can see (``Source.subscriptions``)
Reader = Callable[[ParseContext], list[Subscription]]


def callback_path(url: str) -> str:
    return urlsplit(url).path
