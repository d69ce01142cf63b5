"""HubSpot: deals reaching a booked stage become bookings (thin webhooks, API look-ups).

The connector's record (``SOURCE``) is declared here, where its webhook and its client meet.
"""

from __future__ import annotations

from integrations.connector import Source
from integrations.hubspot import client, webhook, workflow
from integrations.hubspot.schemas import HubSpotOptions, HubSpotWorkflowOptions

SOURCE = Source(
    slug="hubspot",
    verify=webhook.verify,
    parse=webhook.parse,
    delivery_id=webhook.delivery_id,
    options=HubSpotOptions,
    check=webhook.check,
    backfill=client.backfill,
)

# a workflow's "Send a webhook" action: complete records, parsed at the ingress
WORKFLOW_SOURCE = Source(
    slug="hubspot-workflow",
    verify=workflow.verify,  # the tenant's options say how the action authenticates
    parse=workflow.parse,
    delivery_id=workflow.delivery_id,
    options=HubSpotWorkflowOptions,
)
