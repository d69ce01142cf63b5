"""The connector contract, checked for every registered source through its ``Source`` record.

Whatever a vendor sends, a connector must hold to the same promises: its own fixtures, signed
as the vendor signs them, verify and then parse into booking messages (or are deliberately
ignored, or refused with a ``PayloadError`` naming the field); a tampered body, a missing
signature header and an empty secret list are refused with ``SignatureError``. A new vendor
gets all of this by adding its package, its registry line and its fixtures (and a signer in
``test_signed_fuzz.SIGNERS``, which that module insists on).

The tenants file and the signers are the signed-input fuzz test's (``test_signed_fuzz``), so
the secrets, options and signatures are the ones the real ingress checks there.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.tenants import Tenants, load_tenants
from integrations import registry
from integrations.booking import BookingMessage
from integrations.connector import ParseContext, Source, WebhookRequest
from integrations.errors import PayloadError, SignatureError
from tests.integrations.test_signed_fuzz import SIGNERS, fixture_dir, fuzzed_tenants
from tests.vendor_support import write_secrets

TENANT = "acme"
NOBODY = "http://127.0.0.1:9"  # look-ups never run here: thin webhooks are only checked
# vendors whose authentication does not cover the body, and why
BODY_UNSIGNED = {"pipedrive": "HTTP Basic credentials: Pipedrive signs nothing"}
NOT_DELIVERIES = {"NOTES.md", "records.json", "appointments.json"}  # notes, API seed records
SOURCES = sorted(registry.SOURCES)


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Tenants:
    folder = tmp_path_factory.mktemp("contract")
    return load_tenants(fuzzed_tenants(folder, NOBODY), secrets_file=write_secrets(folder))


def deliveries(slug: str) -> list[Path]:
    folder = fixture_dir(slug)
    return [p for p in sorted(folder.iterdir()) if p.name not in NOT_DELIVERIES]


def signed(slug: str, body: bytes) -> WebhookRequest:
    url = f"https://hooks.acme.example/webhooks/{slug}/{TENANT}"
    headers = {k.lower(): v for k, v in SIGNERS[slug](body, url).items()}
    return WebhookRequest("POST", url, headers, body)


def secrets(tenants: Tenants, slug: str) -> list[str]:
    refs = tenants.tenants[TENANT].sources[slug].secrets
    return [ref.value.get_secret_value() for ref in refs]


def options(tenants: Tenants, source: Source) -> object:
    return source.options.model_validate(tenants.tenants[TENANT].sources[source.slug].options)


def verify(
    tenants: Tenants, source: Source, request: WebhookRequest, *, keys: list[str] | None = None
) -> None:
    """The source's verify as the ingress calls it (``keys``: other secrets than the tenant's)."""
    given = secrets(tenants, source.slug) if keys is None else keys
    source.verify(request, secrets=given, now=datetime.now(UTC), options=options(tenants, source))


def take(tenants: Tenants, source: Source, request: WebhookRequest) -> list[BookingMessage] | bool:
    """What the ingress does after verifying: parse, or (thin webhooks) only check."""
    context = ParseContext(TENANT, source.slug, options(tenants, source), now=datetime.now(UTC))
    if source.check is not None:
        return source.check(request, context=context)
    return source.parse(request, context=context)


def booking_body(tenants: Tenants, slug: str) -> bytes:
    """The first of the source's fixtures that becomes a booking (or, thin, is relevant)."""
    source = registry.SOURCES[slug]
    for path in deliveries(slug):
        with contextlib.suppress(PayloadError):
            if take(tenants, source, signed(slug, path.read_bytes())):
                return path.read_bytes()
    raise AssertionError(f"no fixture of {slug} becomes a booking")


def test_every_source_is_registered_under_its_own_slug() -> None:
    assert all(slug == source.slug for slug, source in registry.SOURCES.items())


@pytest.mark.parametrize("slug", SOURCES)
def test_its_fixtures_verify_and_parse_or_are_refused_naming_the_field(
    tenants: Tenants, slug: str
) -> None:
    source = registry.SOURCES[slug]
    taken = 0
    for path in deliveries(slug):
        request = signed(slug, path.read_bytes())
        verify(tenants, source, request)
        try:
            result = take(tenants, source, request)
        except PayloadError as exc:  # named, unless the body is no JSON at all
            assert exc.reason and (exc.field or "not JSON" in exc.reason), path.name
            continue
        if isinstance(result, bool):
            taken += result
            continue
        assert all(isinstance(m, BookingMessage) for m in result), path.name
        assert {(m.tenant, m.source) for m in result} <= {(TENANT, slug)}, path.name
        taken += bool(result)
    assert taken, f"no fixture of {slug} becomes a booking"


def emptied(body: bytes) -> bytes:
    """The vendor's outer shape with nothing in it: ``{}``, ``[{}]`` or an empty form."""
    try:
        shape = json.loads(body)
    except ValueError:
        return b""
    return b"[{}]" if isinstance(shape, list) else b"{}"


@pytest.mark.parametrize("slug", SOURCES)
def test_a_body_missing_its_fields_is_a_payload_error_naming_one(
    tenants: Tenants, slug: str
) -> None:
    source = registry.SOURCES[slug]
    body = emptied(booking_body(tenants, slug))
    with pytest.raises(PayloadError) as refused:
        take(tenants, source, signed(slug, body))
    assert refused.value.field not in (None, "", "(body)"), refused.value
    assert refused.value.reason


@pytest.mark.parametrize("slug", SOURCES)
def test_a_tampered_body_is_refused(tenants: Tenants, slug: str) -> None:
    if slug in BODY_UNSIGNED:
        pytest.skip(BODY_UNSIGNED[slug])
    source = registry.SOURCES[slug]
    request = signed(slug, booking_body(tenants, slug))
    body = bytearray(request.body)
    body[len(body) // 2] ^= 0x01
    with pytest.raises(SignatureError):
        verify(tenants, source, WebhookRequest("POST", request.url, request.headers, bytes(body)))


@pytest.mark.parametrize("slug", SOURCES)
def test_missing_signature_headers_are_refused(tenants: Tenants, slug: str) -> None:
    source = registry.SOURCES[slug]
    request = signed(slug, booking_body(tenants, slug))
    added = request.headers.keys() - {"content-type"}
    bare = {k: v for k, v in request.headers.items() if k not in added}
    with pytest.raises(SignatureError):
        verify(tenants, source, WebhookRequest("POST", request.url, bare, request.body))


@pytest.mark.parametrize("slug", SOURCES)
def test_an_empty_secret_list_never_means_skip(tenants: Tenants, slug: str) -> None:
    source = registry.SOURCES[slug]
    request = signed(slug, booking_body(tenants, slug))
    verify(tenants, source, request)  # signed right: only the missing secrets refuse it
    with pytest.raises(SignatureError):
        verify(tenants, source, request, keys=[])
