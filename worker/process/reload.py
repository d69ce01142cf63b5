"""The tenants and secrets files, reloaded in a running process: no restart for a new tenant.

Every process that reads the tenants (the ingress, each Celery worker) runs a ``ConfigWatcher``:
a thread that compares the fingerprint of the files on disk (``config.watch``: the tenants
file, the secrets file, ``{ file = ... }`` secrets) with the one of the config in use, every
``config_watch_interval`` seconds (1 s), and at once on SIGHUP where the process allows it (the
ingress; Celery keeps SIGHUP for itself).

A changed file is read and checked exactly as at start (``Runtime.reload``: ``load_tenants`` and
``check_tenants``). Then either

- it passes: the new config is used from the next request or task on, the connector options
  and platform clients built from the old one are dropped with it (a client made with a
  rotated API key does not survive), one ``reload`` audit row records the counts, and
  ``bookwire_config_reloads_total{result="applied"}`` counts it; or
- it does not: the old config stays in use, the log says why as start-up would (file, field,
  fix; never a secret value), ``bookwire_config_reloads_total{result="rejected"}`` counts it
  and ``bookwire_config_reload_failing`` is 1 until the files pass again (or are put back as
  they were). The same broken files are reported once, not every second.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from celery import signals
from sqlalchemy.exc import SQLAlchemyError

from config.errors import SettingsError
from config.tenants import Tenant, Tenants
from config.watch import secret_refs
from worker import runtime as runtimes
from worker.privacy import audit
from worker.runtime import Runtime
from worker.telemetry.metrics import CONFIG_RELOAD_FAILING, CONFIG_RELOADS

log = logging.getLogger(__name__)
SETTLE_SECONDS = 0.1  # a changed file must hold still this long before it is read


class Outcome(StrEnum):
    applied = "applied"
    rejected = "rejected"
    unchanged = "unchanged"


class ConfigWatcher:
    """Reloads ``rt``'s tenants when their files change (a thread), or when asked."""

    def __init__(
        self,
        rt: Runtime,
        *,
        actor: audit.Actor,
        interval: float | None = None,
        on_miss: bool = False,
    ) -> None:
        self.rt = rt
        self.actor = actor
        self.interval = rt.settings.config_watch_interval if interval is None else interval
        self.on_miss = on_miss
        self._checking = threading.Lock()  # one look at a time (the thread, a miss, SIGHUP)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._forced = False
        self._rejected: str | None = None  # the fingerprint of broken files already reported
        self._thread: threading.Thread | None = None

    def start(self) -> ConfigWatcher:
        """Watch in a daemon thread; nothing to watch when the tenants were given in code."""
        if self.rt.reloadable and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="config-watch", daemon=True)
            self._thread.start()
            if self.on_miss:
                self.rt.refresh_on_miss = self.check
        return self

    def stop(self) -> None:
        if self.rt.refresh_on_miss == self.check:
            self.rt.refresh_on_miss = None
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def reload_now(self) -> None:
        """Reload on the watcher's thread even if the files look unchanged (SIGHUP); safe to
        call from a signal handler."""
        self._forced = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval if self.interval > 0 else None)
            self._wake.clear()
            if self._stopping.is_set():
                return
            forced, self._forced = self._forced, False
            try:
                self.check(force=forced)
            except Exception as exc:  # the watcher outlives whatever one look went wrong
                log.warning("tenants file not checked (%s)", type(exc).__name__)

    def check(self, *, force: bool = False) -> Outcome:
        """Reload if the files differ from the config in use (always when ``force``)."""
        with self._checking:
            return self._check(force=force)

    def _check(self, *, force: bool) -> Outcome:
        config = self.rt.config
        on_disk = self.rt.fingerprint_on_disk(config.tenants)
        if not force and on_disk == config.fingerprint:
            if self._rejected is not None:  # put back as they were: nothing is failing now
                self._rejected = None
                CONFIG_RELOAD_FAILING.set(0)
                log.info("tenants file back to the config in use; nothing to reload")
            return Outcome.unchanged
        if not force and on_disk == self._rejected:
            return Outcome.rejected  # reported already
        if not force:  # a file still being written: read it once it holds still
            time.sleep(SETTLE_SECONDS)
            if self.rt.fingerprint_on_disk(config.tenants) != on_disk:
                return Outcome.unchanged  # not yet: the next look reloads it
        return self._reload(on_disk)

    def _reload(self, on_disk: str) -> Outcome:
        try:
            old, new = self.rt.reload()
        except SettingsError as exc:
            self._reject(on_disk, str(exc))
            return Outcome.rejected
        except (OSError, UnicodeDecodeError) as exc:  # e.g. a file half-written as binary
            self._reject(on_disk, f"{self.rt.settings.resolved_tenants_file}: {type(exc).__name__}")
            return Outcome.rejected
        self._rejected = None
        CONFIG_RELOADS.labels(Outcome.applied.value).inc()
        CONFIG_RELOAD_FAILING.set(0)
        counts = changes(old.tenants, new.tenants)
        log.info(
            "tenants file reloaded: %(tenants)d tenants, %(added)d added, %(removed)d removed, "
            "%(changed)d changed",
            counts,
        )
        self._audit(counts)
        return Outcome.applied

    def _reject(self, on_disk: str, problems: str) -> None:
        self._rejected = on_disk
        CONFIG_RELOADS.labels(Outcome.rejected.value).inc()
        CONFIG_RELOAD_FAILING.set(1)
        # the same lines start-up prints: file, field, fix (secret references, never values)
        log.error("tenants file not reloaded; the previous config stays in use:\n%s", problems)

    def _audit(self, counts: dict[str, int]) -> None:
        try:
            with self.rt.store.transaction() as session:
                audit.record(
                    session,
                    audit.Action.reload,
                    actor=self.actor,
                    counts=counts,
                    at=datetime.now(UTC),
                )
        except SQLAlchemyError as exc:  # the new config is in use either way
            log.warning("tenants file reloaded but not audited (store: %s)", type(exc).__name__)


def changes(old: Tenants, new: Tenants) -> dict[str, int]:
    """How many tenants there are now, and how many were added, removed or changed (a
    rotated secret counts as a change)."""
    common = old.tenants.keys() & new.tenants.keys()
    changed = sum(1 for tid in common if _state(old.tenants[tid]) != _state(new.tenants[tid]))
    return {
        "tenants": len(new.tenants),
        "added": len(new.tenants.keys() - old.tenants.keys()),
        "removed": len(old.tenants.keys() - new.tenants.keys()),
        "changed": changed,
    }


def _state(tenant: Tenant) -> tuple[Any, ...]:
    # compared in memory only, never logged
    return tenant.model_dump(mode="json"), [r.value.get_secret_value() for r in secret_refs(tenant)]


@contextmanager
def watching(rt: Runtime, *, actor: audit.Actor, sighup: bool = False) -> Iterator[ConfigWatcher]:
    """Watch ``rt``'s files for the block; with ``sighup``, SIGHUP reloads at once (only from
    the main thread, where signal handlers can be set: ``bookwire ingress``)."""
    watcher = ConfigWatcher(rt, actor=actor).start()
    previous: Any = None
    listening = sighup and threading.current_thread() is threading.main_thread()
    if listening:
        previous = signal.signal(signal.SIGHUP, lambda _signum, _frame: watcher.reload_now())
    try:
        yield watcher
    finally:
        if listening:
            signal.signal(signal.SIGHUP, previous)
        watcher.stop()


# Celery workers: one watcher per process that runs tasks (the worker itself with the threads
# pool, each child with prefork). Beat and Flower read no tenants.
_watchers: dict[int, ConfigWatcher] = {}


@signals.worker_ready.connect
@signals.worker_process_init.connect
def _watch_in_worker(**_: Any) -> None:
    if os.getpid() not in _watchers:
        # a task for a tenant added a moment ago looks at the files before it gives up
        watcher = ConfigWatcher(runtimes.current(), actor=audit.Actor.worker, on_miss=True)
        _watchers[os.getpid()] = watcher.start()


@signals.worker_shutdown.connect
@signals.worker_process_shutdown.connect
def _stop_watching(**_: Any) -> None:
    watcher = _watchers.pop(os.getpid(), None)
    if watcher is not None:
        watcher.stop()
