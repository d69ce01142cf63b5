"""Everything a process shares: settings, tenants, store, Redis, HTTP and platform clients.

Built once per process from explicit ``Settings`` (tests) or the environment (``current()``).

The tenants file (with the secrets file) is held as one ``TenantConfig``: the tenants and what
is built from them (connector options, platform clients). ``reload()`` reads and checks the
files again, as at start, and swaps the whole ``TenantConfig`` in one assignment: every later
look-up sees the new tenants and none of the old clients, while a request that already holds
the old one finishes on it (``worker.process.reload`` watches the files and calls it).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import redis
from celery import Celery

from config.settings import Settings
from config.tenants import Tenant, Tenants, load_tenants
from config.watch import fingerprint, secret_files
from integrations import registry
from integrations.connector import ParseContext
from integrations.platform import Platform, PlatformContext
from integrations.tenants_check import check_tenants
from worker.store import Store


@dataclass(frozen=True)
class TenantConfig:
    """One generation of the tenants and secrets files, checked, with what is built from it.

    ``fingerprint`` is the hash of the files it was read from (``config.watch``); None when the
    tenants were given by the caller (tests), which nothing reloads.
    """

    tenants: Tenants
    fingerprint: str | None
    options: dict[tuple[str, str], Any] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)

    def tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def source_options(self, tenant_id: str, source: str) -> Any:
        """The connector's validated options for this tenant's source (cached)."""
        key = (tenant_id, source)
        if key not in self.options:
            tenant = self.tenants.tenants[tenant_id]
            connector = registry.connector(source)
            raw = tenant.sources[source].options
            self.options[key] = connector.options.model_validate(raw) if connector else raw
        return self.options[key]


# the config a request holds on to (``Runtime.pinned``), by runtime
_pinned: ContextVar[tuple[Runtime, TenantConfig] | None] = ContextVar(
    "bookwire_pinned_config", default=None
)


class Runtime:
    def __init__(self, settings: Settings, *, tenants: Tenants | None = None) -> None:
        self.settings = settings
        self._given = tenants
        self._config: TenantConfig | None = None
        self._lock = threading.Lock()
        self._config_lock = threading.Lock()
        # set by a watcher (worker.process.reload): look at the files before saying "unknown"
        self.refresh_on_miss: Callable[[], object] | None = None

    @property
    def config(self) -> TenantConfig:
        """The tenants in use now (loaded and checked on first use; raises ``SettingsError``),
        or the ones ``pinned()`` for the current request."""
        held = _pinned.get()
        if held is not None and held[0] is self:
            return held[1]
        config = self._config
        if config is None:
            with self._config_lock:
                if self._config is None:
                    self._config = self._load()
                config = self._config
        return config

    @property
    def tenants(self) -> Tenants:
        return self.config.tenants

    @contextmanager
    def pinned(self) -> Iterator[TenantConfig]:
        """Within the block (this thread or asyncio task), every look-up sees the config in use
        at its start, whatever reloads meanwhile: a request is served by one generation."""
        config = self.config
        token = _pinned.set((self, config))
        try:
            yield config
        finally:
            _pinned.reset(token)

    @property
    def reloadable(self) -> bool:
        """Whether the tenants come from files that ``reload()`` can read again."""
        return self._given is None

    def config_files(self) -> list[Path | None]:
        """The files the tenants are read from (besides ``{ file = ... }`` secrets)."""
        return [self.settings.resolved_tenants_file, self.settings.resolved_secrets_file]

    def reload(self) -> tuple[TenantConfig, TenantConfig]:
        """Read and check the files as at start; when they pass, use them from now on and
        return (old, new). Raises ``SettingsError`` (the old config stays in use)."""
        old = self.config
        new = self._load()
        with self._config_lock:
            self._config = new
        return old, new

    def _load(self) -> TenantConfig:
        if self._given is not None:
            return TenantConfig(self._given, None)
        # fingerprint first: a change made while we read is seen as a change next time
        files = fingerprint(self.config_files())
        tenants = load_tenants(
            self.settings.resolved_tenants_file,
            secrets_file=self.settings.resolved_secrets_file,
        )
        check_tenants(tenants)
        return TenantConfig(tenants, files + fingerprint(secret_files(tenants)))

    def fingerprint_on_disk(self, tenants: Tenants) -> str:
        """What ``TenantConfig.fingerprint`` would be for the files as they are now."""
        return fingerprint(self.config_files()) + fingerprint(secret_files(tenants))

    @cached_property
    def store(self) -> Store:
        return Store(
            self.settings.resolved_database_url,
            pool_size=max(5, self.settings.worker_concurrency + 2),
        )

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.resolved_redis_url, socket_timeout=5, socket_connect_timeout=2
        )

    @cached_property
    def http(self) -> httpx.Client:
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=50)
        return httpx.Client(timeout=self.settings.http_timeout, limits=limits)

    @cached_property
    def platform_calls(self) -> ThreadPoolExecutor:
        """Threads that make a batch's platform calls side by side: a worker waiting on the
        platform's latency is not a worker doing nothing (``platform_concurrency``)."""
        return ThreadPoolExecutor(self.settings.platform_concurrency, "platform-call")

    @cached_property
    def celery(self) -> Celery:
        from worker.celery_app import create_celery

        return create_celery(self.settings)

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant, or None when the tenants file does not name it. With
        ``refresh_on_miss`` (workers), a tenant added a moment ago is looked for in the files
        before a booking of it is given up on."""
        found = self.config.tenant(tenant_id)
        held = _pinned.get()
        if found is None and self.refresh_on_miss is not None and held is None:
            self.refresh_on_miss()
            found = self.config.tenant(tenant_id)
        return found

    def source_options(self, tenant_id: str, source: str) -> Any:
        """The connector's validated options for this tenant's source (cached)."""
        return self.config.source_options(tenant_id, source)

    def platform(self, tenant: Tenant) -> Platform:
        """The platform client for ``tenant``, cached with the config it belongs to: a reload
        drops it, so a client built with an old API key does not outlive the key."""
        config = self.config
        if config.tenants.get(tenant.id) is not tenant:
            return self._build_platform(tenant)  # a tenant of an older generation: not cached
        with self._lock:
            platform = config.platforms.get(tenant.id)
            if platform is None:
                platform = self._build_platform(tenant)
                config.platforms[tenant.id] = platform
            return platform

    def _build_platform(self, tenant: Tenant) -> Platform:
        factory = registry.PLATFORMS[tenant.platform.kind]
        # the Redis URL lets every worker share one rate-limit budget per platform host
        context = PlatformContext(redis_url=self.settings.resolved_redis_url, tenant=tenant.id)
        return factory(tenant.platform, self.http, context=context)

    def parse_context(
        self, tenant_id: str, source: str, *, now: datetime, with_http: bool
    ) -> ParseContext:
        """What a connector may use: options, resolved credentials and (in the worker) HTTP."""
        current = self.config
        config = current.tenants.tenants[tenant_id].sources[source]
        return ParseContext(
            tenant=tenant_id,
            source=source,
            options=current.source_options(tenant_id, source),
            credentials={k: v.value.get_secret_value() for k, v in config.credentials.items()},
            http=self.http if with_http else None,
            now=now,
        )

    @contextmanager
    def booking_locks(self, booking_ids: Sequence[int]) -> Iterator[set[int]]:
        """Serialise work on bookings across workers; yields the ids this caller now holds
        (someone else holds the rest). One broker round trip to take them all, one to let go.

        A lock expires after ``booking_lock_seconds``; one that expired while we worked is not
        released (it may be someone else's by now): idempotency keys cover the overlap."""
        token = uuid.uuid4().hex
        keys = {booking_id: f"bookwire:lock:booking:{booking_id}" for booking_id in booking_ids}
        ttl = int(self.settings.booking_lock_seconds * 1000)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys.values():
            pipe.set(key, token, nx=True, px=ttl)
        held = {b for b, ok in zip(keys, pipe.execute(), strict=True) if ok}
        try:
            yield held
        finally:
            if held:
                self._release(keys=[keys[b] for b in held], args=[token])

    @cached_property
    def _release(self) -> Any:
        return self.redis.register_script(RELEASE_LOCKS)

    def close(self) -> None:
        if "platform_calls" in self.__dict__:
            self.platform_calls.shutdown(wait=True)
        if "http" in self.__dict__:
            self.http.close()
        if "store" in self.__dict__:
            self.store.dispose()


# Delete each lock still holding our token (redis-py's Lock release, for many keys at once).
RELEASE_LOCKS = """
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then redis.call('del', key) end
end
return 0
"""

_current: Runtime | None = None
_current_lock = threading.Lock()


def current() -> Runtime:
    """The process-wide runtime, built from the environment on first use."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Runtime(Settings())
        return _current


def install(runtime: Runtime) -> None:
    """Use ``runtime`` as this process's runtime (tests, ``bookwire up``)."""
    global _current
    with _current_lock:
        _current = runtime
