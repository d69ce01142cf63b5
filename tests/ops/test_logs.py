"""Log lines carry ids (tenant, booking, delivery, task) and nothing that is not allow-listed."""

from __future__ import annotations

import json
import logging

import pytest

from worker import observe
from worker.failures import PermanentFailure
from worker.logs import JsonFormatter, TextFormatter, log_context


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("worker.sync", logging.INFO, __file__, 1, message, (), None)
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
        raise PermanentFailure("booking #3: sync failed permanently")
    except PermanentFailure:
        import sys

        rec = logging.LogRecord("t", logging.ERROR, __file__, 1, "gave up", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert line["exc_type"] == "PermanentFailure" and "booking #3" in line["traceback"]


@pytest.mark.parametrize(
    ("state", "retval", "label"),
    [
        ("SUCCESS", "created", "created"),
        ("SUCCESS", "already settled", "already_settled"),
        ("SUCCESS", 3, "ok"),
        ("SUCCESS", "x" * 200, "ok"),
        ("RETRY", None, "retry"),
        ("FAILURE", PermanentFailure("booking #1"), "failed"),
        ("FAILURE", RuntimeError("bug"), "error"),
    ],
)
def test_task_outcome_labels_are_short_and_bounded(state: str, retval: object, label: str) -> None:
    assert observe.outcome(state, retval) == label
