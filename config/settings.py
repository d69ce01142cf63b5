"""Process settings, read once from the environment (prefix ``BOOKWIRE_``).

Every default is embedded: no broker URL means the embedded Valkey server under ``home``; no
database URL means SQLite (WAL) under ``home``. Values come from the environment, then from
``.env`` in the working directory. Commands load them with ``load_settings()``, which turns
every bad value into a ``SettingsError`` naming the variable and the fix (exit code 2, no
traceback). Tests build ``Settings`` explicitly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from limits import parse as parse_limit
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.errors import ConfigProblem, SettingsError
from config.fixes import LOG_LEVELS, did_you_mean, fix_for, invalid
from config.urls import http_url

ENV_FILE = ".env"
PREFIX = "BOOKWIRE_"
_STANDARD_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{32,88}={0,2}")


class Settings(BaseSettings):
    """Everything a bookwire process needs to know about where things are."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=ENV_FILE, extra="ignore")

    home: Path = Field(Path("var"), description="Data directory for embedded defaults.")
    broker_url: str | None = Field(None, description="Redis URL; unset = embedded Valkey.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset = SQLite.")
    tenants_file: Path | None = Field(None, description="Tenants TOML; unset = demo tenants.")
    secrets_file: Path | None = Field(None, description="KEY=VALUE file for secret refs.")
    config_watch_interval: float = Field(
        1.0,
        ge=0,
        description="Seconds between checks of the tenants and secrets files for changes "
        "(applied without a restart once they validate); 0 = no polling (the ingress reloads "
        "on SIGHUP, a worker when it meets a tenant it does not know).",
    )
    public_base_url: str = Field("http://127.0.0.1:8000", description="Ingress as vendors see it.")
    ingress_host: str = "127.0.0.1"
    ingress_port: int = Field(8000, ge=1, le=65535)
    ingress_body_timeout: float = Field(
        10.0, gt=0, description="Seconds a client may take to send a whole body; past it 408."
    )
    ingress_rate_limit: str | None = Field(
        "10000/10 seconds",
        description="Verified deliveries per tenant and source, per ingress process, in `limits` "
        "syntax (past it 429 with Retry-After); off = no limit.",
    )
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(
        9000, ge=1, le=65535, description="The ingress's ops listener: /metrics, /healthz, /readyz."
    )
    flower_host: str = "127.0.0.1"
    flower_port: int = Field(5555, ge=1, le=65535)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(8700, ge=1, le=65535)
    worker_concurrency: int = Field(8, ge=1, description="Threads per worker process.")
    platform_concurrency: int = Field(
        16, ge=1, description="Platform calls in flight per worker process within batches."
    )
    fair_share: int = Field(
        50,
        ge=0,
        description="Bookings a tenant publishes in about 10 s before its further ones queue "
        "behind other tenants' (0: off).",
    )
    visibility_timeout: int = Field(3600, ge=60, description="Seconds before Redis redelivers.")
    relay_after: float = Field(60.0, gt=0, description="Seconds a booking may wait in the queue.")
    relay_interval: float = Field(10.0, gt=0, description="Seconds between relay sweeps.")
    booking_lock_seconds: float = Field(60.0, gt=0, description="Per-booking lock lifetime.")
    http_timeout: float = Field(10.0, gt=0, description="Seconds for one outbound call.")
    max_retries: int = Field(8, ge=0, description="Retries of a transient failure.")
    poison_after: int = Field(
        5, ge=1, description="Unfinished starts (worker died each time) before dead-lettering."
    )
    retry_backoff_max: int = Field(300, ge=1, description="Longest retry delay in seconds.")
    log_json: bool = Field(False, description="One JSON object per log line (ids, no content).")
    log_level: str = Field("INFO", description="debug, info, warning or error.")
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Port of each worker's own /metrics server; unset = off."
    )
    worker_metrics_host: str = "127.0.0.1"
    overdue_after_minutes: float = Field(
        30.0, gt=0, description="A booking with no event this long after receipt is overdue."
    )
    outcome_check_interval: float = Field(60.0, gt=0, description="Seconds between checks.")
    portal_grace_minutes: int = Field(
        60, ge=0, description="Minutes after an event's end before its portal delivery is due."
    )
    portal_sweep_interval: float = Field(60.0, gt=0, description="Seconds between due sweeps.")
    portal_lookback_hours: float = Field(
        72.0, gt=0, description="Events that ended longer ago are never delivered (catch-up)."
    )
    reconcile_interval: float = Field(
        3600.0, gt=0, description="Seconds between reconcile sweeps (platform against bookings)."
    )
    reconcile_lookback_hours: float = Field(
        24.0, gt=0, description="The sweep checks events that ended this recently or later."
    )
    reconcile_repair: bool = Field(
        False, description="The sweep repairs the drift it finds (else it only reports it)."
    )
    source_health_interval: float = Field(
        900.0, gt=0, description="Seconds between source health checks (silence, subscriptions)."
    )
    source_backfill_margin: float = Field(
        3600.0,
        ge=0,
        description="A silent source's gap is backfilled from its last delivery minus this many "
        "seconds (deliveries the vendor sent just before going quiet may be lost too).",
    )
    retention_days: int = Field(
        90,
        ge=1,
        description="Days after a booking's event ends before its personal data and raw "
        "deliveries are purged (docs/operations.md, Personal data).",
    )
    retention_interval: float = Field(3600.0, gt=0, description="Seconds between retention purges.")
    alert_url: str | None = Field(
        None, description="Alert sink URL (docs/operations.md, Alerts); unset = no alerts pushed."
    )
    alert_format: Literal["slack", "webhook"] = Field(
        "slack", description='slack ({"text": ...}) or webhook (signed, Standard Webhooks).'
    )
    alert_secret: SecretStr | None = Field(
        None, validate_default=True, description="whsec_ secret signing the webhook format."
    )
    alert_interval: float = Field(60.0, gt=0, description="Seconds between alert runs.")
    alert_rate_limit: int = Field(
        10, ge=1, description="Messages to the sink per alert_rate_window at most (more fold)."
    )
    alert_rate_window: float = Field(3600.0, gt=0, description="Seconds the rate limit spans.")
    alert_handoff_after_hours: float = Field(
        6.0, gt=0, description="A hand-off still not done this long after due is alerted."
    )

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in LOG_LEVELS:
            guess = did_you_mean(value, LOG_LEVELS)
            hint = f"did you mean {guess}? " if guess else ""
            raise invalid(f"unknown log level {value!r}", f"{hint}one of {', '.join(LOG_LEVELS)}")
        return value.upper()

    @field_validator("ingress_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() in ("", "off"):
            return None
        try:
            parse_limit(value)
        except ValueError:
            raise invalid(
                f"not a rate limit: {value!r}",
                'deliveries per time in `limits` syntax, e.g. "1000/10 seconds" or "50/second", '
                "or off",
            ) from None
        return value

    @field_validator("ops_port")
    @classmethod
    def _ops_port(cls, value: int, info: ValidationInfo) -> int:
        if value == info.data.get("ingress_port"):
            raise invalid(
                f"{value} is BOOKWIRE_INGRESS_PORT too",
                "another free port for the ops listener, which serves /metrics (default 9000)",
            )
        return value

    @field_validator("public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        fix = "the ingress as vendors reach it, e.g. https://hooks.example.com"
        return http_url(value, fix=fix).rstrip("/")

    @field_validator("alert_url")
    @classmethod
    def _alert_url(cls, value: str | None) -> str | None:
        fix = "the sink's incoming-webhook URL, e.g. https://hooks.slack.com/services/..."
        return None if value is None else http_url(value, fix=fix)

    @field_validator("alert_secret")
    @classmethod
    def _alert_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("alert_format") != "webhook" or not info.data.get("alert_url"):
            return value
        if value is None:
            raise invalid(
                "the webhook alert format signs every alert and no secret is set",
                "set BOOKWIRE_ALERT_SECRET to a Standard Webhooks secret (whsec_ and base64), "
                "or BOOKWIRE_ALERT_FORMAT=slack",
            )
        if not _STANDARD_SECRET.fullmatch(value.get_secret_value()):
            raise invalid(
                "not a Standard Webhooks secret",
                "whsec_ followed by the base64 of 24-64 random bytes, e.g. "
                "whsec_$(openssl rand -base64 32)",
            )
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        schemes = ("redis", "rediss", "unix", "redis+socket")
        if value is not None and not _has_host(value, schemes):
            raise invalid(
                "not a Redis URL",
                "redis://host:6379/0 (rediss:// for TLS), or unset it for the embedded broker",
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        schemes = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
        scheme, sep, rest = (value or "").partition("://")
        if value is not None and (scheme not in schemes or not sep or not rest):
            raise invalid(
                "not a database URL bookwire can use",
                "postgresql://user:password@host:5432/bookwire, sqlite:///path/to/bookwire.db, "
                "or unset it for SQLite under BOOKWIRE_HOME",
            )
        return value

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url is None

    @property
    def valkey_dir(self) -> Path:
        return self.home.resolve() / "valkey"

    @property
    def valkey_socket(self) -> Path:
        return self.valkey_dir / "valkey.sock"

    @property
    def resolved_broker_url(self) -> str:
        """The broker URL Celery and kombu understand."""
        if self.broker_url:
            return self.broker_url
        return f"redis+socket://{self.valkey_socket}"

    @property
    def resolved_redis_url(self) -> str:
        """The same server as a redis-py URL (locks, rate limits, replay detection)."""
        if self.broker_url:
            return self.broker_url
        return f"unix://{self.valkey_socket}"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.resolve() / 'bookwire.db'}"

    @property
    def resolved_tenants_file(self) -> Path:
        return self.tenants_file or self.home / "demo" / "tenants.toml"

    @property
    def resolved_secrets_file(self) -> Path | None:
        if self.secrets_file:
            return self.secrets_file
        if self.tenants_file is None:
            return self.home / "demo" / "secrets.env"
        return None


def _has_host(url: str, schemes: tuple[str, ...]) -> bool:
    scheme, sep, rest = url.partition("://")
    return bool(sep) and scheme.lower() in schemes and bool(rest.strip("/")) and " " not in url


def load_settings(**values: Any) -> Settings:
    """The process's settings from the environment and ``.env``, or a ``SettingsError`` with one
    problem per bad variable: where it was set, what is wrong, and the fix. URLs are never
    echoed (one may carry a password)."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        dotenv = {k.upper() for k in dotenv_values(ENV_FILE)} if Path(ENV_FILE).exists() else set()
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            variable = PREFIX + field.upper()
            where = ENV_FILE if variable in dotenv and variable not in os.environ else "environment"
            problem = err["msg"].removeprefix("Value error, ")
            problems.append(ConfigProblem(where, variable, problem, fix_for(err)))
        raise SettingsError(problems) from None
