"""Log lines carry ids (tenant, booking, delivery, task) and nothing that is not allow-listed."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import settings_env
from tests.support import Process, bookwire_env, wait_for
from worker import tasks
from worker.records.failures import GaveUp
from worker.runtime import Runtime
from worker.telemetry import observe
from worker.telemetry.logs import JsonFormatter, TextFormatter, log_context
from worker.telemetry.metrics import TASK_OUTCOMES


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("worker.sync.bookings", logging.INFO, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_ids_from_extra_and_context() -> None:
    with log_context(task="bookwire.sync_booking", booking=12):
        line = json.loads(JsonFormatter().format(record("booking synced", tenant="acme")))
    assert line["message"] == "booking synced" and line["level"] == "INFO"
    assert (line["tenant"], line["booking"], line["task"]) == ("acme", 12, "bookwire.sync_booking")
    assert "booking" not in json.loads(JsonFormatter().format(record("after")))


def test_extra_fields_not_on_the_allow_list_are_dropped() -> None:
    rec = record("careless", customer="zoe@example.com", api_key="s3cret", booking=3)
    for formatter in (JsonFormatter(), TextFormatter()):
        text = formatter.format(rec)
        assert "zoe@example.com" not in text and "s3cret" not in text and "3" in text


def test_exceptions_keep_their_type_and_traceback() -> None:
    try:
        raise GaveUp("booking #3: sync failed permanently")
    except GaveUp:
        import sys

        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "gave up", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert line["exc_type"] == "GaveUp" and "booking #3" in line["traceback"]


SUBJECT_TASKS = sorted(
    name for name, task in tasks.app.tasks.items() if getattr(task, "subject", None) is not None
)


@pytest.mark.parametrize("name", SUBJECT_TASKS)
def test_every_line_a_task_writes_names_the_booking_or_delivery_it_works_on(name: str) -> None:
    """As Celery runs it: the task_prerun signal sets the context every line then carries (a
    portal hand-off's lines named no booking)."""
    task = tasks.app.tasks[name]
    observe._task_started(task_id="log-test", task=task, args=(42,))
    try:
        line = json.loads(JsonFormatter().format(record("Task succeeded")))
    finally:
        observe._task_finished(task_id="log-test", task=task, state="SUCCESS", retval="ok")
    assert (line[task.subject.kind], line["task"], line["task_id"]) == (42, name, "log-test")
    assert "bookwire.hand_off" in SUBJECT_TASKS


@pytest.mark.parametrize(
    ("state", "retval", "label"),
    [
        ("SUCCESS", "created", "created"),
        ("SUCCESS", "up-to-date", "up-to-date"),
        ("SUCCESS", "already settled", "already-settled"),
        ("SUCCESS", "already delivered", "already-done"),
        ("SUCCESS", "nothing due", "nothing-due"),
        ("SUCCESS", "3 created, 1 up-to-date", "batch"),
        ("SUCCESS", "split after a crash: 5 bookings queued one by one", "split"),
        ("SUCCESS", 3, "ok"),
        ("SUCCESS", "x" * 200, "other"),
        ("RETRY", None, "retry"),
        ("FAILURE", GaveUp("booking #1"), "failed"),
        ("FAILURE", RuntimeError("bug"), "error"),
    ],
)
def test_task_outcome_labels_are_short_and_bounded(state: str, retval: object, label: str) -> None:
    assert observe.outcome(state, retval) == label


@given(
    state=st.sampled_from(["SUCCESS", "RETRY", "FAILURE", "REVOKED", None]),
    retval=st.one_of(st.text(max_size=60), st.integers(), st.none()),
)
def test_any_task_result_becomes_one_of_a_bounded_set_of_labels(
    state: str | None, retval: object
) -> None:
    assert observe.outcome(state, retval) in TASK_OUTCOMES


@pytest.mark.slow
def test_beat_in_json_mode_writes_json_lines_only(runtime: Runtime, tmp_path: Path) -> None:
    """Celery's own lines (and its banner, printed rather than logged) were plain text."""
    env = bookwire_env(settings_env(runtime.settings.model_copy(update={"log_json": True})))
    beat = Process([sys.executable, "-m", "worker.cli", "beat"], env, tmp_path / "beat.log")
    beat.start()
    try:
        wait_for(lambda: "beat: Starting" in beat.output(), timeout=60)
    finally:
        beat.stop()
    lines = [line for line in beat.output().splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines[:20]
    assert {json.loads(line)["logger"] for line in lines} >= {"celery.beat"}
