"""The one explicit registry: slug → connector module, kind → platform or portal class.

Adding a connector or a platform means writing its package and adding one line here.
``check_tenants`` validates everything the registry knows about a tenants file: source slugs,
platform kinds, their options, the brand templates and the portal (kind, options, credentials).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, ConfigProblem
from config.fixes import fix_for
from config.tenants import BrandConfig, PortalConfig, Tenants
from integrations.acuity import client as acuity_client
from integrations.acuity import webhook as acuity_webhook
from integrations.booking import BookingMessage
from integrations.branding import TEMPLATE_FIELDS, unknown_fields
from integrations.calcom import client as calcom_client
from integrations.calcom import webhook as calcom_webhook
from integrations.calendly import client as calendly_client
from integrations.calendly import webhook as calendly_webhook
from integrations.connector import Connector
from integrations.errors import ConfigurationError
from integrations.gatsby.client import GatsbyPlatform
from integrations.generic import webhook as generic_webhook
from integrations.gomry.client import GomryPlatform
from integrations.guestmedia.client import GuestMediaPlatform
from integrations.hubspot import client as hubspot_client
from integrations.hubspot import webhook as hubspot_webhook
from integrations.hubspot import workflow as hubspot_workflow
from integrations.hubspot.portal import HubSpotPortal
from integrations.pipedrive import client as pipedrive_client
from integrations.pipedrive import webhook as pipedrive_webhook
from integrations.pipedrive.portal import PipedrivePortal
from integrations.platform import PlatformFactory
from integrations.portal import PortalFactory
from integrations.portal_webhook.client import WebhookPortal
from integrations.ratelimit import check_limit
from integrations.square import client as square_client
from integrations.square import webhook as square_webhook

SOURCES: dict[str, Connector] = {
    "generic": generic_webhook,  # type: ignore[dict-item]
    "hubspot": hubspot_webhook,  # type: ignore[dict-item]
    "hubspot-workflow": hubspot_workflow,  # type: ignore[dict-item]
    "acuity": acuity_webhook,  # type: ignore[dict-item]
    "square": square_webhook,  # type: ignore[dict-item]
    "calendly": calendly_webhook,  # type: ignore[dict-item]
    "calcom": calcom_webhook,  # type: ignore[dict-item]
    "pipedrive": pipedrive_webhook,  # type: ignore[dict-item]
}

# slug -> backfill(context, *, since) -> Iterable[BookingMessage]  (see integrations.connector)
BACKFILLS: dict[str, Callable[..., Iterable[BookingMessage]]] = {
    "hubspot": hubspot_client.backfill,
    "acuity": acuity_client.backfill,
    "square": square_client.backfill,
    "calendly": calendly_client.backfill,
    "calcom": calcom_client.backfill,
    "pipedrive": pipedrive_client.backfill,
}

PLATFORMS: dict[str, PlatformFactory] = {
    "gomry": GomryPlatform,
    "gatsby": GatsbyPlatform,
    "guestmedia": GuestMediaPlatform,
}

# portal.kind -> where the album link / attendance goes when the event ends (docs/delivery.md)
PORTALS: dict[str, PortalFactory] = {
    "webhook": WebhookPortal,
    "hubspot": HubSpotPortal,
    "pipedrive": PipedrivePortal,
}


def connector(slug: str) -> Connector | None:
    return SOURCES.get(slug)


def check_tenants(tenants: Tenants) -> None:
    """Raise ConfigError listing every problem the registry can see in ``tenants``."""
    shown = str(tenants.path)
    problems: list[ConfigProblem] = []
    for tid, tenant in tenants.tenants.items():
        base = f"tenants.{tid}"
        factory = PLATFORMS.get(tenant.platform.kind)
        if factory is None:
            problems.append(
                ConfigProblem(
                    shown,
                    f"{base}.platform.kind",
                    f"unknown platform {tenant.platform.kind!r}",
                    f"use one of: {', '.join(sorted(PLATFORMS))}",
                )
            )
        else:
            problems += _options(
                shown, f"{base}.platform.options", factory, tenant.platform.options
            )
        limit = tenant.platform.rate_limit
        reason = check_limit(limit) if limit else None
        if reason:
            problems.append(
                ConfigProblem(
                    shown,
                    f"{base}.platform.rate_limit",
                    reason,
                    'write it like "60/10 seconds" or "100 per minute"',
                )
            )
        for slug, source in tenant.sources.items():
            module = SOURCES.get(slug)
            where = f"{base}.sources.{slug}"
            if module is None:
                problems.append(
                    ConfigProblem(
                        shown,
                        where,
                        f"unknown source {slug!r}",
                        f"use one of: {', '.join(sorted(SOURCES))}",
                    )
                )
                continue
            problems += _options(shown, f"{where}.options", module, source.options)
            check = getattr(module, "check_secret", None)
            for i, ref in enumerate(source.secrets):
                reason = check(ref.value.get_secret_value()) if check else None
                if reason:
                    problems.append(
                        ConfigProblem(
                            shown,
                            f"{where}.secrets.{i}",
                            f"{ref.describe()}: {reason}",
                            "generate a new secret in the right format",
                        )
                    )
        problems += _brand(shown, f"{base}.brand", tenant.brand)
        for client, override in tenant.clients.items():
            problems += _brand(shown, f"{base}.clients.{client}", override)
        if tenant.portal is not None:
            problems += _portal(shown, f"{base}.portal", tenant.portal)
    if problems:
        raise ConfigError(problems)


def _portal(shown: str, where: str, portal: PortalConfig) -> list[ConfigProblem]:
    """A known portal kind whose options validate and which can be built (url, credentials)."""
    factory = PORTALS.get(portal.kind)
    if factory is None:
        hint = f"use one of: {', '.join(sorted(PORTALS))}"
        return [ConfigProblem(shown, f"{where}.kind", f"unknown portal {portal.kind!r}", hint)]
    problems = _options(shown, f"{where}.options", factory, portal.options)
    if not problems:
        try:
            with httpx.Client() as http:
                factory(portal, http)
        except ConfigurationError as exc:
            problems.append(ConfigProblem(shown, where, str(exc), "see docs/delivery.md"))
    return problems


def _brand(shown: str, where: str, brand: BrandConfig) -> list[ConfigProblem]:
    """Every template in a brand (tenant or client override) uses known booking fields."""
    problems: list[ConfigProblem] = []
    for name in ("name_template", "description_template", "qr_text"):
        template = getattr(brand, name)
        unknown = unknown_fields(template) if template else []
        if unknown:
            problems.append(
                ConfigProblem(
                    shown,
                    f"{where}.{name}",
                    f"unknown booking field(s): {', '.join(unknown)}",
                    f"use only: {', '.join(sorted(TEMPLATE_FIELDS))}",
                )
            )
    return problems


def _options(shown: str, where: str, owner: Any, options: dict[str, Any]) -> list[ConfigProblem]:
    model: type[BaseModel] | None = getattr(owner, "Options", None)
    if model is None:
        return []
    try:
        model.model_validate(options)
    except ValidationError as exc:
        return [
            ConfigProblem(
                shown,
                ".".join([where, *(str(p) for p in err["loc"])]),
                "unknown option" if err["type"] == "extra_forbidden" else err["msg"],
                fix_for(err, known_fields=model.model_fields),
            )
            for err in exc.errors()
        ]
    return []
