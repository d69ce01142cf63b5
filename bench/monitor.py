"""Peak memory and CPU time of every process of a run, sampled with psutil.

CPU is counted from ``start()`` (after the stack is up and warm) to ``stop()`` (after the
pipeline drained), so start-up imports do not count against the bookings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil

MB = 1024 * 1024


@dataclass
class Usage:
    name: str
    role: str
    pid: int
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    cpu_s: float = 0.0
    cpu_system_s: float = 0.0  # of cpu_s, in the kernel (syscalls, round trips)
    _cpu_start: float = 0.0
    _system_start: float = 0.0


class Monitor:
    """Samples RSS every ``interval`` seconds in a background thread."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.usage: dict[str, Usage] = {}
        self._procs: dict[str, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-monitor", daemon=True)

    def watch(self, name: str, role: str, pid: int) -> None:
        """Add a process (also while running: the load generator joins late). A supervisor
        (``bookwire worker`` runs Celery as its child) is measured by the child it runs."""
        try:
            proc = psutil.Process(pid)
            children = proc.children()
            if len(children) == 1:
                proc = children[0]
            times = proc.cpu_times()
        except psutil.Error:
            return
        self.usage[name] = Usage(
            name, role, proc.pid, _cpu_start=times.user + times.system, _system_start=times.system
        )
        self._procs[name] = proc
        self._sample(name)

    def forget(self, name: str) -> None:
        """Stop watching a process (one that reports its own usage)."""
        self._procs.pop(name, None)
        self.usage.pop(name, None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> list[Usage]:
        """Final sample: end RSS and CPU seconds since ``watch``."""
        self._stop.set()
        self._thread.join(timeout=5)
        for name, proc in list(self._procs.items()):
            usage = self.usage[name]
            try:
                self._sample(name)
                usage.rss_end_mb = proc.memory_info().rss / MB
                times = proc.cpu_times()
                usage.cpu_s = times.user + times.system - usage._cpu_start
                usage.cpu_system_s = times.system - usage._system_start
            except psutil.Error:
                pass  # exited already: keep its last sample
        return list(self.usage.values())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for name in list(self._procs):
                self._sample(name)

    def _sample(self, name: str) -> None:
        proc = self._procs.get(name)
        if proc is None:
            return
        try:
            rss = proc.memory_info().rss / MB
        except psutil.Error:
            return
        usage = self.usage[name]
        usage.rss_peak_mb = max(usage.rss_peak_mb, rss)
