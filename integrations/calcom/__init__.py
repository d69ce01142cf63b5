"""Cal.com: booking webhooks (created, rescheduled, cancelled) and a backfill.

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.calcom import client, webhook
from integrations.calcom.schemas import Options
from integrations.connector import Source

SOURCE = Source(
    slug="calcom",
    verify=webhook.verify,  # reads the tenant's options (allow_unsigned)
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=Options,
    backfill=client.backfill,
)
