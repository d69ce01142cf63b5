"""The one explicit registry: slug → connector module, kind → platform class.

Adding a connector or a platform means writing its package and adding one line here.
``check_tenants`` validates everything the registry knows about a tenants file: source slugs,
platform kinds, their options and the brand templates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, ConfigProblem
from config.tenants import Tenants
from integrations.booking import BookingMessage
from integrations.branding import TEMPLATE_FIELDS, unknown_fields
from integrations.connector import Connector
from integrations.generic import webhook as generic_webhook
from integrations.gomry.client import GomryPlatform
from integrations.platform import PlatformFactory

SOURCES: dict[str, Connector] = {
    "generic": generic_webhook,  # type: ignore[dict-item]
}

# slug -> backfill(context, *, since) -> Iterable[BookingMessage]  (see integrations.connector)
BACKFILLS: dict[str, Callable[..., Iterable[BookingMessage]]] = {}

PLATFORMS: dict[str, PlatformFactory] = {
    "gomry": GomryPlatform,
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
        for name in ("name_template", "description_template"):
            template = getattr(tenant.brand, name)
            unknown = unknown_fields(template) if template else []
            if unknown:
                problems.append(
                    ConfigProblem(
                        shown,
                        f"{base}.brand.{name}",
                        f"unknown booking field(s): {', '.join(unknown)}",
                        f"use only: {', '.join(sorted(TEMPLATE_FIELDS))}",
                    )
                )
    if problems:
        raise ConfigError(problems)


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
                f"{where}.{'.'.join(str(p) for p in err['loc'])}",
                "unknown option" if err["type"] == "extra_forbidden" else err["msg"],
                "see the configuration reference in README",
            )
            for err in exc.errors()
        ]
    return []
