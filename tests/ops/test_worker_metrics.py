"""A real worker's /metrics after a real run: batches of syncs and an album link handed to a
portal. Every label comes from a bounded set (a batch's summary used to become a label value,
one new series per distinct mix) and portal deliveries are counted."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import (
    REPO,
    Process,
    ServerThread,
    booking,
    bookwire_env,
    free_port,
    gomry_events,
    signed,
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
from worker.ingress.app import create_app
from worker.ingress.probes import create_ops_app
from worker.intake import source_health
from worker.intake.api import publish_booking
from worker.publish import send_bookings
from worker.runtime import Runtime
from worker.store.models import Booking
from worker.sync import reconcile
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


def hand_off_after_the_event(runtime: Runtime, sandbox: ServerThread, booking_id: int) -> None:
    """Move the platform's clock past the event's end, run the due sweep and wait until the
    worker has handed the album link to the portal."""
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        json={"clock_offset_s": (ENDS + timedelta(minutes=40)).timestamp() - time.time()},
        timeout=5,
    )
    assert schedule.sweep(runtime, now=ENDS + timedelta(minutes=30)) == 1
    wait_for(lambda: deliveries(runtime, booking_id)[0].state == "delivered", timeout=20)


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
        hand_off_after_the_event(runtime, sandbox, media)
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


# -- every documented metric moves -----------------------------------------------------------

OPERATIONS = REPO / "docs" / "operations.md"
ROW = re.compile(r"^\| `(bookwire_[a-z_]+)` \| (counter|gauge|histogram) \|")


def documented() -> dict[str, dict[str, str]]:
    """docs/operations.md's metrics tables: {"ingress"|"worker": {name: type}}; the table
    served by both goes to both."""
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text[text.index("## Metrics") : text.index("## Logs")]
    found: dict[str, dict[str, str]] = {"ingress": {}, "worker": {}}
    served_by = ["ingress"]
    for line in section.splitlines():
        if line.startswith("**The ingress and each worker**"):
            served_by = ["ingress", "worker"]
        elif line.startswith("**Each worker's"):
            served_by = ["worker"]
        elif line.startswith("**The ingress's"):
            served_by = ["ingress"]
        elif match := ROW.match(line):
            for process in served_by:
                found[process][match.group(1)] = match.group(2)
    return found


def counted(url: str) -> set[str]:
    """The bookwire metric families with a sample above 0 (a counter's name without
    ``_total``; ``_created`` series are off)."""
    text = httpx.get(url, timeout=10).text
    return {
        family.name
        for family in text_string_to_metric_families(text)
        if family.name.startswith("bookwire_") and any(s.value > 0 for s in family.samples)
    }


def moved(samples: list[tuple[str, dict[str, str], float]], name: str, kind: str) -> bool:
    """A counter counted, a histogram observed, a gauge set (a gauge of a part or a check
    that has not run is left out, so being there means it was read)."""
    if kind == "counter":  # the documented name is the sample's: bookwire_…_total
        return any(n == name and v > 0 for n, _, v in samples)
    if kind == "histogram":
        return any(n == f"{name}_count" and v > 0 for n, _, v in samples)
    return any(n == name for n, _, _ in samples)


def test_every_documented_metric_moves_in_a_real_run(
    settings: Settings,
    runtime: Runtime,
    sandbox: ServerThread,
    portal: ServerThread,  # noqa: F811
    tenants_file: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    """A real run (webhooks in, a worker syncing and handing an album link to a portal, a
    reconcile, a source health check, a tenants file edited while running): each metric
    docs/operations.md lists moves on the process that serves it."""
    expected = documented()
    assert len(expected["ingress"]) >= 15 and len(expected["worker"]) >= 5  # the parse held
    silent = tenants_file.read_text(encoding="utf-8").replace(
        '[tenants.plain.sources.generic]\nsecrets = [{ env = "TEST_WEBHOOK_SECRET" }]\n',
        '[tenants.plain.sources.generic]\nsecrets = [{ env = "TEST_WEBHOOK_SECRET" }]\n'
        'expect_delivery_within = "1h"\n',
    )
    tenants_file.write_text(silent, encoding="utf-8")
    media = book(runtime, "media", booking_id="dm-1", start=START, end=END, now=datetime.now(UTC))
    port = free_port()
    worked = settings.model_copy(update={"worker_metrics_port": port})
    worker = Process(worker_argv(2), bookwire_env(settings_env(worked)), tmp_path / "w.log")
    ingress_rt = Runtime(settings)  # from the files, as `bookwire ingress` is: it reloads
    public = ServerThread(create_app(ingress_rt), lifespan="on")
    ops = ServerThread(create_ops_app(ingress_rt))
    worker.start()
    try:
        with public, ops:
            wait_for(lambda: "ready" in worker.output(), timeout=30)
            for i in range(3):
                raw, headers = signed(booking(f"dm-w{i}"))
                answer = httpx.post(
                    f"{public.url}/webhooks/generic/acme", content=raw, headers=headers
                )
                assert answer.status_code == 202, answer.text
            wait_for(lambda: len(gomry_events(sandbox.url)) == 3, timeout=30)
            hand_off_after_the_event(runtime, sandbox, media)
            with runtime.store.transaction() as session:
                synced = list(session.scalars(select(Booking.id).where(Booking.tenant == "acme")))
            assert send_bookings(runtime, synced) == 3  # again, as one batch: up to date
            reconcile.sweep(ingress_rt, now=datetime.now(UTC))
            source_health.sweep(ingress_rt, now=datetime.now(UTC))
            # a tenant added while running: the ingress and the worker each reload
            with tenants_file.open("a", encoding="utf-8") as handle:
                handle.write(
                    '\n[tenants.later]\n[tenants.later.platform]\nkind = "gomry"\n'
                    f'base_url = "{sandbox.url}/api/v1"\n'
                    'credentials = { api_key = { env = "TEST_GOMRY_KEY" } }\n'
                )
            worker_url = f"http://127.0.0.1:{port}/metrics"
            wait_for(
                lambda: (
                    moved(scrape(worker_url), "bookwire_config_reloads_total", "counter")
                    and moved(
                        scrape(f"{ops.url}/metrics"), "bookwire_config_reloads_total", "counter"
                    )
                ),
                timeout=15,
            )
            served = {"ingress": scrape(f"{ops.url}/metrics"), "worker": scrape(worker_url)}
            counted_by_worker = counted(worker_url)
    finally:
        worker.stop()
        ingress_rt.close()
    still = {
        process: sorted(
            name for name, kind in names.items() if not moved(served[process], name, kind)
        )
        for process, names in expected.items()
    }
    assert still == {"ingress": [], "worker": []}
    # and the other way round, where one process's counters are alone (the ingress here shares
    # the test's process): what a worker counts is in the tables
    worker_names = {n.removesuffix("_total") for n in expected["worker"]}
    assert sorted(counted_by_worker - worker_names) == []
