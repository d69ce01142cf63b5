"""A real worker's /metrics after a real run: batches of syncs and an album link handed to a
portal. Every label comes from a bounded set (a batch's summary used to become a label value,
one new series per distinct mix) and portal deliveries are counted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import (
    Process,
    ServerThread,
    booking,
    bookwire_env,
    free_port,
    gomry_events,
    wait_for,
    worker_argv,
)
from tests.worker.handoff.conftest import (  # noqa: F401 - fixtures: tenants with portals
    book,
    deliveries,
    portal,
    received,
    secrets_file,
    tenants_file,
)
from worker.handoff import schedule
from worker.intake.api import publish_booking
from worker.publish import send_bookings
from worker.runtime import Runtime
from worker.telemetry.metrics import PORTAL_RESULTS, TASK_OUTCOMES

START, END = "2030-07-15T18:00:00-04:00", "2030-07-15T22:00:00-04:00"
ENDS = datetime(2030, 7, 16, 2, 0, tzinfo=UTC)


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(url, timeout=10).text
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def test_worker_metrics_after_a_real_run_have_bounded_labels_and_count_portal_deliveries(
    settings: Settings,
    runtime: Runtime,
    sandbox: ServerThread,
    portal: ServerThread,  # noqa: F811
    tmp_path: Path,
) -> None:
    media = book(runtime, "media", booking_id="m-1", start=START, end=END, now=datetime.now(UTC))
    port = free_port()
    worked = settings.model_copy(update={"worker_metrics_port": port})
    worker = Process(worker_argv(2), bookwire_env(settings_env(worked)), tmp_path / "w.log")
    worker.start()
    try:
        wait_for(lambda: "ready" in worker.output(), timeout=30)
        ids = [
            publish_booking(runtime, tenant="acme", booking=booking(f"mb-{i}")).bookings[0]
            for i in range(4)
        ]
        assert send_bookings(runtime, ids) == 4  # one batch task, besides the single syncs
        wait_for(lambda: len(gomry_events(sandbox.url)) == 4, timeout=30)
        httpx.post(
            f"{sandbox.url}/_sandbox/faults",
            json={"clock_offset_s": (ENDS + timedelta(minutes=40)).timestamp() - time.time()},
            timeout=5,
        )
        assert schedule.sweep(runtime, now=ENDS + timedelta(minutes=30)) == 1
        wait_for(lambda: deliveries(runtime, media)[0].state == "delivered", timeout=20)
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for(
            lambda: any(
                name == "bookwire_tasks_total" and labels.get("outcome") == "batch"
                for name, labels, _ in scrape(url)
            ),
            timeout=10,
        )
        found = scrape(url)
    finally:
        worker.stop()
    assert len(received(portal)) == 1
    tasks = [(labels, value) for name, labels, value in found if name == "bookwire_tasks_total"]
    assert tasks and all(labels["outcome"] in TASK_OUTCOMES for labels, _ in tasks)
    in_batches = {
        labels["outcome"]: value
        for name, labels, value in found
        if name == "bookwire_batch_bookings_total"
    }
    assert set(in_batches) <= TASK_OUTCOMES and sum(in_batches.values()) == 4
    portal_counts = {
        (labels["tenant"], labels["portal"], labels["result"]): value
        for name, labels, value in found
        if name == "bookwire_portal_deliveries_total"
    }
    assert portal_counts == {("media", "webhook", "delivered"): 1.0}
    assert {result for _, _, result in portal_counts} <= PORTAL_RESULTS
    for name, labels, _ in found:
        values = [v for k, v in labels.items() if k != "le" and name.startswith("bookwire_")]
        assert not any("," in v or v[:1].isdigit() for v in values), (name, labels)
