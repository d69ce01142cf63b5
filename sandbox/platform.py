"""State shared by the emulated platforms: the on-disk database, API keys and fault knobs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.faults import Faults


class Platform:
    """One sandbox process: a SQLite file (or memory), credentials per platform, faults."""

    def __init__(self, data_dir: Path | None, keys: dict[str, set[str]], schema: str) -> None:
        path = ":memory:"
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            path = str(data_dir / "sandbox.db")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(schema)
        self._keys = keys
        self.faults = Faults()

    def keys(self, platform: str) -> set[str]:
        return self._keys.get(platform, set())

    async def inject(self, request: Request) -> Response | None:
        """Answer with an injected fault (before any work), or None to proceed."""
        client = request.client.host if request.client else "?"
        status = self.faults.injected_status(client)
        self.faults.count("requests")
        if status is None:
            return None
        await self.faults.delay()
        if status == 429:
            return JSONResponse({"error": "Rate limit exceeded. Try again shortly."}, 429)
        return JSONResponse({"error": "Service temporarily unavailable"}, status)

    def snapshot(self) -> dict[str, Any]:
        return self.faults.snapshot()


class _Dropped(Response):
    """Commit, then drop the connection before the answer is complete."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"data": ', "more_body": True})
        raise ConnectionAbortedError("sandbox fault: connection dropped after commit")


def dropped_response() -> Response:
    return _Dropped()
