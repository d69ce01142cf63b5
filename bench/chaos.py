"""``bookwire bench --chaos``: prove "0 duplicates, 0 lost" while the system is being broken.

The real stack (``bench.stack``: embedded Valkey with its append-only file, SQLite, sandbox
Gomry, ingress, supervised workers, beat, every setting at its default) takes bookings that
change while they sync (``bench.chaos_load``: every webhook twice, reschedules, cancels) while
``Mayhem`` SIGKILLs the Celery child of a random worker every ~``kill_every`` seconds, crashes
the broker (SIGKILL) and starts it again on the same data directory, and the platform answers
a share of calls 503. When the load is done and the schedule of faults has run, it waits for
the drain, turns the faults off and asks the platform (``bench.verdict``), then the reconciler
(``bookwire reconcile --json``), whether every booking is exactly one event in its latest
state. Offenders come with their timelines from the store (``bench.evidence``).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import evidence
from bench.chaos_load import Plan, Stage, stages
from bench.collect import Sandbox
from bench.run import code_version, load_average, warm_up
from bench.stack import TENANT, WORKER_CLI, Stack, StackConfig, started, tail
from bench.verdict import judge

SANDBOX_COUNTERS = (
    "requests",
    "errors_5xx",
    "idempotent_replays",
    "gomry_creates",
    "gomry_patches",
)


@dataclass(frozen=True)
class ChaosOptions:
    stack: StackConfig
    bookings: int = 3000
    concurrency: int = 20
    rate: float | None = None  # default: the load spans the schedule of kills
    kills: int = 8
    kill_every: float = 10.0
    broker_restarts: int = 2
    broker_down: float = 3.0
    platform_error_rate: float = 0.05
    reschedule_share: float = 0.2
    cancel_share: float = 0.1
    seed: int = 1
    timeout: float = 600.0
    stall: float = 300.0  # the drain gives up when nothing pending moved for this long
    plant_duplicates: int = 0  # the harness's own test: copies planted before the check
    plant_lost: int = 0  # ... and events deleted before the check
    keep: bool = False

    @property
    def load_rate(self) -> float:
        span = max(self.kill_every * max(self.kills, 1), 1.0)
        return self.rate or max(self.bookings / span, 1.0)


@dataclass
class Mayhem:
    """The faults on a schedule, in a thread: worker kills and broker crashes."""

    stack: Stack
    kills: int
    kill_every: float
    broker_restarts: int
    broker_down: float
    seed: int
    log: Any = sys.stderr
    done: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._draw = random.Random(self.seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mayhem", daemon=True)
        self._started = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self.error:
            raise RuntimeError(f"a fault could not be injected: {self.error}") from self.error

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds after start, what): a kill every ~kill_every s (±30 %), the broker
        crashes spread evenly over the same span."""
        plan: list[tuple[float, str]] = []
        at = 0.0
        for _ in range(self.kills):
            at += self.kill_every * self._draw.uniform(0.7, 1.3)
            plan.append((at, "kill-worker"))
        span = max(at, self.kill_every)
        for n in range(self.broker_restarts):
            plan.append((span * (n + 1) / (self.broker_restarts + 1) + 1.5, "crash-broker"))
        return sorted(plan)

    def _run(self) -> None:
        try:
            for at, what in self.schedule():
                if self._stop.wait(max(0.0, self._started + at - time.monotonic())):
                    return
                entry = self._kill_worker() if what == "kill-worker" else self._crash_broker()
                entry["t"] = round(time.monotonic() - self._started, 1)
                self.done.append(entry)
                print(f"[chaos] {entry}", file=self.log, flush=True)
        except BaseException as exc:  # reported by join()
            self.error = exc

    def _kill_worker(self) -> dict[str, Any]:
        workers = [c for c in self.stack.children if c.role == "worker"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            worker = self._draw.choice(workers)
            children = self.stack.celery_children(worker)
            if children:
                children[0].send_signal(signal.SIGKILL)
                return {"what": "kill-worker", "worker": worker.name, "pid": children[0].pid}
            time.sleep(0.5)  # restarting after the last kill or a broker crash
        return {"what": "kill-worker", "worker": None, "pid": None}

    def _crash_broker(self) -> dict[str, Any]:
        self.stack.kill_broker()
        time.sleep(self.broker_down)
        self.stack.restart_broker()
        return {"what": "crash-broker", "down_s": self.broker_down}


def run_chaos(options: ChaosOptions, *, log: Any = sys.stderr) -> dict[str, Any]:
    """One chaos run; the report as a JSON-able dict (``ok`` says whether it proved it)."""
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-chaos-" + uuid.uuid4().hex[:4]
    prefix = f"c{uuid.uuid4().hex[:8]}"
    with started(
        options.stack, tag="chaos", run_id=run_id, keep=options.keep, workers=True, log=log
    ) as (stack, sandbox):
        return _run(options, stack, sandbox, run_id, prefix, log)


def _run(
    options: ChaosOptions, stack: Stack, sandbox: Sandbox, run_id: str, prefix: str, log: Any
) -> dict[str, Any]:
    load_before = load_average()
    warm_up(stack, sandbox, wait=True)
    sandbox.faults(error_rate=options.platform_error_rate, seed=options.seed)
    counters_before = sandbox.faults()["counters"]
    plan = Plan(
        targets=stack.ingress_targets,
        tenant=TENANT,
        secret=stack.secret,
        prefix=prefix,
        bookings=options.bookings,
        concurrency=options.concurrency,
        rate=options.load_rate,
        reschedule_share=options.reschedule_share,
        cancel_share=options.cancel_share,
        seed=options.seed,
        base=datetime.now(UTC).isoformat(),
    )
    mayhem = Mayhem(
        stack,
        options.kills,
        options.kill_every,
        options.broker_restarts,
        options.broker_down,
        options.seed,
        log,
    )
    print(
        f"[chaos] sending {plan.bookings} bookings at {plan.rate:.1f}/s; "
        f"{options.kills} kills, {options.broker_restarts} broker crashes",
        file=log,
        flush=True,
    )
    started = time.monotonic()
    mayhem.start()
    try:
        results = _load(plan, stack)
        load_seconds = time.monotonic() - started
        mayhem.join()
    finally:
        mayhem.stop()
    expected = _expected(plan, results["acknowledged"])
    print(f"[chaos] load done; {len(expected)} acknowledged; draining", file=log, flush=True)
    drained, waited, stranded = _drain(options, stack, prefix, len(expected), log)
    time.sleep(2.0)  # a straggling retry would show now
    counters_after = sandbox.faults()["counters"]
    sandbox.faults(error_rate=0)  # read the platform without faults
    planted = _plant(sandbox, options, expected)
    verdict = judge(TENANT, expected, sandbox.events())
    reconciled = _reconcile(stack)
    database = stack.settings.resolved_database_url
    offenders = sorted({o["booking"] for o in verdict.offenders} | set(stranded[:10]))[:10]
    report: dict[str, Any] = {
        "run_id": run_id,
        "machine": {"load_before": load_before, "load_after": load_average()},
        "code": code_version(),
        "config": _config(options, plan),
        "load": {
            "seconds": round(load_seconds, 1),
            "requests": results["requests"],
            "retried": results["retried"],
            "statuses": results["statuses"],
            "outcomes": results["outcomes"],
            "unanswered": len(results["unanswered"]),
            **_story_counts(plan, results["acknowledged"]),
        },
        "chaos": {
            "worker_kills": sum(1 for d in mayhem.done if d["what"] == "kill-worker" and d["pid"]),
            "broker_crashes": sum(1 for d in mayhem.done if d["what"] == "crash-broker"),
            "worker_restarts_logged": _restarts(stack),
            "timeline": mayhem.done,
            "platform_5xx": counters_after.get("errors_5xx", 0)
            - counters_before.get("errors_5xx", 0),
        },
        "drain": {
            "drained": drained,
            "seconds": round(waited, 1),
            "stranded": len(stranded),
            "stranded_first": stranded[:10],
        },
        "platform": verdict.as_dict(),
        "planted": planted,
        "reconcile": reconciled,
        "sandbox": {
            k: counters_after.get(k, 0) - counters_before.get(k, 0) for k in SANDBOX_COUNTERS
        },
        "store": evidence.summary(database, prefix),
        "offender_timelines": evidence.timelines(database, offenders),
    }
    report["ok"] = (
        drained
        and verdict.duplicates == 0
        and verdict.lost == 0
        and reconciled["drift"] == 0
        and not reconciled["errors"]
        and not results["unanswered"]
    )
    return report


def _drain(
    options: ChaosOptions, stack: Stack, prefix: str, acknowledged: int, log: Any
) -> tuple[bool, float, list[str]]:
    """Wait until every acknowledged booking is stored and none is pending; returns (drained,
    seconds, the bookings still pending). Gives up early when the pending set has not changed
    for ``options.stall`` seconds: longer than a dead worker's lock (60 s) plus the relay's
    delay (60 s) and sweep (10 s), so what is still pending then is stranded, not slow."""
    started = last_change = time.monotonic()
    previous: list[str] | None = None
    while True:
        stack.check_alive()
        stored, pending = evidence.progress(stack.settings.resolved_database_url, prefix)
        now = time.monotonic()
        if stored >= acknowledged and not pending:
            return True, now - started, []
        if pending != previous:
            previous, last_change = pending, now
        if now - last_change > options.stall or now - started > options.timeout:
            print(
                f"[chaos] {len(pending)} bookings still pending after {now - started:.0f} s "
                f"(unchanged for {now - last_change:.0f} s): stranded",
                file=log,
                flush=True,
            )
            return False, now - started, pending
        time.sleep(1.0)


def _load(plan: Plan, stack: Stack) -> dict[str, Any]:
    plan_file = stack.home / "chaos-plan.json"
    results_file = stack.home / "chaos-results.json"
    plan_file.write_text(json.dumps(asdict(plan)), "utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.chaos_load", str(plan_file), str(results_file)],
        start_new_session=True,
    )
    try:
        while proc.poll() is None:
            stack.check_alive()
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"chaos load generator exited with {proc.returncode}")
    results: dict[str, Any] = json.loads(results_file.read_text("utf-8"))
    return results


def _expected(plan: Plan, acknowledged: dict[str, int]) -> dict[str, Stage]:
    """Each acknowledged booking's latest acknowledged stage."""
    return {booking: stages(plan, _index(booking))[last] for booking, last in acknowledged.items()}


def _story_counts(plan: Plan, acknowledged: dict[str, int]) -> dict[str, int]:
    """How many acknowledged bookings were rescheduled and cancelled (acknowledged stages)."""
    rescheduled = cancelled = 0
    for booking, last in acknowledged.items():
        story = stages(plan, _index(booking))[: last + 1]
        rescheduled += any(n and s.status == "confirmed" for n, s in enumerate(story))
        cancelled += story[-1].status == "cancelled"
    return {
        "bookings_acknowledged": len(acknowledged),
        "rescheduled": rescheduled,
        "cancelled": cancelled,
    }


def _index(booking: str) -> int:
    return int(booking.rsplit("-", 1)[1])


def _plant(sandbox: Sandbox, options: ChaosOptions, expected: dict[str, Stage]) -> dict[str, Any]:
    """The harness's own test: copy or delete some confirmed bookings' events first."""
    if not (options.plant_duplicates or options.plant_lost):
        return {}
    from bench.verdict import REFERENCE, reference_of

    by_reference = {}
    for event in sandbox.events():
        found = REFERENCE.search(str(event.get("description") or ""))
        if found:
            by_reference[found[1]] = event["id"]
    confirmed = [b for b, s in sorted(expected.items()) if s.status == "confirmed"]
    copied = confirmed[: options.plant_duplicates]
    deleted = confirmed[options.plant_duplicates : options.plant_duplicates + options.plant_lost]
    for booking in copied:
        sandbox.plant_copy(by_reference[reference_of(TENANT, booking)])
    for booking in deleted:
        sandbox.plant_delete(by_reference[reference_of(TENANT, booking)])
    return {"duplicates": copied, "lost": deleted}


def _reconcile(stack: Stack) -> dict[str, Any]:
    """``bookwire reconcile --json`` against the running stack (report only, no repair)."""
    done = subprocess.run(
        [*WORKER_CLI, "reconcile", "--json"],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return {"exit": done.returncode, "drift": -1, "errors": {"": done.stderr[-500:]}}
    counts = report["counts"]
    return {
        "exit": done.returncode,
        "bookings": report["bookings"],
        "events": report["events"],
        "counts": counts,
        "drift": sum(counts.values()),
        "errors": report["errors"],
        "items": [
            {k: item[k] for k in ("kind", "booking_id", "event_id", "detail")}
            for item in report["drift"][:10]
        ],
    }


def _restarts(stack: Stack) -> int:
    """Celery children the worker supervisors restarted (their ``exited with code`` lines)."""
    return sum(
        tail(child, chars=10**7).count("exited with code")
        for child in stack.children
        if child.role == "worker"
    )


def _config(options: ChaosOptions, plan: Plan) -> dict[str, Any]:
    stack = options.stack
    return {
        "bookings": options.bookings,
        "concurrency": options.concurrency,
        "rate": round(plan.rate, 1),
        "workers": stack.workers,
        "worker_threads": stack.worker_threads,
        "ingress": stack.ingress,
        "kills": options.kills,
        "kill_every": options.kill_every,
        "broker_restarts": options.broker_restarts,
        "broker_down": options.broker_down,
        "platform_error_rate": options.platform_error_rate,
        "reschedule_share": options.reschedule_share,
        "cancel_share": options.cancel_share,
        "duplicates": "every webhook twice (even bookings at once, odd ones 3 s later)",
        "seed": options.seed,
        "database": "embedded SQLite" if stack.database_url is None else "given",
    }
