"""The ingress's /metrics (on its ops listener): its own counters plus system state read from the
store and broker."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from tests.support import ServerThread, booking, signed
from worker.celery_app import QUEUE
from worker.ingress.app import create_app
from worker.ingress.probes import create_ops_app
from worker.intake import record as intake
from worker.runtime import Runtime


@pytest.fixture
def ingress(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_app(runtime)) as server:
        yield server


@pytest.fixture
def ops(runtime: Runtime) -> Iterator[ServerThread]:
    with ServerThread(create_ops_app(runtime)) as server:
        yield server


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def post(ingress: ServerThread, body: dict[str, object]) -> httpx.Response:
    raw, headers = signed(body)
    return httpx.post(f"{ingress.url}/webhooks/generic/acme", content=raw, headers=headers)


def test_queue_depth_pending_and_open_failures_are_exposed(
    ingress: ServerThread, ops: ServerThread
) -> None:
    for i in range(3):
        assert post(ingress, booking(f"m-{i}")).status_code == 202
    assert post(ingress, booking("m-bad", timezone="Mars/X")).status_code == 422
    found = samples(ops.url)
    assert found[("bookwire_queue_depth", (("queue", "bookwire"),))] == 3
    assert found[("bookwire_bookings_pending", (("tenant", "acme"),))] == 3
    assert found[("bookwire_failures_open", (("stage", "parse"), ("tenant", "acme")))] == 1
    assert found[("bookwire_state_up", (("part", "broker"),))] == 1
    assert found[("bookwire_state_up", (("part", "store"),))] == 1
    assert found[("bookwire_oldest_pending_seconds", ())] >= 0
    accepted = (("result", "accepted"), ("source", "generic"), ("tenant", "acme"))
    assert found[("bookwire_webhooks_total", accepted)] >= 3


def test_queue_depth_counts_what_waits_behind_a_tenant_over_its_share(
    settings: Settings, runtime: Runtime, ops: ServerThread
) -> None:
    publisher = Runtime(settings.model_copy(update={"fair_share": 2}), tenants=runtime.tenants)
    try:  # three bookings of one tenant in a moment: over its share of 2, so behind the rest
        assert intake.publish(publisher, [1, 2, 3], tenants=dict.fromkeys([1, 2, 3], "acme")) == 3
        assert intake.publish(publisher, [4], tenants={4: "quiet"}) == 1
    finally:
        publisher.close()
    assert runtime.redis.llen(QUEUE) == 1  # the quiet tenant's, taken first
    assert samples(ops.url)[("bookwire_queue_depth", (("queue", "bookwire"),))] == 2


def test_metrics_still_answer_with_the_broker_down(settings: Settings, runtime: Runtime) -> None:
    down = Runtime(
        settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}), tenants=runtime.tenants
    )
    with ServerThread(create_ops_app(down)) as server:
        found = samples(server.url)
        ready = httpx.get(f"{server.url}/readyz")
        alive = httpx.get(f"{server.url}/healthz")
    assert found[("bookwire_state_up", (("part", "broker"),))] == 0
    assert found[("bookwire_state_up", (("part", "store"),))] == 1
    assert not any(name == "bookwire_queue_depth" for name, _ in found)
    assert alive.status_code == 200
    assert ready.status_code == 503 and ready.json()["problems"] == ["broker unreachable"]


def test_readiness_reports_a_store_that_is_down(settings: Settings, runtime: Runtime) -> None:
    down = Runtime(
        settings.model_copy(
            update={"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
        ),
        tenants=runtime.tenants,
    )
    with ServerThread(create_ops_app(down)) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        found = samples(server.url)
    assert ready.status_code == 503 and ready.json()["problems"] == ["store unreachable"]
    assert found[("bookwire_state_up", (("part", "store"),))] == 0
