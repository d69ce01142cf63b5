"""``bookwire connect SOURCE --tenant T --url PUBLIC_BASE_URL``: onboard a client's source.

Where the vendor has an API for it (``integrations.<vendor>.client``), register the webhook
subscription for the events the connector reads at ``<PUBLIC_BASE_URL>/webhooks/<source>/<T>``;
keep its signing secret as a reference: a dotenv line in the secrets file, named from the
tenants file as ``{ env = "…" }`` (the value is never printed or logged); then send (or have
the vendor send) a test delivery and wait until the ingress answers it as verified. Where the
vendor has no such API (``integrations.onboarding``), print the exact steps instead. What each
vendor's API is asked is in ``worker.intake.subscribe``.

Order of effects, so that a crash loses nothing: a secret we choose is written to the secrets
file before the vendor hears of it; a secret the vendor chooses (Square) is written as soon as
its answer arrives; the tenants file last. ``--dry-run`` shows the requests and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import httpx
from dotenv import dotenv_values
from pydantic import ValidationError

from integrations import registry
from integrations.errors import BookwireError
from worker.intake.onboarding import STEPS, env_name
from worker.intake.subscribe import VENDORS, Registered, Target, Vendor
from worker.runtime import Runtime

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def add_arguments(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument(
        "source",
        help=f"source slug: {', '.join(sorted(VENDORS))} (API); "
        f"{', '.join(sorted(STEPS))} (prints the steps)",
    )
    cmd.add_argument("--tenant", required=True, help="tenant slug (in the tenants file)")
    cmd.add_argument(
        "--url", required=True, help="the ingress's public base URL (https://hooks.example.com)"
    )
    cmd.add_argument(
        "--token-env",
        help="the environment variable or secrets-file key holding the vendor API token "
        "(default: <TENANT>_<SOURCE>_TOKEN)",
    )
    cmd.add_argument(
        "--api-base-url",
        help="the vendor API's base URL (default: the vendor's; pipedrive: "
        "https://<company>.pipedrive.com, required)",
    )
    cmd.add_argument(
        "--scope",
        choices=("user", "organization"),
        default="user",
        help="calendly: the token owner's bookings (user) or the organization's (admin token)",
    )
    cmd.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a source option for the tenants file (pipedrive: event_date_field and "
        "start_time_field are required)",
    )
    cmd.add_argument("--write", action="store_true", help="append the source to the tenants file")
    cmd.add_argument("--dry-run", action="store_true", help="show what would be sent; no effect")
    cmd.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the ingress to verify the test delivery (it loads a source "
        "added by --write within seconds)",
    )


def run(rt: Runtime, args: argparse.Namespace) -> int:
    """The command: refuse what cannot work before any call, then connect (or dry-run)."""
    tenant = rt.tenant(args.tenant)
    if tenant is None:
        return _refuse(f"unknown tenant {args.tenant!r}")
    callback_url = f"{args.url.rstrip('/')}/webhooks/{args.source}/{args.tenant}"
    if args.source in STEPS:
        print(STEPS[args.source](args.tenant, callback_url))
        return EXIT_OK
    vendor = VENDORS.get(args.source)
    if vendor is None:
        known = ", ".join(sorted({*VENDORS, *STEPS}))
        return _refuse(f"no subscription API or steps for {args.source!r} (known: {known})")
    if args.source in tenant.sources:
        return _refuse(
            f"tenant {args.tenant!r} already has a {args.source} source in "
            f"{rt.settings.resolved_tenants_file}; remove it first to connect again"
        )
    options = dict(item.partition("=")[::2] for item in args.option)
    missing = [name for name in vendor.required_options if not options.get(name)]
    if missing:
        return _refuse(f"{args.source} needs " + " ".join(f"--option {m}=…" for m in missing))
    base = (args.api_base_url or vendor.default_api).rstrip("/")
    if not base.startswith(("https://", "http://")):
        return _refuse(f"{args.source} needs --api-base-url (the account's API address)")
    target = Target(
        source=args.source,
        tenant=args.tenant,
        callback_url=callback_url,
        secret_env=env_name(args.tenant, args.source, "signing key"),
        token_env=args.token_env or env_name(args.tenant, args.source, "token"),
        api_base_url=base,
        scope=args.scope,
        options=options,
    )
    # what the vendor's answer adds (Calendly's user, Square's URL) is optional or known now
    early = _options(vendor, target, None)
    if vendor.slug == "square":
        early["notification_url"] = callback_url
    problem = _options_problem(args.source, early)
    if problem:
        return _refuse(f"the {args.source} options would not load: {problem} (use --option)")
    if args.dry_run:
        return _dry_run(vendor, target)
    secrets_file = rt.settings.resolved_secrets_file
    if secrets_file is None:
        return _refuse("set BOOKWIRE_SECRETS_FILE: the signing secret is written there")
    known_secrets = _dotenv(secrets_file)
    token = os.environ.get(target.token_env) or known_secrets.get(target.token_env)
    if not token:
        return _refuse(
            f"no API token: set {target.token_env} in the environment or in {secrets_file} "
            "(or name another with --token-env)"
        )
    if target.secret_env in known_secrets:
        return _refuse(f"{secrets_file} already holds {target.secret_env}; remove it first")
    return _connect(rt, vendor, target, token, secrets_file, write=args.write, wait=args.wait)


def _refuse(reason: str) -> int:
    print(f"connect: {reason}", file=sys.stderr)
    return EXIT_CONFIG


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
    secret = vendor.make_secret() if vendor.make_secret else ""
    if secret:
        append_secret(secrets_file, target.secret_env, secret)  # before the vendor knows it
    try:
        registered = vendor.register(rt.http, target, token, secret)
    except BookwireError as exc:
        print(f"connect: {target.source} refused the subscription: {exc}", file=sys.stderr)
        if secret:
            print(f"  ({target.secret_env} stays in {secrets_file}, unused)", file=sys.stderr)
        return EXIT_FAILED
    if not secret:  # the vendor chose it: keep it before anything else can fail
        append_secret(secrets_file, target.secret_env, registered.secret)
    print(f"registered {target.source} for {target.tenant}: {target.callback_url}")
    print(f"  {target.source}'s subscription: {registered.subscription}")
    print(f"  signing secret: {target.secret_env} in {secrets_file}")
    snippet = source_toml(vendor, target, registered)
    problem = _options_problem(target.source, _options(vendor, target, registered))
    tenants_file = rt.settings.resolved_tenants_file
    if write and problem is None:
        with tenants_file.open("a", encoding="utf-8") as handle:
            handle.write("\n" + snippet)
        print(f"  appended to {tenants_file}; the ingress and workers load it within seconds")
    else:
        if problem:
            print(f"  not written: the options need a fix first: {problem}")
        print(f"add to {tenants_file} (running processes load it within seconds):\n")
        print(snippet)
    ok = wait_verified(rt.http, vendor, target, token, registered, wait=wait)
    print(f"connected in {time.monotonic() - started:.1f}s" if ok else "not verified yet")
    return EXIT_OK if ok else EXIT_FAILED


def wait_verified(
    http: httpx.Client,
    vendor: Vendor,
    target: Target,
    token: str,
    registered: Registered,
    *,
    wait: float,
) -> bool:
    """Send (or have the vendor send) the test delivery until the ingress answers it as
    verified (2xx), or ``wait`` seconds pass. 404: the ingress has not loaded the source yet;
    401: it holds another secret. Each different answer is printed once."""
    deadline = time.monotonic() + wait
    said: set[str] = set()
    while True:
        try:
            code = vendor.test_delivery(http, target, token, registered)
            status = str(code) if code is not None else "unreachable"
        except (httpx.HTTPError, BookwireError) as exc:
            code, status = None, type(exc).__name__
        if code is not None and 200 <= code < 300:
            print(f"test delivery verified by the ingress (HTTP {code})")
            return True
        if status not in said:
            said.add(status)
            print(f"  test delivery: {status}: {_meaning(status)}")
        if time.monotonic() >= deadline:
            return False
        time.sleep(vendor.retry_every)


def _meaning(status: str) -> str:
    return {
        "404": "the ingress does not know this tenant/source yet (it reloads the tenants file "
        "within seconds; if this stays, its log says why the file was not reloaded)",
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
    options = _options(vendor, target, registered)
    lines += [f"{key} = {json.dumps(value)}" for key, value in options.items()]
    return "\n".join(lines) + "\n"


def _options(vendor: Vendor, target: Target, registered: Registered | None) -> dict[str, str]:
    """The source's options: the API base (unless the vendor's), --option, the vendor's answer."""
    options = dict(target.options)
    if target.api_base_url != vendor.default_api:
        options = {vendor.base_option: target.api_base_url, **options}
    return {**options, **(registered.options if registered else {})}


def _options_problem(source: str, options: dict[str, str]) -> str | None:
    """Why the connector would refuse these options at config load, if it would."""
    connector = registry.connector(source)
    try:
        if connector is not None:
            connector.options.model_validate(options)
    except ValidationError as exc:
        return "; ".join(
            ".".join(map(str, e["loc"])) + ": " + e["msg"] if e["loc"] else e["msg"]
            for e in exc.errors()
        )
    return None


def append_secret(path: Path, name: str, value: str) -> None:
    """One ``NAME=value`` dotenv line at the end of the secrets file (created 0600); a value
    with characters dotenv would read differently is single-quoted (taken literally)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text("utf-8") if path.exists() else ""
    lead = "" if not existing or existing.endswith("\n") else "\n"
    shown = value if re.fullmatch(r"[A-Za-z0-9_:.+/=-]+", value) else f"'{value}'"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{lead}{name}={shown}\n")
    path.chmod(0o600)


def _dotenv(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = dotenv_values(path, encoding="utf-8", interpolate=False)
    return {key: value for key, value in values.items() if value is not None}


def _dry_run(vendor: Vendor, target: Target) -> int:
    print(f"dry run: nothing is sent or written for {target.source} / {target.tenant}")
    print(f"would send: {json.dumps(vendor.describe(target), indent=2)}")
    chosen = "generated by bookwire" if vendor.make_secret else f"from {target.source}'s answer"
    print(f"would write {target.secret_env}=<{chosen}> to the secrets file")
    print(f"would read the API token from {target.token_env}")
    print(f"then a signed test delivery to {target.callback_url}, until verified")
    return EXIT_OK
