"""``bookwire connect SOURCE --tenant T --url PUBLIC_BASE_URL``: onboard a client's source.

Where the vendor has an API for it (``integrations.<vendor>.client``), register the webhook
subscription for the events the connector reads at ``<PUBLIC_BASE_URL>/webhooks/<source>/<T>``;
keep its signing secret as a reference: a dotenv line in the secrets file, named from the
tenants file as ``{ env = "…" }`` (the value is never printed or logged); then send (or have
the vendor send) a test delivery and wait until the ingress answers it as verified. Where the
vendor has no such API (``integrations.onboarding``), print the exact steps instead.

Order of effects, so that a crash loses nothing: a secret we choose is written to the secrets
file before the vendor hears of it; a secret the vendor chooses (Square) is written as soon as
its answer arrives; the tenants file last. ``--dry-run`` shows the requests and writes nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values

from integrations.calendly import client as calendly
from integrations.calendly import webhook as calendly_webhook
from integrations.errors import BookwireError
from worker.runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
REDACTED = "<generated: written to the secrets file>"


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


@dataclass
class Registered:
    """What the vendor's answer adds to the tenants file."""

    secret: str
    options: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Vendor:
    """How ``connect`` speaks to one vendor's subscription API."""

    slug: str
    default_api: str
    credential: str  # the credentials key the connector reads its token from
    we_choose_secret: bool
    # (http, target, token, secret or "") -> Registered; secret "" when the vendor chooses
    register: Callable[[httpx.Client, Target, str, str], Registered]
    # (target, secret) -> what the dry run shows instead of calling the vendor
    describe: Callable[[Target], dict[str, Any]]
    # (http, target, secret) -> the ingress's answer to a signed test delivery
    test_delivery: Callable[[httpx.Client, Target, str], httpx.Response]


# -- Calendly ---------------------------------------------------------------------------------


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
    return Registered(secret, options, note=f"subscription {uri}")


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


def _calendly_test(http: httpx.Client, target: Target, secret: str) -> httpx.Response:
    """Calendly has no test-delivery endpoint, but the key is ours: we sign, as Calendly does,
    an event the connector deliberately ignores (so no booking is made) and post it."""
    now = datetime.now(UTC)
    body = (
        '{"event":"bookwire.connect_test","created_at":"'
        + now.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        + '","payload":null}'
    ).encode()
    headers = {
        "content-type": "application/json",
        "calendly-webhook-signature": calendly_webhook.sign(secret, body, now),
    }
    return http.post(target.callback_url, content=body, headers=headers)


VENDORS: dict[str, Vendor] = {
    "calendly": Vendor(
        slug="calendly",
        default_api="https://api.calendly.com",
        credential="api_token",
        we_choose_secret=True,
        register=_calendly_register,
        describe=_calendly_describe,
        test_delivery=_calendly_test,
    ),
}


# -- the command ------------------------------------------------------------------------------


def add_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("source", help=f"source slug: {', '.join(sorted(VENDORS))} (API)")
    cmd.add_argument("--tenant", required=True, help="tenant slug (in the tenants file)")
    cmd.add_argument(
        "--url", required=True, help="the ingress's public base URL (https://hooks.example.com)"
    )
    cmd.add_argument(
        "--token-env",
        help="the environment variable or secrets-file key holding the vendor API token "
        "(default: <TENANT>_<SOURCE>_TOKEN)",
    )
    cmd.add_argument("--api-base-url", help="the vendor API's base URL (default: the vendor's)")
    cmd.add_argument(
        "--scope",
        choices=("user", "organization"),
        default="user",
        help="calendly: the token owner's bookings (user) or the organization's (admin token)",
    )
    cmd.add_argument("--write", action="store_true", help="append the source to the tenants file")
    cmd.add_argument("--dry-run", action="store_true", help="show what would be sent; no effect")
    cmd.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the ingress to verify the test delivery (restart it after "
        "--write so it loads the new source)",
    )


def env_name(*parts: str) -> str:
    """``acme-events``, ``calendly``, ``signing key`` → ``ACME_EVENTS_CALENDLY_SIGNING_KEY``."""
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_").upper() for p in parts)


def run(rt: Runtime, args: argparse.Namespace) -> int:
    vendor = VENDORS.get(args.source)
    if vendor is None:
        print(f"connect: no subscription API for {args.source!r}", file=sys.stderr)
        return EXIT_CONFIG
    tenant = rt.tenant(args.tenant)
    if tenant is None:
        print(f"connect: unknown tenant {args.tenant!r}", file=sys.stderr)
        return EXIT_CONFIG
    if args.source in tenant.sources:
        print(
            f"connect: tenant {args.tenant!r} already has a {args.source} source in "
            f"{rt.settings.resolved_tenants_file}; remove it first to connect again",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    target = Target(
        source=args.source,
        tenant=args.tenant,
        callback_url=f"{args.url.rstrip('/')}/webhooks/{args.source}/{args.tenant}",
        secret_env=env_name(args.tenant, args.source, "signing key"),
        token_env=args.token_env or env_name(args.tenant, args.source, "token"),
        api_base_url=(args.api_base_url or vendor.default_api).rstrip("/"),
        scope=args.scope,
    )
    if args.dry_run:
        return _dry_run(vendor, target)
    secrets_file = rt.settings.resolved_secrets_file
    if secrets_file is None:
        print("connect: set BOOKWIRE_SECRETS_FILE: the secret goes there", file=sys.stderr)
        return EXIT_CONFIG
    known = _dotenv(secrets_file)
    token = os.environ.get(target.token_env) or known.get(target.token_env)
    if not token:
        print(
            f"connect: no API token: set {target.token_env} in the environment or in "
            f"{secrets_file} (or name another with --token-env)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    if target.secret_env in known:
        print(
            f"connect: {secrets_file} already holds {target.secret_env}; remove it first",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    return _connect(rt, vendor, target, token, secrets_file, write=args.write, wait=args.wait)


def _connect(
    rt: Runtime,
    vendor: Vendor,
    target: Target,
    token: str,
    secrets_file: Path,
    *,
    write: bool,
    wait: float,
) -> int:
    started = time.monotonic()
    secret = ""
    if vendor.we_choose_secret:
        secret = secrets.token_hex(32)
        append_secret(secrets_file, target.secret_env, secret)  # before the vendor knows it
    try:
        registered = vendor.register(rt.http, target, token, secret)
    except BookwireError as exc:
        print(f"connect: {target.source} refused the subscription: {exc}", file=sys.stderr)
        if vendor.we_choose_secret:
            print(f"  ({target.secret_env} stays in {secrets_file}, unused)", file=sys.stderr)
        return EXIT_FAILED
    if not vendor.we_choose_secret:
        append_secret(secrets_file, target.secret_env, registered.secret)
    print(f"registered {target.source} for {target.tenant}: {target.callback_url}")
    if registered.note:
        print(f"  {registered.note}")
    print(f"  signing secret: {target.secret_env} in {secrets_file}")
    snippet = source_toml(vendor, target, registered)
    tenants_file = rt.settings.resolved_tenants_file
    if write:
        with tenants_file.open("a", encoding="utf-8") as handle:
            handle.write("\n" + snippet)
        print(f"  appended to {tenants_file}; restart the ingress (or `bookwire up`) to load it")
    else:
        print(f"add to {tenants_file}, then restart the ingress:\n")
        print(snippet)
    ok = wait_verified(rt.http, vendor, target, registered.secret, wait=wait)
    print(f"connected in {time.monotonic() - started:.1f}s" if ok else "not verified yet")
    return EXIT_OK if ok else EXIT_FAILED


def wait_verified(
    http: httpx.Client, vendor: Vendor, target: Target, secret: str, *, wait: float
) -> bool:
    """Send the test delivery until the ingress answers it as verified (2xx), or ``wait``
    seconds pass. 404: the ingress has not loaded the source yet; 401: it holds another
    secret. Each different answer is printed once."""
    deadline = time.monotonic() + wait
    said: set[str] = set()
    while True:
        try:
            response = vendor.test_delivery(http, target, secret)
            status: str = str(response.status_code)
        except httpx.HTTPError as exc:
            response, status = None, type(exc).__name__
        if response is not None and response.is_success:
            print(f"test delivery verified by the ingress (HTTP {response.status_code})")
            return True
        if status not in said:
            said.add(status)
            print(f"  test delivery: {status}: {_meaning(status)}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)


def _meaning(status: str) -> str:
    return {
        "404": "the ingress does not know this tenant/source yet (restart it)",
        "401": "the ingress refused the signature (another secret is configured?)",
    }.get(status, "waiting for the ingress")


def source_toml(vendor: Vendor, target: Target, registered: Registered) -> str:
    """The tenants-file table for the new source: references only, never a secret."""
    where = f"tenants.{target.tenant}.sources.{target.source}"
    lines = [
        f"[{where}]",
        f'secrets = [{{ env = "{target.secret_env}" }}]',
        f'credentials = {{ {vendor.credential} = {{ env = "{target.token_env}" }} }}',
        "",
        f"[{where}.options]",
    ]
    options = dict(registered.options)
    if target.api_base_url != vendor.default_api:
        options = {"api_base_url": target.api_base_url, **options}
    lines += [f'{key} = "{value}"' for key, value in options.items()]
    return "\n".join(lines) + "\n"


def append_secret(path: Path, name: str, value: str) -> None:
    """One ``NAME=value`` dotenv line at the end of the secrets file (created 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text("utf-8") if path.exists() else ""
    lead = "" if not existing or existing.endswith("\n") else "\n"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{lead}{name}={value}\n")
    path.chmod(0o600)


def _dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = dotenv_values(path, encoding="utf-8", interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def _dry_run(vendor: Vendor, target: Target) -> int:
    import json

    print(f"dry run: nothing is sent or written for {target.source} / {target.tenant}")
    print(f"would send: {json.dumps(vendor.describe(target), indent=2)}")
    secret_from = "generated by bookwire" if vendor.we_choose_secret else "from the answer"
    print(f"would write {target.secret_env}=<{secret_from}> to the secrets file")
    print(f"would read the API token from {target.token_env}")
    print(f"then a signed test delivery to {target.callback_url}, until verified")
    return EXIT_OK
