"""Prometheus metrics. Labels are slugs and outcomes only: never names, emails or secrets."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "bookwire_webhooks_total",
    "Webhook deliveries by source, tenant and result.",
    ["source", "tenant", "result"],
)
INGEST_SECONDS = Histogram(
    "bookwire_ingest_seconds",
    "Time to verify, record and publish one webhook.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
