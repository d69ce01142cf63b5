"""Ops' view on real processes: ingress, worker and Flower (behind its login) over loopback.

One stack per module (starting three processes is the slow part): a tenant whose Gomry API key
is a canary the sandbox rejects, and a booking whose customer email is a canary. The booking
fails for good; the tests check that Flower lists it as a FAILURE with ids only, that neither
canary appears in any log line, Flower view, metric or error answer, and finally walk the
operator's path: fix the key, restart the worker, replay, watch it succeed in Flower.
The last test changes the stack, so it stays last.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from config.settings import Settings
from sandbox.app import create_app as create_sandbox
from tests.conftest import settings_env
from tests.ops.conftest import CANARY_KEY, write_secrets
from tests.support import (
    GOMRY_KEY,
    Process,
    ServerThread,
    booking,
    bookwire_env,
    free_port,
    gomry_events,
    signed,
    tenants_toml,
    wait_for,
)
from worker.store import Store
from worker.store.migrate import migrate

pytestmark = pytest.mark.slow

CANARY_EMAIL = "canary.person.7d3a@example.org"
CANARY_NAME = "Canaryname Q. Persona"
FLOWER_LOGIN = ("ops", "flower-test-password")
BOOKWIRE = [sys.executable, "-m", "worker.cli"]
WORKER = ["worker", "--concurrency", "2"]  # as ops run it (its log lines are checked)


@dataclass
class Stack:
    settings: Settings
    env: dict[str, str]
    sandbox: ServerThread
    ingress: Process
    worker: Process
    flower: Process
    ingress_url: str
    ingress_metrics_url: str  # the ingress's ops listener
    flower_url: str
    worker_metrics_url: str
    secrets_file: Path
    booking_id: int = 0
    task_id: str = ""
    answers: list[httpx.Response] = field(default_factory=list)

    def flower_get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.flower_url}{path}", auth=FLOWER_LOGIN, timeout=10, **kwargs)

    def tasks(self) -> dict[str, dict[str, Any]]:
        response = self.flower_get("/api/tasks")
        response.raise_for_status()
        return dict(response.json())

    def bookwire(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "worker.cli", *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def outputs(self) -> str:
        return "\n".join(p.output() for p in (self.ingress, self.worker, self.flower))


def post(stack: Stack, body: dict[str, Any] | bytes, **kwargs: Any) -> httpx.Response:
    raw, headers = signed(body, **kwargs)
    return httpx.post(
        f"{stack.ingress_url}/webhooks/generic/acme", content=raw, headers=headers, timeout=10
    )


def canary_booking(booking_id: str, **changes: Any) -> dict[str, Any]:
    return booking(booking_id, customer={"name": CANARY_NAME, "email": CANARY_EMAIL}, **changes)


def assert_clean(text: str, where: str) -> None:
    for canary in (CANARY_KEY, CANARY_EMAIL, CANARY_NAME):
        assert canary not in text, f"{canary!r} leaked into {where}"


@pytest.fixture(scope="module")
def stack(redis_server: str) -> Iterator[Stack]:
    tmp = Path(tempfile.mkdtemp(prefix="bookwire-ops-"))
    redis_url = f"{redis_server}/14"
    redis.Redis.from_url(redis_url).flushdb()
    with ServerThread(create_sandbox(tmp / "sandbox", {"gomry": {GOMRY_KEY}})) as sandbox:
        tenants_file = tmp / "tenants.toml"
        tenants_file.write_text(tenants_toml(sandbox.url), encoding="utf-8")
        secrets_file = tmp / "secrets.env"
        write_secrets(secrets_file, gomry_key=CANARY_KEY)
        settings = Settings(
            home=tmp / "var",
            broker_url=redis_url,
            database_url=f"sqlite:///{tmp / 'bookwire.db'}",
            tenants_file=tenants_file,
            secrets_file=secrets_file,
            ingress_port=free_port(),
            ops_port=free_port(),
            flower_port=free_port(),
            worker_metrics_port=free_port(),
            log_json=True,
            max_retries=0,
            http_timeout=5.0,
        )
        migrate(Store(settings.resolved_database_url))
        env = bookwire_env(settings_env(settings))
        env["FLOWER_BASIC_AUTH"] = ":".join(FLOWER_LOGIN)
        me = BOOKWIRE
        ingress = Process([*me, "ingress"], env, tmp / "ingress.log").start()
        worker = Process([*me, *WORKER], env, tmp / "worker.log").start()
        flower = Process([*me, "flower"], env, tmp / "flower.log").start()
        built = Stack(
            settings=settings,
            env=env,
            sandbox=sandbox,
            ingress=ingress,
            worker=worker,
            flower=flower,
            ingress_url=f"http://127.0.0.1:{settings.ingress_port}",
            ingress_metrics_url=f"http://127.0.0.1:{settings.ops_port}/metrics",
            flower_url=f"http://127.0.0.1:{settings.flower_port}",
            worker_metrics_url=f"http://127.0.0.1:{settings.worker_metrics_port}/metrics",
            secrets_file=secrets_file,
        )
        try:
            wait_for(lambda: _up(f"{built.ingress_url}/healthz"), timeout=30)
            wait_for(lambda: _up(f"{built.flower_url}/healthcheck"), timeout=30)
            # Flower only knows what it saw: wait until worker events reach it
            wait_for(lambda: _worker_seen(built))
            _fail_one_booking(built)
            yield built
        finally:
            for proc in (ingress, built.worker, flower):
                proc.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_seen(stack: Stack) -> bool:
    try:
        return any(stack.flower_get("/api/workers?status=true").json().values())
    except (httpx.HTTPError, ValueError):
        return False


def _fail_one_booking(stack: Stack) -> None:
    accepted = post(stack, canary_booking("ops-canary-1"))
    assert accepted.status_code == 202, accepted.text
    stack.answers += [
        accepted,
        post(stack, canary_booking("ops-canary-2", timezone="Mars/Olympus")),  # 422
        post(stack, canary_booking("ops-canary-3"), secret="whsec_" + "A" * 44),  # 401
        post(stack, json.dumps({"customer": {"email": CANARY_EMAIL}}).encode()),  # 422
    ]
    assert [a.status_code for a in stack.answers] == [202, 422, 401, 422]

    def failed() -> tuple[str, dict[str, Any]] | None:
        for uuid, task in stack.tasks().items():
            if task["name"] == "bookwire.sync_booking" and task["state"] == "FAILURE":
                return uuid, task
        return None

    stack.task_id, task = wait_for(failed, timeout=30)
    stack.booking_id = int(task["args"].removeprefix("(booking=").removesuffix(")"))


def test_permanent_failure_is_a_failed_task_in_flower_with_ids_only(stack: Stack) -> None:
    task = stack.tasks()[stack.task_id]
    assert task["args"] == f"(booking={stack.booking_id})"
    assert task["kwargs"] == "{}"
    assert task["exception"].startswith("GaveUp(")
    # the reason an operator acts on: the source's booking id, the kind, the fix, the replay
    reason = (
        f"booking #{stack.booking_id} (generic ops-canary-1, tenant acme): gomry refused our "
        "credentials (401) — check the tenant's gomry credentials in the secrets file, then "
        "`bookwire replay --failure "
    )
    assert reason in task["exception"]
    detail = stack.flower_get(f"/api/task/info/{stack.task_id}")
    assert detail.status_code == 200 and detail.json()["state"] == "FAILURE"
    # an expected end, not a crash: one line where Flower shows a traceback
    assert detail.json()["traceback"].startswith(f"GaveUp: {reason}")
    assert "\n" not in detail.json()["traceback"].strip()
    for text in (json.dumps(stack.tasks()), detail.text):
        assert_clean(text, "Flower's API")
        assert "Invalid or revoked" not in text  # the platform's answer stays in the record

    failures = stack.bookwire("failures", "--json", "--stage", "sync")
    [record] = [json.loads(line) for line in failures.stdout.splitlines()]
    assert (record["booking"], record["stage"]) == (stack.booking_id, "sync")
    assert f"`bookwire replay --failure {record['id']}`" in task["exception"]
    assert "Invalid or revoked API key" in record["reason"]


def test_flower_asks_for_its_login(stack: Stack) -> None:
    assert httpx.get(f"{stack.flower_url}/api/tasks", timeout=10).status_code == 401
    assert httpx.get(f"{stack.flower_url}/task/{stack.task_id}", timeout=10).status_code == 401


# every endpoint of Flower that queues, stops or re-routes work (the UI's buttons call them)
CONTROL = (
    "/api/task/async-apply/bookwire.relay",
    "/api/task/apply/bookwire.relay",
    "/api/task/send-task/bookwire.relay",
    "/api/task/revoke/{task}",
    "/api/task/abort/{task}",
    "/api/task/timeout/bookwire.sync_booking",
    "/api/task/rate-limit/bookwire.sync_booking",
    "/api/worker/shutdown/{worker}",
    "/api/worker/pool/restart/{worker}",
    "/api/worker/pool/grow/{worker}",
    "/api/worker/pool/shrink/{worker}",
    "/api/worker/pool/autoscale/{worker}",
    "/api/worker/queue/add-consumer/{worker}",
    "/api/worker/queue/cancel-consumer/{worker}",
)


def test_flower_is_read_only_for_a_logged_in_user(stack: Stack) -> None:
    """Nothing is queued, revoked or stopped through Flower: replays go through `bookwire
    replay`, which works on today's config and is recorded."""
    [worker] = [
        name for name, up in stack.flower_get("/api/workers?status=true").json().items() if up
    ]
    for path in CONTROL:
        url = stack.flower_url + path.format(task=stack.task_id, worker=worker)
        answer = httpx.post(url, auth=FLOWER_LOGIN, json={}, timeout=10)
        assert answer.status_code == 403, (path, answer.status_code, answer.text)
    time.sleep(1.0)  # a queued task would have reached the worker and Flower by now
    assert not [t for t in stack.tasks().values() if t["name"] == "bookwire.relay"]
    assert stack.flower_get("/api/tasks").status_code == 200  # reading still works
    assert 'id="worker-shutdown"' not in stack.flower_get(f"/worker/{worker}").text


def test_task_list_shows_the_ids_and_the_reason(stack: Stack) -> None:
    columns = re.findall(r'data-column="([a-z_]+)"', stack.flower_get("/tasks").text)
    assert columns[:5] == ["name", "args", "state", "result", "exception"]


def test_flower_task_page_in_headless_chromium(stack: Stack, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian package `chromium`)")
    user, password = FLOWER_LOGIN
    url = f"http://{user}:{password}@127.0.0.1:{stack.settings.flower_port}/task/{stack.task_id}"
    page = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    dom = page.stdout
    assert "bookwire.sync_booking" in dom, page.stderr[-2000:]
    assert "FAILURE" in dom and f"(booking={stack.booking_id})" in dom
    assert "GaveUp" in dom
    assert_clean(dom, "Flower's task page")


def test_canaries_appear_in_no_log_metric_or_error_answer(stack: Stack) -> None:
    for answer in stack.answers:
        assert_clean(answer.text, f"the {answer.status_code} answer")
    assert_clean(httpx.get(stack.ingress_metrics_url).text, "the ingress's metrics")
    worker_metrics = httpx.get(stack.worker_metrics_url).text
    assert_clean(worker_metrics, "the worker's metrics")
    assert_clean(stack.outputs(), "the logs")
    assert_clean(stack.flower_get("/tasks").text, "Flower's task list")

    lines = [json.loads(x) for x in stack.worker.output().splitlines() if x.startswith("{")]
    about = [x for x in lines if x.get("booking") == stack.booking_id]
    assert any(x.get("tenant") == "acme" for x in about), "no worker line names the tenant"
    assert any(x.get("task") == "bookwire.sync_booking" for x in about)
    assert any(x.startswith("{") for x in stack.ingress.output().splitlines())


def test_json_log_mode_covers_celery_and_flower_lines(stack: Stack) -> None:
    for process in (stack.worker, stack.flower):
        lines = [x for x in process.output().splitlines() if x.strip()]
        plain = [x for x in lines if not x.startswith("{")]
        assert lines and not plain, "\n".join(plain[:20])
        loggers = {json.loads(x)["logger"] for x in lines}
        assert any(name.startswith(("celery", "flower", "tornado")) for name in loggers), loggers


def test_worker_metrics_count_the_failed_task(stack: Stack) -> None:
    text = httpx.get(stack.worker_metrics_url).text
    assert 'bookwire_tasks_total{outcome="failed",task="bookwire.sync_booking"} 1.0' in text
    assert 'bookwire_task_seconds_count{task="bookwire.sync_booking"}' in text
    ingress_metrics = httpx.get(stack.ingress_metrics_url).text
    assert 'bookwire_failures_open{stage="sync",tenant="acme"} 1.0' in ingress_metrics
    assert 'bookwire_failures_open{stage="parse",tenant="acme"} 2.0' in ingress_metrics


def test_operator_fixes_the_key_replays_and_watches_it_succeed(stack: Stack) -> None:
    [record] = [
        json.loads(x)
        for x in stack.bookwire("failures", "--json", "--stage", "sync").stdout.splitlines()
    ]
    write_secrets(stack.secrets_file, gomry_key=GOMRY_KEY)  # fix the config …
    stack.worker.stop()  # … and restart the worker, which reads tenants at start
    stack.worker = Process([*BOOKWIRE, *WORKER], stack.env, stack.worker.log).start()
    wait_for(lambda: _up(stack.worker_metrics_url), timeout=30)

    replay = stack.bookwire("replay", "--failure", str(record["id"]))
    assert replay.returncode == 0 and f"booking #{stack.booking_id} queued" in replay.stdout

    def succeeded() -> dict[str, Any] | None:
        for task in stack.tasks().values():
            if task["args"] == f"(booking={stack.booking_id})" and task["state"] == "SUCCESS":
                return task
        return None

    task = wait_for(succeeded, timeout=30)
    assert task["result"] == "'created'"
    status = json.loads(stack.bookwire("status", f"#{stack.booking_id}").stdout)
    assert status["state"] == "synced" and status["failures"][0]["resolved"] is True
    assert stack.bookwire("failures", "--json", "--stage", "sync").stdout == ""
    assert len(gomry_events(stack.sandbox.url)) == 1
    assert_clean(stack.outputs(), "the logs")
