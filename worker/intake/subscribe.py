"""How ``bookwire connect`` speaks to each vendor's subscription API: one ``Vendor`` record per
source that has one (``VENDORS``), with the three calls the command makes: register the webhook
subscription (with the secret we choose, or taking the one the vendor chooses), describe that
request for ``--dry-run``, and have a test delivery reach the ingress.

Sources with no such API are onboarded by printed steps (``worker.intake.onboarding``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from integrations.calcom import client as calcom
from integrations.calcom import webhook as calcom_webhook
from integrations.calendly import client as calendly
from integrations.calendly import webhook as calendly_webhook
from integrations.pipedrive import client as pipedrive
from integrations.pipedrive.webhook import basic_auth
from integrations.square import client as square

REDACTED = "<generated: written to the secrets file>"  # what the dry run shows


@dataclass(frozen=True)
class Target:
    """Who is being connected, and where the vendor must deliver."""

    source: str
    tenant: str
    callback_url: str
    secret_env: str
    token_env: str
    api_base_url: str
    scope: str
    options: dict[str, str] = field(default_factory=dict)  # --option KEY=VALUE


@dataclass
class Registered:
    """What the vendor's answer adds: the secret (ours or its), options, its subscription."""

    secret: str
    options: dict[str, str] = field(default_factory=dict)
    subscription: str = ""


@dataclass(frozen=True)
class Vendor:
    """How ``connect`` speaks to one vendor's subscription API."""

    slug: str
    default_api: str
    base_option: str  # the connector option that holds the API's base URL
    credential: str  # the credentials key the connector reads its token from
    # (http, target, token, secret) -> Registered; secret "" when the vendor chooses it
    register: Callable[[httpx.Client, Target, str, str], Registered]
    # target -> the request the dry run shows instead of calling the vendor
    describe: Callable[[Target], dict[str, Any]]
    # (http, target, token, registered) -> the status the ingress answered a test delivery
    test_delivery: Callable[[httpx.Client, Target, str, Registered], int | None]
    make_secret: Callable[[], str] | None = None  # None: the vendor chooses the secret
    retry_every: float = 1.0  # seconds between test deliveries while the ingress is not ready
    required_options: tuple[str, ...] = ()


def _post(http: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> int:
    sent = {"content-type": "application/json", **headers}
    return http.post(url, content=body, headers=sent).status_code


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


# -- Calendly: we choose the signing key; no test endpoint, so we sign one ourselves ----------


def _calendly_register(http: httpx.Client, target: Target, token: str, secret: str) -> Registered:
    uri, organization, user = calendly.create_subscription(
        http,
        api_base_url=target.api_base_url,
        token=token,
        url=target.callback_url,
        signing_key=secret,
        scope=target.scope,
    )
    # the backfill and source health list what the subscription's scope covers
    options = {"user": user} if user else {"organization": organization}
    return Registered(secret, options, subscription=uri)


def _calendly_describe(target: Target) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": target.callback_url,
        "events": list(calendly.EVENTS),
        "organization": "<your organization, from GET /users/me>",
        "scope": target.scope,
        "signing_key": REDACTED,
    }
    if target.scope == "user":
        body["user"] = "<your user, from GET /users/me>"
    return {"method": "POST", "url": f"{target.api_base_url}/webhook_subscriptions", "json": body}


def _calendly_test(http: httpx.Client, target: Target, token: str, done: Registered) -> int:
    """An event the connector deliberately ignores (no booking is made), signed as Calendly
    signs with the key we chose."""
    body = f'{{"event":"bookwire.connect_test","created_at":"{_stamp()}"}}'.encode()
    signature = calendly_webhook.sign(done.secret, body, datetime.now(UTC))
    return _post(http, target.callback_url, body, {"calendly-webhook-signature": signature})


# -- Cal.com: we choose the secret; Cal.com's ping is a PING trigger, which we sign -----------


def _calcom_register(http: httpx.Client, target: Target, token: str, secret: str) -> Registered:
    webhook = calcom.create_webhook(
        http,
        api_base_url=target.api_base_url,
        api_key=token,
        url=target.callback_url,
        secret=secret,
    )
    return Registered(secret, subscription=f"webhook {webhook}")


def _calcom_describe(target: Target) -> dict[str, Any]:
    body = {
        "active": True,
        "subscriberUrl": target.callback_url,
        "triggers": list(calcom.TRIGGERS),
        "secret": REDACTED,
    }
    return {"method": "POST", "url": f"{target.api_base_url}/v2/webhooks", "json": body}


def _calcom_test(http: httpx.Client, target: Target, token: str, done: Registered) -> int:
    body = f'{{"triggerEvent":"PING","createdAt":"{_stamp()}","payload":{{}}}}'.encode()
    signature = calcom_webhook.sign(done.secret, body)
    return _post(http, target.callback_url, body, {"x-cal-signature-256": signature})


# -- Pipedrive: HTTP Basic credentials we choose; a non-deal event proves them ----------------


def _pipedrive_register(http: httpx.Client, target: Target, token: str, secret: str) -> Registered:
    user, _, password = secret.partition(":")
    webhook = pipedrive.create_webhook(
        http,
        api_base_url=target.api_base_url,
        api_token=token,
        url=target.callback_url,
        user=user,
        password=password,
    )
    return Registered(secret, subscription=f"webhook {webhook}")


def _pipedrive_describe(target: Target) -> dict[str, Any]:
    body = {
        "subscription_url": target.callback_url,
        "event_action": "*",
        "event_object": "deal",
        "http_auth_user": "bookwire",
        "http_auth_password": REDACTED,
        "version": "2.0",
    }
    return {"method": "POST", "url": f"{target.api_base_url}/v1/webhooks", "json": body}


def _pipedrive_test(http: httpx.Client, target: Target, token: str, done: Registered) -> int:
    body = (
        f'{{"meta":{{"action":"change","entity":"person","id":"bookwire-connect-{_stamp()}",'
        f'"version":"2.0"}},"data":null}}'
    ).encode()
    return _post(http, target.callback_url, body, {"authorization": basic_auth(done.secret)})


# -- Square: Square chooses the signature key; its test endpoint sends the test event ---------


def _square_register(http: httpx.Client, target: Target, token: str, secret: str) -> Registered:
    subscription, key = square.create_subscription(
        http,
        base_url=target.api_base_url,
        token=token,
        api_version=target.options.get("api_version", SQUARE_VERSION),
        url=target.callback_url,
        key=f"bookwire-{target.tenant}-{secrets.token_hex(8)}"[:45],
    )
    # Square signs the notification URL with the body: the connector must know it exactly
    return Registered(key, {"notification_url": target.callback_url}, subscription=subscription)


def _square_describe(target: Target) -> dict[str, Any]:
    body = {
        "idempotency_key": "<generated>",
        "subscription": {
            "name": "bookwire",
            "event_types": list(square.SUBSCRIBED_EVENTS),
            "notification_url": target.callback_url,
            "api_version": target.options.get("api_version", SQUARE_VERSION),
        },
    }
    url = f"{target.api_base_url}/v2/webhooks/subscriptions"
    return {"method": "POST", "url": url, "json": body, "then": f"{url}/<id>/test"}


def _square_test(http: httpx.Client, target: Target, token: str, done: Registered) -> int | None:
    """Square's test endpoint: Square sends the event and tells us what the ingress said."""
    return square.send_test_event(
        http,
        base_url=target.api_base_url,
        token=token,
        api_version=target.options.get("api_version", SQUARE_VERSION),
        subscription_id=done.subscription,
    )


def _basic_pair() -> str:
    return f"bookwire:{secrets.token_urlsafe(32)}"


SQUARE_VERSION = "2024-10-17"
VENDORS: dict[str, Vendor] = {
    "calendly": Vendor(
        slug="calendly",
        default_api="https://api.calendly.com",
        base_option="api_base_url",
        credential="api_token",
        register=_calendly_register,
        describe=_calendly_describe,
        test_delivery=_calendly_test,
        make_secret=lambda: secrets.token_hex(32),
    ),
    "calcom": Vendor(
        slug="calcom",
        default_api="https://api.cal.com",
        base_option="api_base_url",
        credential="api_key",
        register=_calcom_register,
        describe=_calcom_describe,
        test_delivery=_calcom_test,
        make_secret=lambda: secrets.token_hex(32),
    ),
    "pipedrive": Vendor(
        slug="pipedrive",
        default_api="",  # https://<company>.pipedrive.com: always given (--api-base-url)
        base_option="api_base_url",
        credential="api_token",
        register=_pipedrive_register,
        describe=_pipedrive_describe,
        test_delivery=_pipedrive_test,
        make_secret=_basic_pair,
        required_options=("event_date_field", "start_time_field"),
    ),
    "square": Vendor(
        slug="square",
        default_api="https://connect.squareup.com",
        base_option="base_url",
        credential="access_token",
        register=_square_register,
        describe=_square_describe,
        test_delivery=_square_test,
        retry_every=5.0,  # each try makes Square send an event: ask less often
    ),
}
