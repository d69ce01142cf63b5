"""``Idempotency-Key`` on POST creates, as Gomry documents it (guest media follows the same rule).

The first request runs; for 24 h (on the platform's clock, which ``clock_offset_s`` moves) a
repeat with the same key replays the original status and body verbatim plus
``Idempotent-Replay: true``; a repeat while the first still runs gets 409
``idempotent_request_in_progress``. Keys are scoped per platform and per API key. 5xx answers are
not remembered. A create that commits may then drop the connection (``drop_rate``).

With the fault knob ``key_reuse = "refuse"`` the platform behaves as Stripe and the IETF
Idempotency-Key draft do instead: a repeat whose body differs from the first is refused with 422
``idempotency_key_reused`` (a repeat with the same body still replays).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from sandbox.platform import Platform, dropped_response

WINDOW_S = 24 * 3600
SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_idempotency_keys (
    scope TEXT, api_key TEXT, key TEXT, state TEXT, status INTEGER, body BLOB, created_at REAL,
    fingerprint TEXT, PRIMARY KEY (scope, api_key, key));
"""

Run = Callable[[], Awaitable[tuple[int, dict[str, Any]]]]


async def idempotent(
    platform: Platform,
    *,
    scope: str,
    api_key: str,
    key: str | None,
    run: Run,
    in_progress: Callable[[], Response],
    reused: Callable[[], Response],
    request_body: bytes = b"",
    created: int = 201,
) -> Response:
    """Run ``run`` once per key; replay or refuse repeats; maybe drop after a commit."""
    db = platform.db
    fingerprint = _fingerprint(request_body)
    where = "scope=? AND api_key=? AND key=?"
    ids = (scope, api_key, key)
    if key:
        stored = db.execute(
            f"SELECT state, status, body, created_at, fingerprint FROM sandbox_idempotency_keys WHERE {where}",  # noqa: S608, E501
            ids,
        ).fetchone()
        if stored and platform.faults.now() - stored[3] > WINDOW_S:
            db.execute(f"DELETE FROM sandbox_idempotency_keys WHERE {where}", ids)  # noqa: S608
            stored = None
        if stored and stored[0] == "in_progress":
            return in_progress()
        if stored and platform.faults.key_reuse == "refuse" and stored[4] != fingerprint:
            platform.faults.count("idempotency_key_reused")
            return reused()
        if stored:
            platform.faults.count("idempotent_replays")
            return Response(
                stored[2],
                status_code=stored[1],
                media_type="application/json",
                headers={"Idempotent-Replay": "true"},
            )
        db.execute(
            "INSERT INTO sandbox_idempotency_keys(scope, api_key, key, state, created_at, "
            "fingerprint) VALUES (?, ?, ?, 'in_progress', ?, ?)",
            (*ids, platform.faults.now(), fingerprint),
        )
    try:
        await platform.faults.delay()
        status, payload = await run()
    except BaseException:
        if key:
            db.execute(f"DELETE FROM sandbox_idempotency_keys WHERE {where}", ids)  # noqa: S608
        raise
    body = json.dumps(payload).encode()
    if key:
        if status < 500:
            db.execute(
                f"UPDATE sandbox_idempotency_keys SET state='done', status=?, body=? WHERE {where}",  # noqa: S608
                (status, body, *ids),
            )
        else:
            db.execute(f"DELETE FROM sandbox_idempotency_keys WHERE {where}", ids)  # noqa: S608
    db.commit()
    if status == created and platform.faults.should_drop():
        return dropped_response()
    return Response(body, status_code=status, media_type="application/json")


def _fingerprint(body: bytes) -> str:
    """The same request, whatever its key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()
