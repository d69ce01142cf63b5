"""The ingress over real HTTP: verify, store before answering, publish, and the exact answers."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterator

import httpx
import pytest
import redis
from sqlalchemy import func, select

from config.settings import Settings
from tests.support import OLD_SECRET, ServerThread, booking, signed
from worker.ingress.app import create_app
from worker.ingress.probes import create_ops_app
from worker.runtime import Runtime
from worker.store.migrate import migrate
from worker.store.models import Booking, Delivery, Failure


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


def post(
    ingress: ServerThread,
    body: bytes,
    headers: dict[str, str],
    *,
    tenant: str = "acme",
    source: str = "generic",
) -> httpx.Response:
    return httpx.post(
        f"{ingress.url}/webhooks/{source}/{tenant}", content=body, headers=headers, timeout=10
    )


def count(runtime: Runtime, model: type) -> int:
    with runtime.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def queued(runtime: Runtime) -> list[int]:
    client = redis.Redis.from_url(runtime.settings.resolved_redis_url)
    return [json.loads(m)["headers"]["argsrepr"] for m in client.lrange("bookwire", 0, -1)]


def test_signed_booking_is_stored_then_published(runtime: Runtime, ingress: ServerThread) -> None:
    response = post(ingress, *signed(booking("b-1")))
    assert response.status_code == 202
    assert response.json()["outcome"] == "accepted"
    with runtime.store.transaction() as session:
        delivery = session.get(Delivery, response.json()["inbox_id"])
        assert delivery is not None and delivery.status == "accepted"
        stored = session.scalar(select(Booking).where(Booking.external_id == "b-1"))
        assert stored is not None and stored.state == "pending"
    assert queued(runtime) == [f"(booking={stored.id})"]


def test_bad_signature_is_401_and_stores_nothing(runtime: Runtime, ingress: ServerThread) -> None:
    body, headers = signed(booking("b-2"))
    headers["webhook-signature"] = "v1,Zm9v"
    response = post(ingress, body, headers)
    assert response.status_code == 401
    assert count(runtime, Delivery) == 0 and queued(runtime) == []
    with ServerThread(create_ops_app(runtime)) as ops:
        metrics = httpx.get(f"{ops.url}/metrics").text
    assert (
        'bookwire_webhooks_total{result="unauthorized",source="generic",tenant="acme"}' in metrics
    )


def test_rotated_secret_still_accepted(ingress: ServerThread) -> None:
    assert post(ingress, *signed(booking(), secret=OLD_SECRET)).status_code == 202


@pytest.mark.parametrize(("tenant", "source"), [("nobody", "generic"), ("acme", "calendly")])
def test_unknown_tenant_or_source_is_404(ingress: ServerThread, tenant: str, source: str) -> None:
    assert post(ingress, *signed(booking()), tenant=tenant, source=source).status_code == 404


def test_over_one_mebibyte_is_413(runtime: Runtime, ingress: ServerThread) -> None:
    body, headers = signed(b"x" * (1024 * 1024 + 1))
    assert post(ingress, body, headers).status_code == 413
    assert count(runtime, Delivery) == 0


def test_verified_but_invalid_is_quarantined_with_the_field(
    runtime: Runtime, ingress: ServerThread
) -> None:
    response = post(ingress, *signed(booking("b-3", timezone="Mars/Base")))
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "timezone" and "IANA" in body["reason"]
    with runtime.store.transaction() as session:
        delivery = session.get(Delivery, body["inbox_id"])
        assert delivery is not None and delivery.status == "quarantined"
        assert "timezone" in (delivery.reason or "")
        failure = session.scalar(select(Failure).where(Failure.delivery_id == delivery.id))
        assert failure is not None and failure.stage == "parse"
    assert queued(runtime) == []


def test_replayed_webhook_id_is_detected_and_not_processed_twice(
    runtime: Runtime, ingress: ServerThread
) -> None:
    body, headers = signed(booking("b-4"))
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: post(ingress, body, headers), range(6)))
    assert all(a.status_code == 202 for a in answers)
    assert {a.json()["inbox_id"] for a in answers} == {answers[0].json()["inbox_id"]}
    assert sorted(a.json()["outcome"] for a in answers).count("accepted") == 1
    assert count(runtime, Delivery) == 1 and len(queued(runtime)) == 1


def test_stale_delivery_is_recorded_and_changes_nothing(
    runtime: Runtime, ingress: ServerThread
) -> None:
    post(ingress, *signed(booking("b-5", updated_at="2026-06-02T10:00:00Z", title="New")))
    stale = post(ingress, *signed(booking("b-5", updated_at="2026-06-01T10:00:00Z", title="Old")))
    assert stale.json()["outcome"] == "stale"
    with runtime.store.transaction() as session:
        stored = session.scalar(select(Booking).where(Booking.external_id == "b-5"))
        assert stored is not None and stored.message["title"] == "New" and stored.version == 1


def test_store_down_is_503_never_2xx(settings: Settings, runtime: Runtime) -> None:
    down = Runtime(
        settings.model_copy(
            update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
        ),
        tenants=runtime.tenants,
    )
    with ServerThread(create_app(down)) as server:
        response = post(server, *signed(booking()))
    assert response.status_code == 503
    assert queued(runtime) == []


def test_broker_down_still_acknowledges_what_was_stored(
    settings: Settings, runtime: Runtime
) -> None:
    down = Runtime(
        settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}), tenants=runtime.tenants
    )
    migrate(down.store)
    with ServerThread(create_app(down)) as server:
        response = post(server, *signed(booking("b-6")))
    assert response.status_code == 202
    with runtime.store.transaction() as session:
        stored = session.scalar(select(Booking).where(Booking.external_id == "b-6"))
        assert stored is not None and stored.state == "pending"  # the relay will publish it


def test_health_and_readiness(ingress: ServerThread) -> None:
    assert httpx.get(f"{ingress.url}/healthz").status_code == 200
    assert httpx.get(f"{ingress.url}/readyz").json()["status"] == "ready"


def test_metrics_are_not_on_the_public_port(runtime: Runtime, ingress: ServerThread) -> None:
    """They name tenants and read the store: only the ops listener serves them."""
    assert httpx.get(f"{ingress.url}/metrics").status_code == 404
    with ServerThread(create_ops_app(runtime)) as ops:
        answer = httpx.get(f"{ops.url}/metrics", timeout=10)
        assert answer.status_code == 200 and "bookwire_state_up" in answer.text
        assert httpx.get(f"{ops.url}/readyz").json()["status"] == "ready"
