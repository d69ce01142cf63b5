"""The ``generic`` source: "your own app" posts bookings in bookwire's own shape.

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.connector import Source
from integrations.generic import webhook

SOURCE = Source(
    slug="generic",
    verify=webhook.verify,
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    check_secret=webhook.check_secret,
)
