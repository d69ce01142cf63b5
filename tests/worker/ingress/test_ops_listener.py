"""`bookwire ingress` as a real process: webhooks on the public port, /metrics only on the ops
port, and a taken ops port stops it at start with the setting to change."""

from __future__ import annotations

import signal
import socket
import sys
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.conftest import settings_env
from tests.support import Process, booking, bookwire_env, free_port, signed, wait_for
from worker.runtime import Runtime

INGRESS = [sys.executable, "-m", "worker.cli", "ingress"]


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_metrics_are_served_on_the_ops_port_only(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    ports = settings.model_copy(update={"ingress_port": free_port(), "ops_port": free_port()})
    public = f"http://127.0.0.1:{ports.ingress_port}"
    ops = f"http://127.0.0.1:{ports.ops_port}"
    ingress = Process(INGRESS, bookwire_env(settings_env(ports)), tmp_path / "ingress.log")
    ingress.start()
    try:
        wait_for(lambda: answers(f"{public}/readyz"), timeout=30)
        body, headers = signed(booking("ops-1"))
        posted = httpx.post(f"{public}/webhooks/generic/acme", content=body, headers=headers)
        assert posted.status_code == 202
        assert httpx.get(f"{public}/metrics").status_code == 404
        metrics = httpx.get(f"{ops}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert 'bookwire_webhooks_total{result="accepted",source="generic",tenant="acme"} 1.0' in (
            metrics.text
        )
        assert httpx.get(f"{ops}/readyz").json()["status"] == "ready"
        assert httpx.get(f"{ops}/webhooks/generic/acme").status_code == 404
    finally:
        assert ingress.proc is not None
        ingress.proc.send_signal(signal.SIGTERM)
        code = ingress.proc.wait(timeout=20)
    # uvicorn re-raises SIGTERM once its graceful shutdown is done
    assert code in (0, -signal.SIGTERM), ingress.output()
    assert "Traceback" not in ingress.output()


@pytest.mark.parametrize("taken", ["ops", "ingress"])
def test_a_taken_port_stops_the_ingress_at_start_naming_the_setting(
    settings: Settings, runtime: Runtime, tmp_path: Path, taken: str
) -> None:
    ports = settings.model_copy(update={"ingress_port": free_port(), "ops_port": free_port()})
    held = getattr(ports, f"{taken}_port")
    ingress = Process(INGRESS, bookwire_env(settings_env(ports)), tmp_path / "ingress.log")
    with socket.socket() as someone_else:
        someone_else.bind(("127.0.0.1", held))
        someone_else.listen()
        ingress.start()
        assert ingress.proc is not None
        code = ingress.proc.wait(timeout=30)
    output = ingress.output()
    assert code == 3, output
    assert f"127.0.0.1:{held} could not be bound" in output
    assert f"set BOOKWIRE_{taken.upper()}_PORT to a free port" in output
    assert "Traceback" not in output
