"""The chaos harness end to end on a tiny load: real stack, every webhook twice, reschedules
and cancels, a worker's Celery child SIGKILLed, the broker crashed and restarted, 5 % of
platform calls 503; the platform must hold exactly one event per booking in its latest state.
And the harness must be able to fail: drift planted on the platform before the check is found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def _chaos(out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--chaos",
            "--concurrency",
            "6",
            "--worker-threads",
            "4",
            "--timeout",
            "150",
            "--out",
            str(out),
            *extra,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    [json_file] = out.glob("*.json")
    return done, json.loads(json_file.read_text("utf-8"))


def test_bookings_survive_kills_broker_crashes_and_platform_errors_exactly_once(
    tmp_path: Path,
) -> None:
    done, report = _chaos(
        tmp_path, "--bookings", "60", "--kills", "1", "--kill-every", "6", "--broker-restarts", "1"
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert report["ok"] is True
    seen = report["platform"]
    assert (seen["duplicates"], seen["lost"], seen["offenders"]) == (0, 0, [])
    assert seen["bookings"] == 60
    assert seen["confirmed"] + seen["cancelled"] == 60
    assert report["load"]["rescheduled"] > 0 and report["load"]["cancelled"] > 0
    assert report["load"]["outcomes"]["duplicate"] >= report["load"]["outcomes"]["accepted"]
    assert report["load"]["unanswered"] == 0
    assert report["chaos"]["worker_kills"] == 1
    assert report["chaos"]["broker_crashes"] == 1
    assert report["chaos"]["platform_5xx"] > 0
    assert report["reconcile"]["drift"] == 0 and report["reconcile"]["exit"] == 0
    assert report["drain"]["drained"] is True
    assert "PROVED: 0 duplicates, 0 lost, 0 drift" in done.stdout


def test_a_duplicate_and_a_lost_booking_planted_on_the_platform_fail_the_run(
    tmp_path: Path,
) -> None:
    done, report = _chaos(
        tmp_path,
        "--bookings",
        "12",
        "--kills",
        "0",
        "--broker-restarts",
        "0",
        "--platform-error-rate",
        "0",
        "--plant-duplicates",
        "1",
        "--plant-lost",
        "1",
    )

    assert done.returncode == 1
    assert report["ok"] is False
    seen = report["platform"]
    [copied], [deleted] = report["planted"]["duplicates"], report["planted"]["lost"]
    assert (seen["duplicates"], seen["lost"]) == (1, 1)
    assert {(o["booking"], o["kind"]) for o in seen["offenders"]} == {
        (copied, "duplicate"),
        (deleted, "missing"),
    }
    assert report["reconcile"]["counts"]["duplicate"] == 1
    assert report["reconcile"]["counts"]["missing"] == 1
    assert "FAILED" in done.stdout and deleted in done.stdout
