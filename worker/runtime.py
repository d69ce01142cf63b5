"""Everything a process shares: settings, tenants, store, Redis, HTTP and platform clients.

Built once per process from explicit ``Settings`` (tests) or the environment (``current()``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from typing import Any

import httpx
import redis
from celery import Celery

from config.settings import Settings
from config.tenants import Tenant, Tenants, load_tenants
from integrations import registry
from integrations.connector import ParseContext
from integrations.platform import Platform, PlatformContext
from integrations.tenants_check import check_tenants
from worker.store import Store


class Runtime:
    def __init__(self, settings: Settings, *, tenants: Tenants | None = None) -> None:
        self.settings = settings
        self._tenants = tenants
        self._platforms: dict[str, Platform] = {}
        self._options: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @cached_property
    def tenants(self) -> Tenants:
        if self._tenants is not None:
            return self._tenants
        tenants = load_tenants(
            self.settings.resolved_tenants_file,
            secrets_file=self.settings.resolved_secrets_file,
        )
        check_tenants(tenants)
        return tenants

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
        return self.tenants.get(tenant_id)

    def source_options(self, tenant_id: str, source: str) -> Any:
        """The connector's validated options for this tenant's source (cached)."""
        key = (tenant_id, source)
        if key not in self._options:
            tenant = self.tenants.tenants[tenant_id]
            connector = registry.connector(source)
            raw = tenant.sources[source].options
            self._options[key] = connector.options.model_validate(raw) if connector else raw
        return self._options[key]

    def platform(self, tenant: Tenant) -> Platform:
        with self._lock:
            platform = self._platforms.get(tenant.id)
            if platform is None:
                factory = registry.PLATFORMS[tenant.platform.kind]
                # the Redis URL lets every worker share one rate-limit budget per platform host
                context = PlatformContext(redis_url=self.settings.resolved_redis_url)
                platform = factory(tenant.platform, self.http, context=context)
                self._platforms[tenant.id] = platform
            return platform

    def parse_context(
        self, tenant_id: str, source: str, *, now: datetime, with_http: bool
    ) -> ParseContext:
        """What a connector may use: options, resolved credentials and (in the worker) HTTP."""
        config = self.tenants.tenants[tenant_id].sources[source]
        return ParseContext(
            tenant=tenant_id,
            source=source,
            options=self.source_options(tenant_id, source),
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
