"""POST alerts to the configured sink, in one of two formats.

- ``slack``: a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Discord's
  ``/slack`` endpoint …): ``{"text": "..."}``, mrkdwn. The URL is the secret: it is never
  logged or shown.
- ``webhook``: a signed generic webhook, Standard Webhooks headers as the portal hand-off
  sends them (``integrations.portal_webhook``): ``webhook-id`` (the message key: the same on
  every retry, so the receiver can deduplicate), ``webhook-timestamp`` (per attempt),
  ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` with the
  ``whsec_`` secret) and ``Idempotency-Key``. Body::

    {"type": "bookwire.alert", "timestamp": "...Z",
     "data": {"id": "<message key>", "folded": false, "alerts": [{"group", "kind", "tenant",
              "title", "text", "command", "count", "opened_at"}, ...]}}

Both bodies are deterministic for a message, so a retry sends the same bytes. Any 2xx is
sent; errors map as everywhere (``integrations.http``): 5xx, 429, timeouts and connection
errors are ``TransientError``, other 4xx ``PermanentError``, 401/403 ``ConfigurationError``.
Alert bodies carry tenant ids, slugs, kinds, counts and commands: never people or secrets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import httpx

from integrations.errors import ConfigurationError
from integrations.generic.webhook import check_secret, sign
from integrations.http import call

TARGET = "alerts"
USER_AGENT = "bookwire-alerts/1"
DIGEST_LINES = 10  # alerts listed by name in a folded Slack message; the rest are counted
Format = Literal["slack", "webhook"]


@dataclass(frozen=True)
class AlertItem:
    """One alert group as the sink sees it (ids, slugs, kinds and counts only)."""

    group: str
    kind: str
    tenant: str
    title: str
    text: str
    command: str
    count: int
    opened_at: datetime


@dataclass(frozen=True)
class AlertMessage:
    """One POST to the sink: a single alert, or several folded into one (``folded``) when
    the rate limit would otherwise hold them back."""

    key: str
    composed_at: datetime
    alerts: tuple[AlertItem, ...]
    folded: bool = False


class AlertSink:
    """The configured sink. ``send`` returns after a 2xx or raises a bookwire error."""

    def __init__(
        self,
        url: str,
        format: Format,
        http: httpx.Client,
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if format == "webhook":
            if not secret:
                raise ConfigurationError("the webhook alert sink needs BOOKWIRE_ALERT_SECRET")
            problem = check_secret(secret)
            if problem:
                raise ConfigurationError(f"BOOKWIRE_ALERT_SECRET {problem}")
        self._url = url
        self._format = format
        self._secret = secret
        self._http = http
        self._clock = clock

    def send(self, message: AlertMessage) -> None:
        headers = {"content-type": "application/json", "user-agent": USER_AGENT}
        if self._format == "slack":
            body = json.dumps({"text": slack_text(message)}, ensure_ascii=False)
        else:
            assert self._secret is not None
            body = payload(message)
            now = self._clock()
            headers |= {
                "webhook-id": message.key,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": sign(self._secret, message.key, now, body),
                "idempotency-key": message.key,
            }
        call(self._http, TARGET, "POST", self._url, content=body.encode(), headers=headers)


def slack_text(message: AlertMessage) -> str:
    """The Slack message: one alert's title, text and command; or, folded ("and K more"), a
    line per alert (the first ``DIGEST_LINES``, then how many are left unnamed)."""
    if not message.folded and len(message.alerts) == 1:
        alert = message.alerts[0]
        return f"*bookwire: {alert.title}*\n{alert.text}\n`{alert.command}`"
    lines = [f"*bookwire: and {len(message.alerts)} more alerts* (folded: rate limit reached)"]
    for alert in message.alerts[:DIGEST_LINES]:
        lines.append(f"• {alert.title}: `{alert.command}`")
    more = len(message.alerts) - DIGEST_LINES
    if more > 0:
        lines.append(f"… and {more} more: `bookwire failures` and `bookwire status --sources`")
    return "\n".join(lines)


def payload(message: AlertMessage) -> str:
    """The signed webhook's body: every alert of the message, folded or not."""
    data = {
        "id": message.key,
        "folded": message.folded,
        "alerts": [
            {
                "group": a.group,
                "kind": a.kind,
                "tenant": a.tenant,
                "title": a.title,
                "text": a.text,
                "command": a.command,
                "count": a.count,
                "opened_at": _iso(a.opened_at),
            }
            for a in message.alerts
        ],
    }
    body = {"type": "bookwire.alert", "timestamp": _iso(message.composed_at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
