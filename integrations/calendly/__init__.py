"""Calendly (API v2): ``invitee.created`` / ``invitee.canceled`` webhooks and a backfill.

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.calendly import client, webhook
from integrations.calendly.schemas import Options
from integrations.connector import Source

SOURCE = Source(
    slug="calendly",
    verify=webhook.verify,
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=Options,
    # Calendly disables a subscription that keeps failing for 24 hours: a quarantined
    # delivery (stored, replayable after a fix) is acknowledged 202 rather than answered 422,
    # so one bad booking cannot switch off the tenant's whole feed.
    quarantine_status=202,
    backfill=client.backfill,
    subscriptions=client.subscriptions,
)
