"""``bookwire up``: the whole system on embedded defaults, in one terminal.

Starts the embedded Valkey (append-only file on, under ``home``), creates the SQLite schema,
writes the demo tenant if no tenants file is configured, then runs sandbox, ingress, worker,
beat and Flower (bound to 127.0.0.1) as child processes. Ctrl-C stops them in an order that
loses nothing: the ingress first (no new deliveries), then the worker (warm shutdown finishes
running tasks; unfinished ones stay in the broker), then beat, Flower, the sandbox and the broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx

from config.settings import Settings
from worker.demo import ensure_demo, seed_sandbox
from worker.runtime import Runtime

STOP_ORDER = ("ingress", "worker", "beat", "flower", "sandbox")


def run(settings: Settings) -> int:
    # Ctrl-C and SIGTERM both mean "stop cleanly" (also when started in the background,
    # where SIGINT would otherwise be ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    ensure_demo(settings)
    rt = Runtime(settings)
    rt.tenants  # noqa: B018 - fail at start on broken config
    rt.store.create_schema()
    valkey = None
    env = dict(os.environ)
    env.update(_child_env(settings))
    if settings.embedded_broker:
        from worker.embedded import start_valkey

        valkey = start_valkey(settings)
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in _commands(settings).items():
            children[name] = subprocess.Popen(argv, env=env)
        _wait_ready(settings)
        if settings.tenants_file is None:
            seed_sandbox(settings)  # the demo Gatsby tenant's target events
        _banner(settings)
        _supervise(children)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)
        if valkey is not None:
            valkey.stop()
        rt.close()
    print("bookwire stopped; nothing in flight was lost (the broker keeps unfinished work).")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _child_env(settings: Settings) -> dict[str, str]:
    env = {
        "BOOKWIRE_HOME": str(settings.home.resolve()),
        "BOOKWIRE_TENANTS_FILE": str(settings.resolved_tenants_file.resolve()),
        "PYTHONUNBUFFERED": "1",
    }
    secrets = settings.resolved_secrets_file
    if secrets is not None:
        env["BOOKWIRE_SECRETS_FILE"] = str(secrets.resolve())
        if settings.tenants_file is None:
            from worker.demo import sandbox_keys

            env["BOOKWIRE_SANDBOX_KEYS"] = sandbox_keys(secrets)  # gomry, gatsby, guestmedia
    return env


def _commands(settings: Settings) -> dict[str, list[str]]:
    me = [sys.executable, "-m", "worker.cli"]
    return {
        "sandbox": [*me, "sandbox"],
        "ingress": [*me, "ingress"],
        "worker": [*me, "worker"],
        "beat": [*me, "beat"],
        "flower": [*me, "flower"],
    }


def _wait_ready(settings: Settings, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    urls = [
        f"http://{settings.ingress_host}:{settings.ingress_port}/readyz",
        f"http://{settings.sandbox_host}:{settings.sandbox_port}/_sandbox/health",
    ]
    for url in urls:
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)


def _banner(settings: Settings) -> None:
    ingress = f"http://{settings.ingress_host}:{settings.ingress_port}"
    print(
        f"""
bookwire is up (data under {settings.home.resolve()})
  ingress   {ingress}/webhooks/{{source}}/{{tenant}}   (health: {ingress}/readyz)
  flower    http://{settings.flower_host}:{settings.flower_port}
  sandbox   http://{settings.sandbox_host}:{settings.sandbox_port}/api/v1/events
  tenants   {settings.resolved_tenants_file}

Send a signed example booking from another terminal:
  bookwire send-example
then:  bookwire status <booking id it prints>
Ctrl-C stops everything cleanly.
""",
        flush=True,
    )


def _supervise(children: dict[str, subprocess.Popen[Any]]) -> None:
    while True:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                print(f"{name} exited with {code}; stopping", file=sys.stderr)
                return
        time.sleep(0.5)


def _stop(children: dict[str, subprocess.Popen[Any]]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown
    for name in STOP_ORDER:
        child = children.get(name)
        if child is None or child.poll() is not None:
            continue
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
