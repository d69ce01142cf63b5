"""The ingress's boundary around connectors: whatever a connector raises by surprise.

A connector bug (or input beyond what it handles) must never become a 500 with nothing
stored, which a vendor retries forever: a ``verify`` that crashes is a 401 (nothing verified,
nothing stored), a ``delivery_id`` that crashes falls back to the body hash, and a ``parse``
that crashes stores the delivery as quarantined with the exception's type as the reason
(replayable after a fix). The exception's own message never reaches an answer or a stored
reason: it may quote personal data.

The connector here is a stand-in for a future vendor's module with exactly those bugs,
registered like any other; everything else (ingress, intake, inbox, store) is real.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from integrations import registry
from integrations.booking import BookingMessage
from integrations.connector import ParseContext, Source, WebhookRequest
from integrations.errors import SignatureError
from tests.support import ServerThread, secrets_env, tenants_toml
from worker.ingress.app import create_app
from worker.runtime import Runtime
from worker.store.models import Delivery, Failure

SECRET = "buggy-connector-secret"
PERSONAL = "zoe@example.com"


def verify(request: WebhookRequest, *, secrets: list[str], now: datetime, options: object) -> None:
    """Signed by a shared secret in ``x-signature``; ``x-crash`` says where it breaks."""
    if request.headers.get("x-crash") == "verify":
        raise ValueError(f"year 10000 is out of range for {PERSONAL}")
    if request.headers.get("x-signature") not in secrets:
        raise SignatureError("no matching signature")


def delivery_id(request: WebhookRequest) -> str | None:
    if request.headers.get("x-crash") == "delivery-id":
        raise KeyError(PERSONAL)
    return None


def parse(request: WebhookRequest, *, context: ParseContext) -> list[BookingMessage]:
    if request.headers.get("x-crash") == "parse":
        raise RecursionError(f"maximum recursion depth exceeded reading {PERSONAL}")
    return []


BUGGY = Source(slug="buggy", verify=verify, parse=parse, delivery_id=delivery_id)


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(registry.SOURCES, "buggy", BUGGY)
    extra = '\n[tenants.acme.sources.buggy]\nsecrets = [{ env = "TEST_BUGGY_SECRET" }]\n'
    path = tmp_path / "tenants.toml"
    path.write_text(tenants_toml(sandbox.url, extra=extra), encoding="utf-8")
    return path


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.env"
    values = {**secrets_env(), "TEST_BUGGY_SECRET": SECRET}
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


@pytest.fixture
def logs(
    ingress: ServerThread, caplog: pytest.LogCaptureFixture
) -> Iterator[pytest.LogCaptureFixture]:
    """What the app logs at warning and above, uvicorn's "Exception in ASGI application"
    included (its logger does not propagate, so the capture handler goes on it too)."""
    caplog.set_level(logging.WARNING)
    uvicorn_errors = logging.getLogger("uvicorn.error")
    uvicorn_errors.addHandler(caplog.handler)
    yield caplog
    uvicorn_errors.removeHandler(caplog.handler)


def assert_no_crash_and_nothing_personal(logs: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in logs.records if r.levelno >= logging.ERROR] == []
    assert PERSONAL not in logs.text


def post(ingress: ServerThread, crash: str, body: bytes = b"{}") -> httpx.Response:
    headers = {"x-signature": SECRET, "x-crash": crash}
    return httpx.post(f"{ingress.url}/webhooks/buggy/acme", content=body, headers=headers)


def test_a_verify_that_crashes_is_a_401_and_stores_nothing(
    runtime: Runtime, ingress: ServerThread, logs: pytest.LogCaptureFixture
) -> None:
    response = post(ingress, "verify")
    assert response.status_code == 401
    assert response.json()["error"] == "signature rejected: could not be checked (ValueError)"
    with runtime.store.transaction() as session:
        assert session.scalars(select(Delivery)).all() == []
    assert_no_crash_and_nothing_personal(logs)


def test_a_parse_that_crashes_is_stored_quarantined_with_the_type_as_reason(
    runtime: Runtime, ingress: ServerThread, logs: pytest.LogCaptureFixture
) -> None:
    response = post(ingress, "parse")
    assert response.status_code == 422
    answer = response.json()
    reason = "the buggy connector could not read this delivery (RecursionError)"
    assert answer["reason"] == reason and PERSONAL not in response.text
    with runtime.store.transaction() as session:
        delivery = session.get(Delivery, answer["inbox_id"])
        assert delivery is not None and delivery.status == "quarantined"
        assert delivery.reason == reason and delivery.body == b"{}"
        failure = session.scalar(select(Failure).where(Failure.delivery_id == delivery.id))
        assert failure is not None and failure.stage == "parse"
    assert_no_crash_and_nothing_personal(logs)


def test_a_delivery_id_that_crashes_falls_back_to_the_body_hash(
    runtime: Runtime, ingress: ServerThread, logs: pytest.LogCaptureFixture
) -> None:
    first = post(ingress, "delivery-id", b'{"n": 1}')
    again = post(ingress, "delivery-id", b'{"n": 1}')
    assert (first.status_code, first.json()["outcome"]) == (200, "ignored")
    assert (again.status_code, again.json()["outcome"]) == (202, "duplicate")
    with runtime.store.transaction() as session:
        delivery = session.get(Delivery, first.json()["inbox_id"])
        assert delivery is not None and delivery.delivery_key.startswith("sha256:")
    assert_no_crash_and_nothing_personal(logs)
