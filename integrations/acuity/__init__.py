"""Acuity Scheduling: appointments become bookings (thin form webhooks, API look-ups).

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.acuity import client, webhook
from integrations.acuity.schemas import AcuityOptions
from integrations.connector import Source

SOURCE = Source(
    slug="acuity",
    verify=webhook.verify,
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=AcuityOptions,
    check=webhook.check,
    backfill=client.backfill,
    observed_updated_at=True,  # updated_at is when bookwire read the appointment (Acuity has none)
)
