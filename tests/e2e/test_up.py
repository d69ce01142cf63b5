"""`bookwire up` as a new user runs it: one command, a signed example, one event, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import (
    REPO,
    booking,
    free_port,
    gomry_events,
    secrets_env,
    signed,
    tenants_toml,
    wait_for,
)
from worker.process.demo import demo_secrets

pytestmark = pytest.mark.slow


def test_up_send_example_status_and_clean_stop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKWIRE_")}
    ports = {name: free_port() for name in ("INGRESS", "OPS", "SANDBOX", "FLOWER")}
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

        # Flower's API needs a login; the banner says where this home's generated one is
        login_file = tmp_path / "var" / "flower-login"
        assert f"user bookwire, password in {login_file}" in (tmp_path / "up.log").read_text()
        assert login_file.stat().st_mode & 0o777 == 0o600
        user, _, password = login_file.read_text().strip().partition(":")
        flower = f"http://127.0.0.1:{ports['FLOWER']}/api/tasks"
        assert httpx.get(flower, timeout=10).status_code == 401
        assert httpx.get(flower, auth=(user, password), timeout=10).status_code == 200
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0
    assert "bookwire stopped" in (tmp_path / "up.log").read_text()


def start_up(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log = (tmp_path / "up.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "up"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def up_env(tmp_path: Path) -> tuple[dict[str, str], dict[str, int]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKWIRE_")}
    ports = {name: free_port() for name in ("INGRESS", "OPS", "SANDBOX", "FLOWER")}
    env.update({f"BOOKWIRE_{name}_PORT": str(port) for name, port in ports.items()})
    env["BOOKWIRE_HOME"] = str(tmp_path / "var")
    return env, ports


def test_up_with_a_part_that_cannot_start_says_which_and_fails(tmp_path: Path) -> None:
    env, ports = up_env(tmp_path)
    with socket.socket() as taken:  # someone else holds the ingress port
        taken.bind(("127.0.0.1", ports["INGRESS"]))
        taken.listen()
        up = start_up(tmp_path, env)
        try:
            code = up.wait(timeout=90)
        finally:
            if up.poll() is None:
                up.send_signal(signal.SIGINT)
                up.wait(timeout=60)
    output = (tmp_path / "up.log").read_text()
    assert code == 3, output
    assert "bookwire is not up: ingress exited with" in output
    assert "bookwire is up" not in output


def test_up_with_your_own_tenants_file_syncs_through_the_sandbox(tmp_path: Path) -> None:
    """No BOOKWIRE_SANDBOX_KEYS: the sandbox trusts the keys of the tenants file up runs with."""
    env, ports = up_env(tmp_path)
    sandbox = f"http://127.0.0.1:{ports['SANDBOX']}"
    (tmp_path / "tenants.toml").write_text(tenants_toml(sandbox), encoding="utf-8")
    secrets = {**secrets_env(), "TEST_GOMRY_KEY": "my-own-gomry-key"}
    (tmp_path / "secrets.env").write_text(
        "".join(f'{k}="{v}"\n' for k, v in secrets.items()), encoding="utf-8"
    )
    env["BOOKWIRE_TENANTS_FILE"] = str(tmp_path / "tenants.toml")
    env["BOOKWIRE_SECRETS_FILE"] = str(tmp_path / "secrets.env")
    up = start_up(tmp_path, env)
    try:
        wait_for(lambda: "bookwire is up" in (tmp_path / "up.log").read_text(), timeout=90)
        body, headers = signed(booking("own-1"))
        answer = httpx.post(
            f"http://127.0.0.1:{ports['INGRESS']}/webhooks/generic/acme",
            content=body,
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        [event] = wait_for(lambda: gomry_events(sandbox, "my-own-gomry-key"), timeout=30)
        assert event["name"] == "Zoë Ångström – Summer Launch Party"

        # issue 14: a tenant added to the file of a running `up` gets 202 within 5 s
        with (tmp_path / "tenants.toml").open("a", encoding="utf-8") as tenants:
            tenants.write(tenants_toml(sandbox, tenant="beta"))
        added = time.monotonic()

        def beta_answer() -> int:
            body, headers = signed(booking("own-2"))
            url = f"http://127.0.0.1:{ports['INGRESS']}/webhooks/generic/beta"
            return httpx.post(url, content=body, headers=headers, timeout=10).status_code

        wait_for(lambda: beta_answer() == 202, timeout=5, every=0.2)
        assert time.monotonic() - added < 5
        wait_for(lambda: len(gomry_events(sandbox, "my-own-gomry-key")) == 2, timeout=30)
    finally:
        up.send_signal(signal.SIGINT)
        code = up.wait(timeout=60)
    assert code == 0
