"""Pipedrive: deals that are won become bookings (webhooks v1 and v2), plus a backfill.

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.connector import Source
from integrations.pipedrive import client, webhook
from integrations.pipedrive.schemas import Options

SOURCE = Source(
    slug="pipedrive",
    verify=webhook.verify,
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=Options,
    check=webhook.check,
    # Pipedrive suspends a webhook after repeated failed first attempts: a quarantined
    # delivery (stored, replayable after a fix) is acknowledged 202 rather than answered 422,
    # so one bad booking cannot switch off the tenant's whole feed.
    quarantine_status=202,
    backfill=client.backfill,
    check_secret=webhook.check_secret,
    subscriptions=client.subscriptions,
)
