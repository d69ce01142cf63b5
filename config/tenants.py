"""The tenants file (TOML): per tenant its sources, platform, brand and portal.

Secrets are never written inline: a secret field holds a reference, ``{ env = "NAME" }`` (read
from the environment, then from the secrets file) or ``{ file = "/run/secrets/name" }``.
Loading resolves every reference and reports each problem with the file, the field and the fix.

Example::

    [tenants.acme]
    display_name = "Acme Photo Booths"

    [tenants.acme.platform]
    kind = "gomry"
    base_url = "http://127.0.0.1:8700/api/v1"
    credentials = { api_key = { env = "ACME_GOMRY_KEY" } }

    [tenants.acme.sources.generic]
    secrets = [{ env = "ACME_WEBHOOK_SECRET" }]

    [tenants.acme.brand]
    name_template = "{customer.name} – {title}"

    [tenants.acme.clients.bigco]          # bookings whose ``client`` is "bigco"
    logo_url = "https://cdn.example.com/bigco.png"
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from config.errors import ConfigProblem, SettingsError
from config.fixes import fix_for, invalid
from config.urls import http_url

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class SecretRef(_Strict):
    """Where a secret lives: an environment variable (or secrets-file key) or a file."""

    env: str | None = None
    file: Path | None = None
    _value: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError('give exactly one of env = "NAME" or file = "/path"')
        return self

    @property
    def value(self) -> SecretStr:
        if self._value is None:
            raise RuntimeError("secret reference used before the tenants file was resolved")
        return self._value

    def describe(self) -> str:
        return f"env {self.env}" if self.env else f"file {self.file}"


class SourceConfig(_Strict):
    """One webhook source (connector) a tenant receives bookings from."""

    secrets: list[SecretRef] = Field(default_factory=list)
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    expect_delivery_within: str | None = Field(
        None,
        description='Longest silence that is normal, e.g. "6h" or "2d"; none = no expectation '
        "(see docs/backfill.md, source health).",
    )

    @field_validator("expect_delivery_within")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and duration_seconds(value) is None:
            raise invalid("not a duration", 'write it like "30m", "6h" or "2d" (more than 0)')
        return value

    @property
    def expected_silence_seconds(self) -> float | None:
        """``expect_delivery_within`` in seconds (None: no expectation)."""
        within = self.expect_delivery_within
        return duration_seconds(within) if within else None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float | None:
    """``30m``, ``6h``, ``2d`` … in seconds; None when it is not such a (positive) duration."""
    match = _DURATION.match(text)
    if match is None or float(match[1]) <= 0:
        return None
    return float(match[1]) * _SECONDS[match[2]]


class PlatformConfig(_Strict):
    """The event platform a tenant's bookings become events on."""

    kind: str
    base_url: str
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    rate_limit: str | None = Field(
        None, description='Shared limit in `limits` syntax, e.g. "60/10 seconds"; none = off.'
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value, fix="write it like https://api.example.com/v1").rstrip("/")


class BrandConfig(_Strict):
    """How a tenant's events look: templates over booking fields, logo, colours, domain."""

    name_template: str = "{title}"
    description_template: str | None = None
    logo_url: str | None = None
    primary_color: str | None = None
    secondary_color: str | None = None
    domain: str | None = None
    qr_text: str | None = None

    @field_validator("name_template", "description_template", "qr_text")
    @classmethod
    def _template_syntax(cls, value: str | None) -> str | None:
        if value is not None:
            template_fields(value)
        return value

    @field_validator("primary_color", "secondary_color")
    @classmethod
    def _hex_color(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
            raise invalid("not a #rrggbb colour", 'six hex digits after #, e.g. "#1d3557"')
        return value

    @field_validator("logo_url")
    @classmethod
    def _logo_url(cls, value: str | None) -> str | None:
        fix = "write it like https://cdn.example.com/logo.png"
        return http_url(value, fix=fix) if value is not None else None

    @field_validator("domain")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        label = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
        if value is not None and not re.fullmatch(rf"(?:{label}\.)+{label}", value.lower()):
            raise invalid("not a host name", "a host name without scheme, e.g. photos.example.com")
        return value.lower() if value else value


class BrandOverride(BrandConfig):
    """A client's brand (``[tenants.x.clients.<client>]``): set fields win over the tenant's."""

    name_template: str | None = None  # type: ignore[assignment]


class PortalConfig(_Strict):
    """Where the album link (or attendance) goes once the event has ended (docs/handoff.md).

    ``kind`` is a portal slug (``webhook``, ``hubspot``, ``pipedrive``); ``url`` is the portal
    webhook's endpoint; ``grace_minutes`` is how long after the event's end it is delivered
    (uploads settle), unset = ``BOOKWIRE_PORTAL_GRACE_MINUTES``.
    """

    kind: str
    url: str | None = None
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    grace_minutes: int | None = Field(None, ge=0, le=7 * 24 * 60)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        fix = "write it like https://portal.example.com/hooks"
        return http_url(value, fix=fix) if value is not None else None


class Tenant(_Strict):
    """One client of bookwire (an agency or studio)."""

    id: str = ""
    display_name: str | None = None
    platform: PlatformConfig
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    brand: BrandConfig = Field(default_factory=BrandConfig)
    clients: dict[str, BrandOverride] = Field(
        default_factory=dict, description="Brand overrides by BookingMessage.client."
    )
    portal: PortalConfig | None = None

    def brand_for(self, client: str | None) -> BrandConfig:
        """The tenant's brand with the booking's client overrides merged over it."""
        override = self.clients.get(client) if client else None
        if override is None:
            return self.brand
        merged = {**self.brand.model_dump(), **override.model_dump(exclude_none=True)}
        return BrandConfig.model_validate(merged)


class Tenants(_Strict):
    """The whole tenants file."""

    tenants: dict[str, Tenant] = Field(default_factory=dict)
    _path: Path = PrivateAttr(Path("tenants.toml"))

    @property
    def path(self) -> Path:
        return self._path

    def get(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)


def template_fields(template: str) -> list[str]:
    """The placeholder names of a ``str.format`` template; raises ValueError on bad syntax."""
    names: list[str] = []
    for _literal, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if not field:
            raise ValueError("positional {} placeholders are not allowed; name a booking field")
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} may not carry a format spec or conversion")
        names.append(field)
    return names


def load_tenants(
    path: Path,
    *,
    environ: Mapping[str, str] | None = None,
    secrets_file: Path | None = None,
) -> Tenants:
    """Read, validate and resolve the tenants file, or raise SettingsError listing every problem."""
    shown = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError.single(
            shown, "(file)", "file not found", "create it or set BOOKWIRE_TENANTS_FILE"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError.single(
            shown,
            "(syntax)",
            str(exc),
            'fix the TOML there: text in "quotes", tables as [tenants.<id>], one key = value',
        ) from None
    try:
        tenants = Tenants.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError([_problem(shown, err) for err in exc.errors()]) from None
    tenants._path = path
    problems = [*_check_ids(shown, tenants)]
    secrets = _read_secrets_file(secrets_file, problems)
    env = os.environ if environ is None else environ
    for field, ref in _secret_refs(tenants):
        problem = _resolve(ref, env, secrets)
        if problem:
            problems.append(ConfigProblem(shown, field, *problem))
    if problems:
        raise SettingsError(problems)
    return tenants


def _check_ids(shown: str, tenants: Tenants) -> Iterator[ConfigProblem]:
    for tenant_id, tenant in tenants.tenants.items():
        if not SLUG.match(tenant_id):
            yield ConfigProblem(
                shown,
                f"tenants.{tenant_id}",
                "tenant ids appear in webhook URLs and must be slugs",
                "use lower-case letters, digits, - and _",
            )
        tenant.id = tenant_id


def _problem(shown: str, err: Any) -> ConfigProblem:
    field = ".".join(str(part) for part in err["loc"]) or "(root)"
    problem = {"extra_forbidden": "unknown field", "missing": "required field is missing"}.get(
        err["type"], str(err["msg"]).removeprefix("Value error, ")
    )
    return ConfigProblem(shown, field, problem, fix_for(err, known_fields=_known_fields()))


def _known_fields() -> set[str]:
    models: list[type[BaseModel]] = [
        SecretRef,
        SourceConfig,
        PlatformConfig,
        BrandConfig,
        PortalConfig,
        Tenant,
        Tenants,
    ]
    return {name for model in models for name in model.model_fields}


def _secret_refs(tenants: Tenants) -> Iterator[tuple[str, SecretRef]]:
    for tid, tenant in tenants.tenants.items():
        base = f"tenants.{tid}"
        for name, ref in tenant.platform.credentials.items():
            yield f"{base}.platform.credentials.{name}", ref
        for slug, source in tenant.sources.items():
            for i, ref in enumerate(source.secrets):
                yield f"{base}.sources.{slug}.secrets.{i}", ref
            for name, ref in source.credentials.items():
                yield f"{base}.sources.{slug}.credentials.{name}", ref
        if tenant.portal:
            for name, ref in tenant.portal.credentials.items():
                yield f"{base}.portal.credentials.{name}", ref


def _read_secrets_file(path: Path | None, problems: list[ConfigProblem]) -> dict[str, str]:
    """The secrets file with dotenv semantics (quotes, ``export``, comments, escapes), as
    python-dotenv reads it: ``KEY="v"`` is ``v``, not ``"v"``. No ``${VAR}`` expansion: a
    secret is taken as written."""
    if path is None:
        return {}
    if not path.exists():
        problems.append(
            ConfigProblem(
                str(path),
                "(file)",
                "secrets file not found",
                "create it (KEY=value lines) or correct BOOKWIRE_SECRETS_FILE",
            )
        )
        return {}
    values: dict[str, str] = {}
    for key, value in dotenv_values(path, encoding="utf-8", interpolate=False).items():
        if value is None:
            problems.append(
                ConfigProblem(str(path), key, "line has no value", f"write {key}=value")
            )
            continue
        values[key] = value
    return values


def _resolve(
    ref: SecretRef, env: Mapping[str, str], secrets: Mapping[str, str]
) -> tuple[str, str] | None:
    if ref.env is not None:
        value = env.get(ref.env) or secrets.get(ref.env)
        if value is None:
            return (
                f"environment variable {ref.env} is not set",
                f"export {ref.env}=... or add it to the secrets file (BOOKWIRE_SECRETS_FILE)",
            )
    else:
        assert ref.file is not None
        try:
            value = ref.file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            return (f"secret file {ref.file} cannot be read ({exc.strerror})", "create the file")
    if not value:
        return (f"secret {ref.describe()} is empty", "an empty secret never means 'skip'; set one")
    ref._value = SecretStr(value)
    return None
