"""`bookwire up` as a new user runs it: one command, a signed example, one event, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, free_port, gomry_events, wait_for
from worker.demo import demo_secrets

pytestmark = pytest.mark.slow


def test_up_send_example_status_and_clean_stop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKWIRE_")}
    ports = {"INGRESS": free_port(), "SANDBOX": free_port(), "FLOWER": free_port()}
    env.update({f"BOOKWIRE_{name}_PORT": str(port) for name, port in ports.items()})
    env["BOOKWIRE_HOME"] = str(tmp_path / "var")
    log = (tmp_path / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "up"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: "bookwire is up" in (tmp_path / "up.log").read_text(), timeout=60)
        sent = subprocess.run(
            [sys.executable, "-m", "worker.cli", "send-example", "--booking-id", "up-1"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr
        key = demo_secrets(tmp_path / "var" / "demo" / "secrets.env")["DEMO_GOMRY_API_KEY"]
        sandbox = f"http://127.0.0.1:{ports['SANDBOX']}"
        [event] = wait_for(lambda: gomry_events(sandbox, key), timeout=5)
        assert event["name"] == "Ada Lovelace – Summer Launch Party"
        assert event["start"]["timezone"] == "America/New_York"
        status = subprocess.run(
            [sys.executable, "-m", "worker.cli", "status", "up-1"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert event["id"] in status.stdout and "ada@example.com" not in status.stdout
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0
    assert "bookwire stopped" in (tmp_path / "up.log").read_text()
