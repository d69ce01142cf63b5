"""One benchmark run: stack up, warm up, load, drain, collect, report; then the stack goes down."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import ceiling, report
from bench.collect import Sandbox, broker_commands, match, store_counts, wait_drained
from bench.load import Plan, booking_body, booking_id
from bench.monitor import Monitor
from bench.profile import Profiler
from bench.stack import TENANT, Stack, StackConfig, started
from integrations.generic.webhook import sign

COUNTERS = ("requests", "errors_5xx", "burst_429", "dropped", "idempotent_replays", "gomry_creates")


@dataclass(frozen=True)
class Options:
    """Everything one run needs (the command line, parsed)."""

    stack: StackConfig
    bookings: int = 2000
    concurrency: int = 20
    duplicate: bool = False
    rate: float | None = None
    platform_latency_ms: float = 0.0
    platform_error_rate: float = 0.0
    timeout: float = 300.0
    settle: float = 1.0
    profile: Path | None = None
    profile_mode: str = "gil"
    phased: bool = False
    keep: bool = False


def run_once(options: Options, *, log: Any = sys.stderr) -> dict[str, Any]:
    """Run the benchmark once and return the report (a JSON-able dict)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:4]
    prefix = f"b{uuid.uuid4().hex[:8]}"
    load_before = load_average()
    with started(
        options.stack,
        tag="bench",
        run_id=run_id,
        keep=options.keep,
        workers=not options.phased,
        log=log,
    ) as (stack, sandbox):
        return _measure(options, stack, sandbox, run_id, prefix, load_before, log)


def _measure(
    options: Options,
    stack: Stack,
    sandbox: Sandbox,
    run_id: str,
    prefix: str,
    load_before: list[float],
    log: Any,
) -> dict[str, Any]:
    warm = warm_up(stack, sandbox, wait=not options.phased)
    sandbox.faults(
        latency_ms=options.platform_latency_ms, error_rate=options.platform_error_rate, seed=8
    )
    counters_before = sandbox.faults()["counters"]
    commands_before = broker_commands(stack.settings.resolved_redis_url)
    monitor = Monitor()
    profiler = (
        Profiler(options.profile / run_id, mode=options.profile_mode) if options.profile else None
    )
    _observe(stack, monitor, profiler)
    monitor.start()
    print(f"[bench] sending {options.bookings} bookings", file=log, flush=True)
    results = _load(options, stack, prefix, monitor)
    ids = [booking_id(prefix, i) for i in range(options.bookings)]
    acknowledged = {ids[s["booking"]] for s in results["sent"] if 200 <= s["status"] < 300}
    drain_started = None
    if options.phased:
        print("[bench] load done; starting the workers", file=log, flush=True)
        stack.start_workers()
        _observe(stack, monitor, profiler)
        drain_started = time.time()
    print(f"[bench] {len(acknowledged)} acknowledged; waiting to drain", file=log, flush=True)
    drained, waited = wait_drained(
        stack.settings.resolved_database_url,
        prefix,
        len(acknowledged),
        timeout=options.timeout,
        alive=stack.check_alive,
    )
    time.sleep(options.settle)  # a late duplicate would show up now
    usage = monitor.stop()
    commands = _per_booking(
        broker_commands(stack.settings.resolved_redis_url), commands_before, options.bookings
    )
    profiles = profiler.stop() if profiler else {}
    counters_after = sandbox.faults()["counters"]
    sandbox.faults(latency_ms=0, error_rate=0)  # read the events without faults
    events = match(sandbox.events(), prefix)
    store = store_counts(stack.settings.resolved_database_url, prefix)
    print("[bench] ceiling: the same events created straight on the platform", file=log)
    top = ceiling.measure(
        stack.sandbox_url, stack.api_key, events=options.bookings, concurrency=options.concurrency
    )
    usage_rows = [
        {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(u).items() if k[0] != "_"}
        for u in usage
    ]
    usage_rows.append(
        {
            "name": "load-generator",
            "role": "load",
            "pid": results["pid"],
            "rss_peak_mb": round(results["rss_peak_mb"], 2),
            "rss_end_mb": round(results["rss_peak_mb"], 2),
            "cpu_s": round(results["cpu_s"], 2),
            "cpu_system_s": None,
        }
    )
    return {
        "run_id": run_id,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_before": load_before,
            "load_after": load_average(),
        },
        "code": code_version(),
        "config": _config(options),
        "ingest": report.ingest_section(results["sent"]),
        "end_to_end": report.end_to_end_section(
            results["sent"], events.by_booking, ids, since=drain_started
        ),
        "correctness": report.correctness_section(
            results["sent"], events.by_booking, ids, events.other - warm
        ),
        "drain": {"drained": drained, "seconds": round(waited, 2)},
        "ceiling": top,
        "retries": {
            "sandbox": {
                k: counters_after.get(k, 0) - counters_before.get(k, 0)
                for k in COUNTERS
                if counters_after.get(k, 0) - counters_before.get(k, 0)
            },
            "attempts": store["attempts"],
        },
        "store": {k: v for k, v in store.items() if k != "attempts"},
        "broker_commands_per_booking": commands,
        "resources": report.processes_section(usage_rows, options.bookings),
        "profiles": profiles,
    }


def _observe(stack: Stack, monitor: Monitor, profiler: Profiler | None) -> None:
    """Watch (and profile) every process of the stack not watched yet."""
    roles = stack.roles()
    fresh = {name: pid for name, pid in stack.pids().items() if name not in monitor.usage}
    for name, pid in fresh.items():
        monitor.watch(name, roles[name], pid)
        if profiler and roles[name] in ("ingress", "worker") and name in monitor.usage:
            profiler.attach(name, monitor.usage[name].pid)  # a supervised worker's Celery child
    if profiler and fresh:
        time.sleep(1.0)  # let py-spy attach before the work starts


def warm_up(stack: Stack, sandbox: Sandbox, *, wait: bool) -> int:
    """One booking through each ingress (synced unless ``wait`` is off: no workers yet), so
    the run starts on warm processes."""
    names: list[str] = []
    for n, (host, port) in enumerate(stack.ingress_targets):
        booking = f"warm-{uuid.uuid4().hex[:8]}-{n}"  # unique: the database may be shared
        now = datetime.now(UTC)
        body = booking_body(booking, now)
        msg_id = f"msg_warm_{uuid.uuid4().hex}"
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(stack.secret, msg_id, now, body.decode()),
        }
        url = f"http://{host}:{port}/webhooks/generic/{TENANT}"
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        if response.status_code != 202:
            raise RuntimeError(f"warm-up booking refused: {response.status_code} {response.text}")
        names.append(booking)
    if not wait:
        return len(names)
    deadline = time.monotonic() + 60
    while sandbox.count() < len(names):
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError("warm-up bookings were not synced within 60 s")
        time.sleep(0.1)
    return len(names)


def _load(options: Options, stack: Stack, prefix: str, monitor: Monitor) -> dict[str, Any]:
    plan = Plan(
        targets=stack.ingress_targets,
        tenant=TENANT,
        secret=stack.secret,
        prefix=prefix,
        bookings=options.bookings,
        concurrency=options.concurrency,
        duplicate=options.duplicate,
        rate=options.rate,
    )
    plan_file = stack.home / "plan.json"
    results_file = stack.home / "results.json"
    plan_file.write_text(json.dumps(asdict(plan)), "utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load", str(plan_file), str(results_file)],
        start_new_session=True,
    )
    monitor.watch("load-generator", "load", proc.pid)
    if proc.wait() != 0:
        raise RuntimeError(f"load generator exited with {proc.returncode}")
    monitor.forget("load-generator")  # it reports its own CPU and peak RSS
    results: dict[str, Any] = json.loads(results_file.read_text("utf-8"))
    results["pid"] = proc.pid
    results_file.unlink()  # booking ids only, but there is no need to keep them
    return results


def _per_booking(after: dict[str, int], before: dict[str, int], n: int) -> dict[str, float]:
    """Broker calls per booking by command, busiest first (includes idle polling)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v > before.get(k, 0)}
    ordered = sorted(delta.items(), key=lambda kv: -kv[1])
    return {k: round(v / max(n, 1), 2) for k, v in ordered}


def _config(options: Options) -> dict[str, Any]:
    stack = options.stack
    return {
        "bookings": options.bookings,
        "concurrency": options.concurrency,
        "rate": options.rate,
        "duplicate": options.duplicate,
        "phased": options.phased,
        "platform_latency_ms": options.platform_latency_ms,
        "platform_error_rate": options.platform_error_rate,
        "workers": stack.workers,
        "worker_threads": stack.worker_threads,
        "ingress": stack.ingress,
        "broker": "given Redis" if stack.redis_url else "embedded Valkey",
        "database": _database_kind(stack.database_url),
        "log_level": stack.log_level,
    }


def _database_kind(url: str | None) -> str:
    if url is None:
        return "embedded SQLite"
    return url.split(":", 1)[0]


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes."""
    root = Path(__file__).resolve().parent.parent

    def git(*argv: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *argv], cwd=root, capture_output=True, text=True
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain")) if commit else None,
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def scaled(options: Options, workers: int, ingress: int) -> Options:
    return replace(options, stack=replace(options.stack, workers=workers, ingress=ingress))
