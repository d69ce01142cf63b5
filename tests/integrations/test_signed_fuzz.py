"""Signed input never gets a 5xx: every registered source, fuzzed through the real ingress.

Each body is signed validly with the tenant's secret, so it reaches the connector: random
bytes, JSON nested a thousand deep, numbers no float or int conversion holds, NUL bytes,
invalid UTF-8, and the vendor's own fixtures with any field replaced by any JSON value or
spliced with such raw text. Whatever arrives, the answer is a stored delivery (2xx; quarantined
with a reason when it does not parse) or 401/404/413/422 with a reason — never a 500 with
nothing stored, which a vendor retries forever. A new source in the registry is fuzzed as soon
as it has a signer here (``test_every_registered_source_is_fuzzed`` insists).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from integrations import registry
from integrations.calcom import webhook as calcom
from integrations.calendly import webhook as calendly
from integrations.errors import BookwireError
from integrations.hubspot import webhook as hubspot
from tests.integrations.mutations import JSON, paths, replaced
from tests.support import FIXTURES, WEBHOOK_SECRET, ServerThread
from tests.vendor_support import (
    CALCOM_SECRET,
    CALCOM_TOML,
    CALENDLY_KEY,
    HUBSPOT_SECRET,
    acuity_headers,
    calendly_toml,
    hubspot_workflow_toml,
    pipedrive_headers,
    pipedrive_toml,
    square_headers,
    write_secrets,
    write_tenants,
)
from worker.ingress.app import create_app
from worker.intake import deferred
from worker.runtime import Runtime
from worker.store.models import Delivery

ANSWERS = {200, 202, 401, 404, 413, 422}

Signer = Callable[[bytes, str], dict[str, str]]  # (exact body, public URL) -> headers


def standard_webhooks(body: bytes, url: str, *, stamp: str | None = None) -> dict[str, str]:
    """Standard Webhooks over the exact bytes (the package's ``sign`` needs text)."""
    msg_id = f"msg_{uuid.uuid4().hex}"
    stamp = stamp or str(int(datetime.now(UTC).timestamp()))
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def calendly_signed(body: bytes, url: str, *, stamp: str | None = None) -> dict[str, str]:
    """Calendly's scheme by hand: the stamp may be any text (the package signs a datetime)."""
    stamp = stamp or str(int(datetime.now(UTC).timestamp()))
    digest = hmac.new(CALENDLY_KEY.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return {calendly.HEADER: f"t={stamp},v1={digest.hexdigest()}"}


def hubspot_signed(body: bytes, url: str, *, stamp: str | None = None) -> dict[str, str]:
    stamp = stamp or str(int(datetime.now(UTC).timestamp() * 1000))
    signed = b"POST" + hubspot.canonical_uri(url).encode() + body + stamp.encode()
    digest = hmac.new(HUBSPOT_SECRET.encode(), signed, hashlib.sha256).digest()
    return {hubspot.SIGNATURE: base64.b64encode(digest).decode(), hubspot.TIMESTAMP: stamp}


SIGNERS: dict[str, Signer] = {
    "generic": standard_webhooks,
    "hubspot": hubspot_signed,
    "hubspot-workflow": hubspot_signed,
    "acuity": lambda body, url: acuity_headers(body),
    "square": lambda body, url: square_headers(body),
    "calendly": calendly_signed,
    "calcom": lambda body, url: {calcom.HEADER: calcom.sign(CALCOM_SECRET, body)},
    "pipedrive": lambda body, url: pipedrive_headers(),
}


WORKFLOW = {
    "object_type": "deal",
    "timezone": "America/Chicago",
    "start_property": "event_start",
    "default_duration_minutes": 120,
}


def fuzzed_tenants(directory: Path, sandbox_url: str) -> Path:
    """``acme`` with every registered source (the contract test reads the same file)."""
    more = (calendly_toml(), CALCOM_TOML, pipedrive_toml(sandbox_url))
    return write_tenants(
        directory, sandbox_url, *more, hubspot_workflow_toml(**WORKFLOW), vendors=True
    )


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    return fuzzed_tenants(tmp_path, sandbox.url)


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    return write_secrets(tmp_path)


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    server = ServerThread(create_app(runtime))
    runtime.settings.public_base_url = server.url  # HubSpot signs the URL it called
    with server:
        yield server


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def crashes(ingress: ServerThread, sandbox: ServerThread) -> Iterator[list[logging.LogRecord]]:
    """Errors logged while the test runs: uvicorn logs every unhandled exception of the app
    ("Exception in ASGI application"), the inbox writer every error it survives. Attached
    after the servers are built (building one reconfigures uvicorn's loggers)."""
    handler = Collected()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.records
    for logger in loggers:
        logger.removeHandler(handler)


# --- what is sent ----------------------------------------------------------------------------

SENTINEL = "\x00bookwire-splice\x00"
RAW_VALUES = st.sampled_from(
    [
        "1" * 5000,  # past Python's int conversion limit
        "-" + "9" * 400,
        "1e999",
        "-1e400",
        "NaN",
        "Infinity",
        "-0.0",
        '"\\u0000"',
        '"\\ud800"',  # a lone surrogate
        "[" * 1000 + "]" * 1000,
        '{"a":' * 1000 + "1" + "}" * 1000,
        "[" * 65 + "]" * 65,
    ]
)


def fixture_dir(source: str) -> Path:
    """``tests/fixtures/<source>``, or the vendor's (``hubspot`` for ``hubspot-workflow``)."""
    own = FIXTURES / source
    return own if own.is_dir() else FIXTURES / source.partition("-")[0]


def fixtures_of(source: str) -> list[bytes]:
    folder = fixture_dir(source)
    return [path.read_bytes() for path in sorted(folder.iterdir())] if folder.is_dir() else []


def deep(levels: int, opener: str) -> bytes:
    closer = {"[": "]", '{"k":': "}"}[opener]
    inner = "1" if opener.startswith("{") else ""
    return (opener * levels + inner + closer * levels).encode()


@st.composite
def byte_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """The fixture's bytes cut, or with bytes (NUL, invalid UTF-8, anything) put in."""
    at = draw(st.integers(0, len(original)))
    inserted = draw(
        st.sampled_from([b"\x00", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80"]) | st.binary(max_size=8)
    )
    if draw(st.booleans()):
        return original[:at]
    return original[:at] + inserted + original[at + 1 :]


@st.composite
def json_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """Any field of a JSON fixture replaced by any JSON value, or spliced with raw text."""
    try:
        parsed = json.loads(original)
    except ValueError:
        return original
    if not list(paths(parsed)):
        return original
    pick = draw(st.integers(0, 10_000))
    if draw(st.booleans()):
        return json.dumps(replaced(parsed, pick, draw(JSON))).encode()
    text = json.dumps(replaced(parsed, pick, SENTINEL))
    return text.replace(json.dumps(SENTINEL), draw(RAW_VALUES), 1).encode()


@st.composite
def form_mutation(draw: st.DrawFn, original: bytes) -> bytes:
    """A form field of a fixture given any value: text with NULs, huge numbers, bad bytes."""
    fields = original.split(b"&")
    if not fields or b"=" not in original:
        return original
    index = draw(st.integers(0, len(fields) - 1))
    name = fields[index].split(b"=", 1)[0]
    value = draw(
        st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass"))
        | st.sampled_from([b"9" * 5000, b"-1", b"%00", b"%FF%FE", b"\xff", b"1e999"])
    )
    fields[index] = name + b"=" + value
    return b"&".join(fields)


def bodies(source: str) -> st.SearchStrategy[bytes]:
    samples = fixtures_of(source)
    fixture = st.sampled_from(samples) if samples else st.just(b"{}")
    return st.one_of(
        st.binary(max_size=300),
        st.builds(deep, st.integers(60, 3000), st.sampled_from(["[", '{"k":'])),
        fixture.flatmap(byte_mutation),
        fixture.flatmap(json_mutation),
        fixture.flatmap(json_mutation),
        fixture.flatmap(form_mutation),
    )


# --- what must come back ---------------------------------------------------------------------


def post(
    ingress: ServerThread, source: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    return httpx.post(
        f"{ingress.url}/webhooks/{source}/acme",
        content=body,
        headers={"content-type": "application/octet-stream", **headers},
        timeout=30,
    )


def send(ingress: ServerThread, source: str, body: bytes) -> httpx.Response:
    url = f"{ingress.url}/webhooks/{source}/acme"
    return post(ingress, source, body, SIGNERS[source](body, url))


def stored(runtime: Runtime, inbox_id: int) -> Delivery:
    with runtime.store.transaction() as session:
        delivery = session.get(Delivery, inbox_id)
        assert delivery is not None, f"answered with inbox id {inbox_id} but nothing stored"
        session.expunge(delivery)
        return delivery


def deliveries(runtime: Runtime) -> int:
    with runtime.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


def assert_answered(runtime: Runtime, response: httpx.Response) -> Delivery | None:
    """A stored delivery (quarantined ones with their reason) or a refusal with a reason."""
    assert response.status_code < 500, response.text
    assert response.status_code in ANSWERS, response.text
    answer: dict[str, Any] = response.json()
    if response.status_code in (401, 404, 413):
        assert answer.get("error"), answer
        return None
    delivery = stored(runtime, answer["inbox_id"])
    if response.status_code == 422 or "reason" in answer:  # quarantined (422, or 202)
        assert answer["reason"], answer
        assert delivery.status == "quarantined" and delivery.reason, delivery.status
    elif answer["outcome"] == "ignored":
        assert delivery.status == "ignored"
    return delivery


def test_every_registered_source_is_fuzzed() -> None:
    """A new connector fails here until it has a signer (and so is fuzzed below)."""
    assert set(SIGNERS) == set(registry.SOURCES)


@pytest.mark.parametrize("source", sorted(registry.SOURCES))
def test_signed_input_is_stored_or_refused_with_a_reason_never_a_5xx(
    source: str, runtime: Runtime, ingress: ServerThread, crashes: list[logging.LogRecord]
) -> None:
    @settings(max_examples=100, deadline=None)
    @given(body=bodies(source))
    def fuzz(body: bytes) -> None:
        delivery = assert_answered(runtime, send(ingress, source, body))
        if delivery is not None and delivery.status == "received":
            # a thin webhook: the worker's parse must settle it or fail as ours, too
            with contextlib.suppress(BookwireError):  # retried, or a failure record
                deferred.ingest(runtime, delivery.id, now=datetime.now(UTC))

    fuzz()
    assert [r.getMessage() for r in crashes] == []


@pytest.mark.parametrize("source", sorted(registry.SOURCES))
@pytest.mark.parametrize("opener", ["[", '{"k":'])
def test_json_a_thousand_deep_is_quarantined_not_a_500(
    source: str,
    opener: str,
    runtime: Runtime,
    ingress: ServerThread,
    crashes: list[logging.LogRecord],
) -> None:
    response = send(ingress, source, deep(1000, opener))
    delivery = assert_answered(runtime, response)
    assert delivery is not None and delivery.status == "quarantined"
    assert crashes == []


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param("253402300800", id="year-10000"),
        pytest.param("99999999999999999999", id="huge"),
        pytest.param("9" * 5000, id="thousands-of-digits"),
        pytest.param("-1", id="negative"),
        pytest.param("1e3", id="float"),
        pytest.param("soon", id="not-a-number"),
        pytest.param("0", id="epoch"),
    ],
)
@pytest.mark.parametrize(
    ("source", "signer"),
    [
        pytest.param("calendly", calendly_signed, id="calendly"),
        pytest.param("generic", standard_webhooks, id="generic"),
        pytest.param("hubspot", hubspot_signed, id="hubspot"),
        pytest.param("hubspot-workflow", hubspot_signed, id="hubspot-workflow"),
    ],
)
def test_a_signed_timestamp_no_clock_holds_is_401_and_nothing_stored(
    source: str,
    signer: Callable[..., dict[str, str]],
    stamp: str,
    runtime: Runtime,
    ingress: ServerThread,
    crashes: list[logging.LogRecord],
) -> None:
    body = fixtures_of(source)[0]
    url = f"{ingress.url}/webhooks/{source}/acme"
    response = post(ingress, source, body, signer(body, url, stamp=stamp))
    assert response.status_code == 401, response.text
    assert "signature rejected" in response.json()["error"]
    assert "timestamp" in response.json()["error"].lower()
    assert deliveries(runtime) == 0 and crashes == []


def test_a_lone_surrogate_in_a_name_is_quarantined_with_the_reason(
    runtime: Runtime, ingress: ServerThread, crashes: list[logging.LogRecord]
) -> None:
    """``"\\ud800"`` is valid JSON but not Unicode: it reached the booking's Person model
    (a ValidationError outside the connector's error tree)."""
    body = json.loads((FIXTURES / "calcom" / "booking_created.json").read_bytes())
    body["payload"]["attendees"][0]["name"] = "\ud800"
    response = send(ingress, "calcom", json.dumps(body).encode())  # ensure_ascii: "\ud800"
    assert response.status_code == 422, response.text
    assert "not Unicode" in response.json()["reason"]
    assert stored(runtime, response.json()["inbox_id"]).status == "quarantined"
    assert crashes == []


def test_a_hubspot_event_time_no_clock_holds_is_quarantined_at_the_ingress(
    runtime: Runtime, ingress: ServerThread, crashes: list[logging.LogRecord]
) -> None:
    """A deletion is applied without a look-up, from ``occurredAt``: a value past year 9999
    was an OverflowError in the worker; now the ingress quarantines it naming the field."""
    events = json.loads((FIXTURES / "hubspot" / "deal_deletion.json").read_bytes())
    events[0]["occurredAt"] = 10**16
    response = send(ingress, "hubspot", json.dumps(events).encode())
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "0.occurredAt"
    assert stored(runtime, response.json()["inbox_id"]).status == "quarantined"
    assert crashes == []
