"""Process settings, read once from the environment (prefix ``BOOKWIRE_``).

Every default is embedded: no broker URL means the embedded Valkey server under ``home``; no
database URL means SQLite (WAL) under ``home``. Tests build ``Settings`` explicitly.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a bookwire process needs to know about where things are."""

    model_config = SettingsConfigDict(env_prefix="BOOKWIRE_", extra="ignore")

    home: Path = Field(Path("var"), description="Data directory for embedded defaults.")
    broker_url: str | None = Field(None, description="Redis URL; unset = embedded Valkey.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; unset = SQLite.")
    tenants_file: Path | None = Field(None, description="Tenants TOML; unset = demo tenants.")
    secrets_file: Path | None = Field(None, description="KEY=VALUE file for secret refs.")
    public_base_url: str = Field("http://127.0.0.1:8000", description="Ingress as vendors see it.")
    ingress_host: str = "127.0.0.1"
    ingress_port: int = 8000
    flower_host: str = "127.0.0.1"
    flower_port: int = 5555
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 8700
    worker_concurrency: int = Field(8, ge=1, description="Threads per worker process.")
    platform_concurrency: int = Field(
        16, ge=1, description="Platform calls in flight per worker process within batches."
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
    log_level: str = "INFO"
    worker_metrics_port: int | None = Field(
        None, description="Port of each worker's own /metrics server; unset = off."
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
