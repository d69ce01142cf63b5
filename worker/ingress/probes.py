"""What the ingress tells ops: liveness, readiness and metrics, on a listener of their own.

``create_ops_app`` is served on ``BOOKWIRE_OPS_HOST:BOOKWIRE_OPS_PORT`` (127.0.0.1:9000 by
default; ``bookwire ingress`` runs it beside the public app): ``/metrics`` names tenants and
reads the store and the broker at scrape time, so it is never on the public webhook port.
``/healthz`` and ``/readyz`` are served on both: load balancers probe the public port, and they
say nothing but "alive", "ready" or which part is unreachable.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from worker.ops import state_metrics
from worker.runtime import Runtime
from worker.store.migrate import schema_problems


def health_routes(rt: Runtime) -> list[Route]:
    """``/healthz`` (the process serves) and ``/readyz`` (the store and the broker answer)."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        problems = await run_in_threadpool(_readiness, rt)
        status = 200 if not problems else 503
        return JSONResponse(
            {"status": "ready" if not problems else "not ready", "problems": problems},
            status_code=status,
        )

    return [Route("/healthz", healthz), Route("/readyz", readyz)]


def create_ops_app(rt: Runtime) -> Starlette:
    """The ops listener's app: the health routes and ``/metrics``."""

    async def metrics(_: Request) -> Response:
        # this process's counters, then system state read from the store and the broker
        state = await run_in_threadpool(state_metrics.collect, rt)
        return Response(generate_latest() + state, media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[*health_routes(rt), Route("/metrics", metrics)])


def _readiness(rt: Runtime) -> list[str]:
    problems: list[str] = []
    try:
        rt.store.ping()
        problems += schema_problems(rt.store)  # an outdated schema fails every sync
    except Exception:
        problems.append("store unreachable")
    try:
        rt.redis.ping()
    except Exception:
        problems.append("broker unreachable")
    return problems
