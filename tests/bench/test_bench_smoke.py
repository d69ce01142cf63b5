"""The benchmark harness end to end on a tiny load: it starts the real stack, sends signed
webhooks, waits for the events and reports. A functional test of the harness, never of speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.slow


def test_a_small_faulty_run_reports_every_booking_created_once_and_the_retries(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--bookings",
            "20",
            "--concurrency",
            "4",
            "--worker-threads",
            "4",
            "--duplicate",
            "--platform-error-rate",
            "0.2",
            "--timeout",
            "30",
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [json_file] = out.glob("*.json")
    [md_file] = out.glob("*.md")
    report = json.loads(json_file.read_text("utf-8"))

    assert report["correctness"] == {
        "bookings": 20,
        "acknowledged": 20,
        "events": 20,
        "duplicates": 0,
        "lost": 0,
        "lost_ids": [],
        "unexpected_events": 0,
    }
    assert report["drain"]["drained"] is True
    assert report["ingest"]["requests"] == 40  # every webhook delivered twice
    assert report["ingest"]["outcomes"] == {"accepted": 20, "duplicate": 20}
    assert report["end_to_end"]["events"] == 20
    for section, keys in {
        "ingest": {"requests_per_s", "latency_ms"},
        "end_to_end": {"events_per_s", "latency_ms"},
        "resources": {"processes", "cpu_ms_per_booking", "max_rss_end_mb"},
        "retries": {"sandbox", "attempts"},
    }.items():
        assert keys <= set(report[section]), section
    assert report["retries"]["sandbox"]["errors_5xx"] > 0  # seeded: the same draws every run
    assert report["retries"]["attempts"]["503"] == report["retries"]["sandbox"]["errors_5xx"]
    assert set(report["ingest"]["latency_ms"]) == {"p50", "p95", "p99", "max"}
    roles = {p["role"] for p in report["resources"]["processes"]}
    assert {"ingress", "worker", "beat", "broker", "sandbox", "load"} <= roles
    assert "| duplicates | **0** |" in md_file.read_text("utf-8")
    assert "| duplicates | **0** |" in done.stdout
