"""Alert fixtures: a sink that records every POST over real HTTP (answering what a test tells
it to), and the runtime's settings pointed at it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from config.settings import Settings
from tests.support import ServerThread, tenants_toml

SINK_SECRET = "whsec_" + "YWxlcnQtc2luay1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg=="


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sink:
    """What the sink received (every attempt, answered or not) and what it answers next."""

    server: ServerThread | None = None
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # what each request was answered
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.server.url}/hooks/T000/B000/alerts"

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in order."""
        return [r for r, status in zip(self.received, self.statuses, strict=True) if status < 300]


@pytest.fixture
def sink() -> Iterator[Sink]:
    recorded = Sink()

    async def hook(request: Request) -> PlainTextResponse:
        body = await request.body()
        with recorded.lock:
            status = recorded.answers.pop(0) if recorded.answers else 200
            recorded.received.append(Received(dict(request.headers), body))
            recorded.statuses.append(status)
        return PlainTextResponse("ok" if status < 300 else "try later", status_code=status)

    app = Starlette(routes=[Route("/hooks/T000/B000/alerts", hook, methods=["POST"])])
    with ServerThread(app) as server:
        recorded.server = server
        yield recorded


@pytest.fixture
def alert_format() -> str:
    return "slack"


@pytest.fixture
def alert_rate_limit() -> int:
    return 10


@pytest.fixture
def tenants_file(tmp_path: Path, sandbox: ServerThread) -> Path:
    """The test tenant, its generic source expected to deliver at least hourly."""
    text = tenants_toml(sandbox.url).replace(
        '{ env = "TEST_OLD_SECRET" }]',
        '{ env = "TEST_OLD_SECRET" }]\nexpect_delivery_within = "1h"',
    )
    assert "expect_delivery_within" in text
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def settings(settings: Settings, sink: Sink, alert_format: str, alert_rate_limit: int) -> Settings:
    secret = SecretStr(SINK_SECRET) if alert_format == "webhook" else None
    update = {
        "alert_url": sink.url,
        "alert_format": alert_format,
        "alert_secret": secret,
        "alert_rate_limit": alert_rate_limit,
    }
    return settings.model_copy(update=update)
