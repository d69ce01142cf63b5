"""The intake wing: every way a booking comes in (webhooks, deferred parses, backfill, API)."""
