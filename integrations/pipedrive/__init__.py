"""Pipedrive: deals that are won become bookings (webhooks v1 and v2), plus a backfill."""
