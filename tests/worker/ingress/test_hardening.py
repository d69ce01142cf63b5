"""The ingress against slow clients and floods: a body that does not arrive in time is a 408, a
route over its rate limit a 429 with Retry-After; neither stores anything, and the vendor's retry
of the same delivery is stored once."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from config.settings import Settings
from config.tenants import load_tenants
from tests.support import ServerThread, booking, signed, tenants_toml
from worker.ingress.app import create_app
from worker.ingress.probes import create_ops_app
from worker.runtime import Runtime
from worker.store.models import Delivery


def stored(rt: Runtime) -> int:
    with rt.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


def post(url: str, body: bytes, headers: dict[str, str], tenant: str = "acme") -> httpx.Response:
    return httpx.post(f"{url}/webhooks/generic/{tenant}", content=body, headers=headers, timeout=10)


def request_head(body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /webhooks/generic/acme HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_and_json(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, payload = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


@pytest.mark.parametrize("client", ["stalls", "dribbles"])
def test_a_body_that_does_not_arrive_in_time_is_408_and_others_are_served_meanwhile(
    settings: Settings, runtime: Runtime, client: str
) -> None:
    slow = Runtime(
        settings.model_copy(update={"ingress_body_timeout": 1.0}), tenants=runtime.tenants
    )
    body, headers = signed(booking("slow-1"))
    with ServerThread(create_app(slow)) as ingress:
        sock = socket.create_connection(("127.0.0.1", ingress.port), timeout=0.2)
        with sock:
            sock.sendall(request_head(body, headers) + body[:20])
            started = time.monotonic()
            other = post(ingress.url, *signed(booking("fast-1")))  # while the slow one waits
            answer, sent = b"", 20
            while b"\r\n\r\n" not in answer and time.monotonic() - started < 8:
                if client == "dribbles" and sent < len(body) - 1:
                    with contextlib.suppress(OSError):  # the server may have answered already
                        sock.sendall(body[sent : sent + 1])  # a byte per 0.2 s: never done in 1 s
                    sent += 1
                try:
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
            waited = time.monotonic() - started
    assert other.status_code == 202
    status, error = status_and_json(answer)
    assert status == 408, answer
    assert 0.8 < waited < 4
    assert error["error"] == "body not received within 1 s; nothing stored, send it again"
    assert stored(runtime) == 1  # fast-1 only

    with ServerThread(create_app(slow)) as ingress:  # the vendor's retry, sent whole
        assert post(ingress.url, body, headers).status_code == 202
    assert stored(runtime) == 2
    slow.close()


def test_a_route_over_its_rate_limit_gets_429_and_the_retry_is_stored_once(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    sandbox_url = runtime.tenants.tenants["acme"].platform.base_url.removesuffix("/api/v1")
    two = tmp_path / "two-tenants.toml"
    two.write_text(tenants_toml(sandbox_url) + tenants_toml(sandbox_url, tenant="beta"))
    tenants = load_tenants(two, secrets_file=settings.secrets_file)
    limited = Runtime(
        settings.model_copy(update={"tenants_file": two, "ingress_rate_limit": "3/2 seconds"}),
        tenants=tenants,
    )
    with ServerThread(create_app(limited)) as ingress, ServerThread(create_ops_app(limited)) as ops:
        assert [post(ingress.url, *signed(booking(f"r-{i}"))).status_code for i in range(3)] == [
            202
        ] * 3
        body, headers = signed(booking("r-3"))
        refused = post(ingress.url, body, headers)
        assert refused.status_code == 429
        assert refused.json()["error"].startswith("too many deliveries for this tenant and source")
        wait = int(refused.headers["Retry-After"])
        assert 1 <= wait <= 2
        assert stored(limited) == 3  # nothing of the refused delivery

        assert post(ingress.url, *signed(booking("b-1")), tenant="beta").status_code == 202

        time.sleep(wait)
        retried = post(ingress.url, body, headers)  # the vendor's retry: the same bytes
        assert (retried.status_code, retried.json()["outcome"]) == (202, "accepted")
        again = post(ingress.url, body, headers)
        assert (again.status_code, again.json()["outcome"]) == (202, "duplicate")
        metrics = httpx.get(f"{ops.url}/metrics", timeout=10).text
    assert stored(limited) == 5  # r-0..r-3 and b-1: the refused one once
    assert 'bookwire_webhooks_total{result="rate_limited",source="generic",tenant="acme"}' in (
        metrics
    )
    assert 'result="rate_limited",source="generic",tenant="beta"' not in metrics
    limited.close()


def test_an_unsigned_flood_does_not_spend_the_routes_budget(
    settings: Settings, runtime: Runtime
) -> None:
    limited = Runtime(
        settings.model_copy(update={"ingress_rate_limit": "2/10 seconds"}), tenants=runtime.tenants
    )
    with ServerThread(create_app(limited)) as ingress:
        for _ in range(5):
            body, headers = signed(booking())
            headers["webhook-signature"] = "v1,Zm9v"
            assert post(ingress.url, body, headers).status_code == 401
        assert post(ingress.url, *signed(booking("real-1"))).status_code == 202
    limited.close()
