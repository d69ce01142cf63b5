"""Verify and read Pipedrive deal webhooks (versions 1 and 2).

Authentication: Pipedrive signs nothing. The webhook is created with HTTP Basic credentials
(``http_auth_user`` / ``http_auth_password``) that arrive as ``Authorization: Basic …``; each
tenant secret is one ``user:password`` pair, compared in constant time (several may be active
while rotating). Pipedrive sends no timestamp, so there is no replay window; retries repeat
the v2 event id (``meta.id``), which the inbox dedupes.

A deal becomes a booking when its status is ``won``; a won deal later lost, reopened or
deleted becomes a cancellation (a deletion whose last state is unknown, too). Deals that were
never won are ignored. Webhooks v2 carry only the person's id, so parsing is deferred to the
worker (``DEFERRED``), which looks the name up with the tenant's API token; the ingress only
runs the same reading without look-ups (``check``), so a won deal without its event date is
quarantined (422) at once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from integrations.booking import BookingMessage
from integrations.connector import ParseContext, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from integrations.mapping import load_json, load_object, payload_error
from integrations.pipedrive.client import person_lookup
from integrations.pipedrive.deals import (
    Deal,
    Lookup,
    cancelled_message,
    deal_of,
    pd_time,
    won_message,
)
from integrations.pipedrive.schemas import EnvelopeV1, EnvelopeV2

V1_ACTIONS = {"added": "create", "updated": "change", "merged": "change", "deleted": "delete"}
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


@dataclass(frozen=True)
class Change:
    """One deal notification, both versions alike."""

    version: int
    action: str  # create | change | delete
    current: Deal | None
    previous: Mapping[str, Any] | None
    stamp: datetime | None
    deal_id: str | None


def verify(
    request: WebhookRequest, *, secrets: list[str], now: datetime, options: object = None
) -> None:
    """Raise SignatureError unless the Basic credentials equal one configured pair."""
    if not secrets:
        raise SignatureError("no webhook credentials configured")
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise SignatureError("missing HTTP Basic credentials")
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed HTTP Basic credentials") from None
    matched = False
    for secret in secrets:  # no early exit: time does not depend on which pair matched
        matched |= hmac.compare_digest(given, secret.encode("utf-8"))
    if not matched:
        raise SignatureError("wrong HTTP Basic credentials")


def basic_auth(secret: str) -> str:
    """The Authorization header Pipedrive sends for a ``user:password`` pair (tests)."""
    return "Basic " + base64.b64encode(secret.encode("utf-8")).decode()


def check_secret(secret: str) -> str | None:
    """Why ``secret`` cannot be Basic credentials, or None when it can."""
    user, sep, password = secret.partition(":")
    if not sep or not user or not password:
        return "must be user:password (the webhook's HTTP auth user and password)"
    return None


def delivery_id(request: WebhookRequest) -> str | None:
    """v2: the event id (``meta.id``); v1: webhook, object and microsecond stamp."""
    try:
        raw = load_json(request.body)
    except PayloadError:
        return None
    meta = raw.get("meta") if isinstance(raw, dict) else None
    if not isinstance(meta, dict):
        return None
    if _is_v2(meta):
        key = f"pipedrive:v2:{meta.get('id')}"
    elif all(meta.get(k) is not None for k in ("webhook_id", "id", "timestamp_micro")):
        key = f"pipedrive:v1:{meta['webhook_id']}:{meta['id']}:{meta['timestamp_micro']}"
    else:
        return None
    return key if meta.get("id") is not None and _SAFE_ID.match(key) else None


def check(request: WebhookRequest, *, context: ParseContext) -> bool:
    """At the ingress: is this a deal change we act on? PayloadError when it is but cannot
    become a booking (e.g. a won deal without its event date)."""
    return bool(_messages(request, context, lookup=None))


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    """In the worker: the booking (or cancellation) this deal change means, if any."""
    return _messages(request, context, lookup=person_lookup(context))


def read_change(raw: dict[str, Any]) -> Change | None:
    """The deal change in a v1 or v2 body; None for other objects."""
    meta = raw.get("meta")
    if not isinstance(meta, dict):
        raise PayloadError("required in every Pipedrive webhook", field="meta")
    try:
        if _is_v2(meta):
            v2 = EnvelopeV2.model_validate(raw)
            if v2.meta.entity != "deal":
                return None
            current = deal_of(v2.data, field="data") if v2.data else None
            entity = meta.get("entity_id")
            return Change(
                2, v2.meta.action, current, v2.previous, pd_time(v2.meta.timestamp), _id(entity)
            )
        v1 = EnvelopeV1.model_validate(raw)
    except ValidationError as exc:
        raise payload_error(exc) from None
    if v1.meta.object != "deal":
        return None
    current = deal_of(v1.current, field="current") if v1.current else None
    action = V1_ACTIONS.get(v1.meta.action, v1.meta.action)
    return Change(1, action, current, v1.previous, pd_time(v1.meta.timestamp), _id(v1.meta.id))


def _messages(
    request: WebhookRequest, context: ParseContext, *, lookup: Lookup | None
) -> list[BookingMessage]:
    change = read_change(load_object(request.body))
    if change is None:
        return []
    current, previous = change.current, change.previous
    if current is not None and current.status == "won":
        first = (
            (change.stamp, current.update_time)
            if change.version == 2
            else (current.update_time, change.stamp)
        )
        updated = next((t for t in first if t is not None), None)
        if updated is None:
            raise PayloadError("no time to order this change by", field="meta.timestamp")
        return [won_message(current, context, updated_at=updated, lookup=lookup)]
    if not _was_won(change):
        return []
    deal_id = current.id if current else _id((previous or {}).get("id")) or change.deal_id
    if deal_id is None:
        raise PayloadError("no deal id on the deletion", field="meta.entity_id")
    return [cancelled_message(deal_id, context, updated_at=_cancel_time(change))]


def _was_won(change: Change) -> bool:
    previous = change.previous
    if change.action == "delete" and change.current is None:
        # the last state, when Pipedrive sends it, says whether we ever had a booking
        return previous is None or "status" not in previous or previous.get("status") == "won"
    if previous is None:
        return False
    # v1 sends the whole previous deal; v2 only the changed fields, so a missing status means
    # it did not change (and the current one is not won, or we would not be here)
    return previous.get("status") == "won"


def _cancel_time(change: Change) -> datetime:
    """Strictly after the last won state, so the cancellation is never taken as stale."""
    known = [t for t in (change.stamp, change.current.update_time if change.current else None) if t]
    last = pd_time((change.previous or {}).get("update_time"))
    if last is not None:
        known.append(last + timedelta(milliseconds=1))
    if not known:
        raise PayloadError("no time to order this change by", field="meta.timestamp")
    return max(known)


def _is_v2(meta: Mapping[str, Any]) -> bool:
    return "entity" in meta or str(meta.get("version", "")).startswith("2")


def _id(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text if text.isdigit() else None
