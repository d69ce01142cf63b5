"""Square Appointments: accepted bookings become bookings (thin webhooks, API look-ups).

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.connector import Source
from integrations.square import client, webhook
from integrations.square.schemas import SquareOptions

SOURCE = Source(
    slug="square",
    verify=webhook.verify,  # the signed URL is a tenant option
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=SquareOptions,
    check=webhook.check,
    backfill=client.backfill,
)
