"""Check a tenants file against what the registry knows: source slugs and their options and
secrets, platform kinds and their options and rate limits, the brand templates and the portal
(kind, options, credentials). Every problem is reported at once, with where and how to fix it.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from config.errors import ConfigProblem, SettingsError
from config.fixes import fix_for
from config.tenants import BrandConfig, PortalConfig, Tenants
from integrations.branding import TEMPLATE_FIELDS, unknown_fields
from integrations.errors import ConfigurationError
from integrations.ratelimit import check_limit
from integrations.registry import PLATFORMS, PORTALS, SOURCES


def check_tenants(tenants: Tenants) -> None:
    """Raise SettingsError listing every problem the registry can see in ``tenants``."""
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
                shown, f"{base}.platform.options", factory.Options, tenant.platform.options
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
            connector = SOURCES.get(slug)
            where = f"{base}.sources.{slug}"
            if connector is None:
                problems.append(
                    ConfigProblem(
                        shown,
                        where,
                        f"unknown source {slug!r}",
                        f"use one of: {', '.join(sorted(SOURCES))}",
                    )
                )
                continue
            problems += _options(shown, f"{where}.options", connector.options, source.options)
            check = connector.check_secret
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
        raise SettingsError(problems)


def _portal(shown: str, where: str, portal: PortalConfig) -> list[ConfigProblem]:
    """A known portal kind whose options validate and which can be built (url, credentials)."""
    factory = PORTALS.get(portal.kind)
    if factory is None:
        hint = f"use one of: {', '.join(sorted(PORTALS))}"
        return [ConfigProblem(shown, f"{where}.kind", f"unknown portal {portal.kind!r}", hint)]
    problems = _options(shown, f"{where}.options", factory.Options, portal.options)
    if not problems:
        try:
            with httpx.Client() as http:
                factory(portal, http)
        except ConfigurationError as exc:
            problems.append(ConfigProblem(shown, where, str(exc), "see docs/handoff.md"))
    return problems


def _brand(shown: str, where: str, brand: BrandConfig) -> list[ConfigProblem]:
    """Every template in a brand (tenant or client override) uses known booking fields."""
    problems: list[ConfigProblem] = []
    templates = {
        "name_template": brand.name_template,
        "description_template": brand.description_template,
        "qr_text": brand.qr_text,
    }
    for name, template in templates.items():
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


def _options(
    shown: str, where: str, model: type[BaseModel], options: dict[str, Any]
) -> list[ConfigProblem]:
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
