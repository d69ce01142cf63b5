"""``bookwire up``: the whole system on embedded defaults, in one terminal.

Writes the demo tenant if no tenants file is configured, runs ``bookwire migrate`` (the
schema comes from the migrations, as everywhere), starts the embedded Valkey (append-only file
on, under ``home``), then runs sandbox, ingress, worker, beat and Flower (bound to 127.0.0.1)
as child processes. It says "bookwire is up" only once every part answers (ingress /readyz,
a worker ping, Flower, the sandbox); otherwise it stops everything and exits 3 naming the part
that did not (likewise when a part exits later). Flower asks for a login: yours
(``FLOWER_BASIC_AUTH``) or one generated once for this home, whose file the banner names. The
sandbox trusts the credentials of the tenants file ``up`` runs with (``bookwire sandbox`` reads
them), demo or yours. Ctrl-C stops
them in an order that loses nothing: the ingress first (no new deliveries), then the worker
(warm shutdown finishes running tasks; unfinished ones stay in the broker), then beat, Flower,
the sandbox and the broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from config.settings import Settings
from worker.ops import flower
from worker.process.demo import ensure_demo, seed_sandbox
from worker.runtime import Runtime
from worker.store.migrate import migrate

STOP_ORDER = ("ingress", "worker", "beat", "flower", "sandbox")
EXIT_START = 3  # worker.cli: a part could not start or stopped
START_TIMEOUT = 60.0


class PartFailed(Exception):
    """A part of the system did not start or stopped; the message names it."""


def run(settings: Settings) -> int:
    # Ctrl-C and SIGTERM both mean "stop cleanly" (also when started in the background,
    # where SIGINT would otherwise be ignored).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    ensure_demo(settings)
    rt = Runtime(settings)
    rt.tenants  # noqa: B018 - fail at start on broken config
    print(migrate(rt.store), flush=True)
    valkey = None
    env = dict(os.environ)
    env.update(_child_env(settings))
    flower_env, flower_login = _flower_login(settings)
    env.update(flower_env)
    if settings.embedded_broker:
        from worker.process.embedded import start_valkey

        valkey = start_valkey(settings)
    children: dict[str, subprocess.Popen[bytes]] = {}
    code = 0
    try:
        for name, argv in _commands(settings).items():
            children[name] = subprocess.Popen(argv, env=env)
        _wait_ready(settings, rt, children)
        if settings.tenants_file is None:
            seed_sandbox(settings)  # the demo Gatsby tenant's target events
        _banner(settings, flower_login)
        _supervise(children)
    except PartFailed as exc:
        print(f"bookwire is not up: {exc}; stopping", file=sys.stderr, flush=True)
        code = EXIT_START
    except KeyboardInterrupt:
        pass
    finally:
        _stop(children)
        if valkey is not None:
            valkey.stop()
        rt.close()
    print("bookwire stopped; nothing in flight was lost (the broker keeps unfinished work).")
    return code


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
    return env


def _flower_login(settings: Settings) -> tuple[dict[str, str], str]:
    """Flower's login for this run (its API answers 401 without one) and how to use it: the
    operator's own ``FLOWER_BASIC_AUTH``/``FLOWER_AUTH`` when set (never printed), else the one
    generated once for this home, in a 0600 file the banner names."""
    if os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_AUTH"):
        return {}, "log in with your FLOWER_BASIC_AUTH (or FLOWER_AUTH)"
    path = flower.local_login(settings.home.resolve())
    login = flower.read_login(path)
    return {"FLOWER_BASIC_AUTH": login}, f"user {login.partition(':')[0]}, password in {path}"


def _commands(settings: Settings) -> dict[str, list[str]]:
    me = [sys.executable, "-m", "worker.cli"]
    return {
        "sandbox": [*me, "sandbox"],
        "ingress": [*me, "ingress"],
        "worker": [*me, "worker"],
        "beat": [*me, "beat"],
        "flower": [*me, "flower"],
    }


def _checks(settings: Settings, rt: Runtime) -> dict[str, Callable[[], bool]]:
    """How each part shows it is ready to work (not merely started)."""

    def answers(url: str) -> Callable[[], bool]:
        return lambda: httpx.get(url, timeout=1).status_code == 200

    return {
        "sandbox": answers(
            f"http://{settings.sandbox_host}:{settings.sandbox_port}/_sandbox/health"
        ),
        "ingress": answers(f"http://{settings.ingress_host}:{settings.ingress_port}/readyz"),
        "worker": lambda: bool(rt.celery.control.ping(timeout=1.0)),
        "flower": answers(f"http://{settings.flower_host}:{settings.flower_port}/healthcheck"),
    }


def _wait_ready(
    settings: Settings,
    rt: Runtime,
    children: dict[str, subprocess.Popen[bytes]],
    timeout: float = START_TIMEOUT,
) -> None:
    """Return when every part answers; raise ``PartFailed`` naming the first that exited or
    did not answer in time."""
    deadline = time.monotonic() + timeout
    for name, check in _checks(settings, rt).items():
        while True:
            _exited(children)
            try:
                if check():
                    break
            except Exception:  # noqa: S110 - not answering yet is what we are waiting out
                pass
            if time.monotonic() > deadline:
                raise PartFailed(f"{name} did not answer within {timeout:.0f} s")
            time.sleep(0.2)


def _exited(children: dict[str, subprocess.Popen[Any]]) -> None:
    for name, child in children.items():
        code = child.poll()
        if code is not None:
            raise PartFailed(f"{name} exited with {code}")


def _banner(settings: Settings, flower_login: str) -> None:
    ingress = f"http://{settings.ingress_host}:{settings.ingress_port}"
    print(
        f"""
bookwire is up (data under {settings.home.resolve()})
  ingress   {ingress}/webhooks/{{source}}/{{tenant}}   (health: {ingress}/readyz)
  metrics   http://{settings.ops_host}:{settings.ops_port}/metrics   (the ingress's ops port)
  flower    http://{settings.flower_host}:{settings.flower_port}   ({flower_login})
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
    """Until Ctrl-C; a part that exits on its own raises ``PartFailed``."""
    while True:
        _exited(children)
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
