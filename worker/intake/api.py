"""The Python API for agencies whose systems would rather talk to the queue than to HTTP.

Same path as the ingress, minus the signature (the caller is in-process and trusted):
validate, record, publish.

    from worker.api import publish_booking
    receipt = publish_booking(runtime, tenant="acme", booking=json_bytes)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from integrations import registry
from integrations.connector import WebhookRequest
from worker.intake import record as intake
from worker.runtime import Runtime


def publish_booking(
    rt: Runtime, *, tenant: str, booking: bytes | dict[str, Any], delivery_id: str | None = None
) -> intake.Receipt:
    """Record and publish one booking in the generic shape; raises LookupError for an unknown
    tenant or a tenant without the generic source."""
    if rt.tenant(tenant) is None:
        raise LookupError(f"unknown tenant {tenant!r}")
    if "generic" not in rt.tenants.tenants[tenant].sources:
        raise LookupError(f"tenant {tenant!r} has no generic source configured")
    body = booking if isinstance(booking, bytes) else json.dumps(booking).encode()
    headers = {"content-type": "application/json"}
    if delivery_id:
        headers["webhook-id"] = delivery_id
    connector = registry.SOURCES["generic"]
    return intake.receive(
        rt,
        tenant=tenant,
        source="generic",
        request=WebhookRequest("POST", "api:publish", headers, body),
        connector=connector,
        options=rt.source_options(tenant, "generic"),
        now=datetime.now(UTC),
    )
