"""The commands that run a part of the system: ``up`` (all of them), ``ingress``, ``worker``,
``beat``, ``flower`` and ``sandbox``."""

from __future__ import annotations

import argparse
import os
import sys

from config.settings import Settings, load_settings
from worker.cli.common import EXIT_START, refuse_outdated, runtime


def cmd_up(args: argparse.Namespace) -> int:
    from worker.process.up import run

    return run(load_settings())


def cmd_ingress(args: argparse.Namespace) -> int:
    from worker.ingress.serve import PortTaken, serve
    from worker.telemetry.logs import configure

    rt = runtime()
    rt.tenants  # noqa: B018 - fail at start on broken config
    configure(json_lines=rt.settings.log_json, level=rt.settings.log_level)
    try:
        serve(rt)  # webhooks on the ingress port, /metrics on the ops port
    except PortTaken as exc:
        print(exc, file=sys.stderr)
        return EXIT_START
    return 0


def _celery(settings: Settings, *argv: str) -> int:
    from worker.process import celery_command  # logs our way from Celery's first line

    os.execv(sys.executable, [*celery_command.argv(settings), *argv])  # noqa: S606 - becomes celery
    return 0  # pragma: no cover


def cmd_worker(args: argparse.Namespace) -> int:
    from worker.process import celery_command
    from worker.process.supervise import supervise

    settings = refuse_outdated()
    concurrency = args.concurrency or settings.worker_concurrency
    celery_command.configure_logging(settings)  # the supervisor's own lines too
    celery = celery_command.argv(settings)  # logs our way from Celery's first line
    return supervise(
        [
            *celery,
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            settings.log_level,
            "--events",
            "--queues",
            "bookwire",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"worker-{os.getpid()}@%h",
        ],
        name="worker",
    )


def cmd_beat(args: argparse.Namespace) -> int:
    settings = refuse_outdated()
    settings.home.mkdir(parents=True, exist_ok=True)
    return _celery(
        settings,
        "beat",
        "--loglevel",
        settings.log_level,
        "--schedule",
        str(settings.home.resolve() / "beat-schedule"),
    )


def cmd_flower(args: argparse.Namespace) -> int:
    settings = load_settings()
    loopback = settings.flower_host in ("127.0.0.1", "localhost", "::1")
    if not loopback and not (os.environ.get("FLOWER_BASIC_AUTH") or os.environ.get("FLOWER_AUTH")):
        # Flower shows every task to whoever opens it: never on a network without a login
        print("refusing to serve Flower beyond loopback without FLOWER_BASIC_AUTH", file=sys.stderr)
        return 2
    from worker.ops import flower  # read-only task control, ops' columns, our log lines

    flower.run(settings)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from sandbox.app import create_app, keys_from_env
    from worker.process.demo import sandbox_keys

    rt = runtime(schema=False)
    settings = rt.settings
    data = args.data or settings.home / "sandbox"
    port = args.port or settings.sandbox_port
    # it trusts the keys of the tenants file this bookwire runs with (and any given by hand)
    keys = keys_from_env()
    for slug, values in sandbox_keys(rt.tenants, f"http://{settings.sandbox_host}:{port}").items():
        keys.setdefault(slug, set()).update(values)
    uvicorn.run(
        create_app(data, keys),
        host=settings.sandbox_host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    return 0
