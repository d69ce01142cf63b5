"""The one explicit registry: slug → connector (``Source``), kind → platform or portal class.

Adding a connector means writing its package (its ``__init__.py`` declares ``SOURCE``) and
adding one line here; a platform or portal likewise. What a tenants file may say about these
is checked in ``integrations.tenants_check``.
"""

from __future__ import annotations

from integrations import acuity, calcom, calendly, generic, hubspot, pipedrive, square
from integrations.connector import Source
from integrations.gatsby.client import GatsbyPlatform
from integrations.gomry.client import GomryPlatform
from integrations.guestmedia.client import GuestMediaPlatform
from integrations.hubspot.portal import HubSpotPortal
from integrations.pipedrive.portal import PipedrivePortal
from integrations.platform import PlatformFactory
from integrations.portal import PortalFactory
from integrations.portal_webhook.client import WebhookPortal

SOURCES: dict[str, Source] = {
    source.slug: source
    for source in (
        generic.SOURCE,
        hubspot.SOURCE,
        hubspot.WORKFLOW_SOURCE,
        acuity.SOURCE,
        square.SOURCE,
        calendly.SOURCE,
        calcom.SOURCE,
        pipedrive.SOURCE,
    )
}

PLATFORMS: dict[str, PlatformFactory] = {
    "gomry": GomryPlatform,
    "gatsby": GatsbyPlatform,
    "guestmedia": GuestMediaPlatform,
}

# portal.kind -> where the album link / attendance goes when the event ends (docs/handoff.md)
PORTALS: dict[str, PortalFactory] = {
    "webhook": WebhookPortal,
    "hubspot": HubSpotPortal,
    "pipedrive": PipedrivePortal,
}


def connector(slug: str) -> Source | None:
    return SOURCES.get(slug)


def backfills() -> list[str]:
    """The slugs of sources whose vendor has a list API (``bookwire backfill``)."""
    return sorted(slug for slug, source in SOURCES.items() if source.backfill is not None)
