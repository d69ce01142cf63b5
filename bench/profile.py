"""Where the time goes: py-spy attached to ingress and worker processes during a run.

``--profile DIR`` records each process with ``py-spy record --format raw`` (collapsed stacks)
from the start of the load until the pipeline drained, and summarises every profile as the
share of samples per component (the innermost frame of a known package decides) and the
heaviest functions. ``--profile-mode``:

- ``gil`` (default): only the thread holding the GIL (py-spy ``--gil``): where the process
  spends Python CPU time; C code that releases the GIL (SQLite's own work) does not show.
- ``active``: py-spy's default, every thread it does not consider idle; threads blocked in a
  socket read or in SQLite's busy handler still count, so this shows where busy threads wait.
- ``idle``: every thread, waiting ones included (py-spy ``--idle``): all wall time.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

COMPONENTS = (
    ("sqlalchemy/", "SQLAlchemy + SQLite"),
    ("sqlite3/", "SQLAlchemy + SQLite"),
    ("kombu/", "Celery + kombu"),
    ("celery/", "Celery + kombu"),
    ("billiard/", "Celery + kombu"),
    ("redis/", "redis-py"),
    ("httpx/", "httpx + httpcore"),
    ("httpcore/", "httpx + httpcore"),
    ("h11/", "h11 (HTTP/1.1 parsing)"),
    ("uvicorn/", "uvicorn + Starlette"),
    ("starlette/", "uvicorn + Starlette"),
    ("anyio/", "uvicorn + Starlette"),
    ("pydantic", "pydantic"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("standardwebhooks/", "signature (HMAC)"),
    ("hmac.py", "signature (HMAC)"),
    ("prometheus_client/", "prometheus_client"),
    ("zoneinfo/", "zoneinfo"),
    ("asyncio/", "asyncio"),
    ("threading.py", "threads (waiting)"),
    ("concurrent/", "threads (waiting)"),
    ("queue.py", "threads (waiting)"),
    ("selectors.py", "selectors (waiting)"),
    ("socket.py", "sockets"),
    ("ssl.py", "sockets"),
)
ROOT = str(Path(__file__).resolve().parent.parent) + "/"
# py-spy names files relative to sys.path (``worker/sync/bookings.py``, ``celery/worker/…``)
OWN = tuple(
    prefix + package + "/"
    for prefix in ("", ROOT)
    for package in ("worker", "integrations", "config")
)


class Profiler:
    """py-spy recorders for a set of processes; ``stop()`` writes one raw profile each."""

    def __init__(self, out_dir: Path, *, mode: str = "gil", rate: int = 100) -> None:
        if shutil.which("py-spy") is None:
            raise RuntimeError("--profile needs py-spy on PATH (pip install py-spy)")
        self.out_dir, self.mode, self.rate = out_dir, mode, rate
        self._recorders: dict[str, subprocess.Popen[bytes]] = {}

    def attach(self, name: str, pid: int) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(self.rate),
            "--nonblocking",
            "--output",
            str(self.out_dir / f"{name}.txt"),
        ]
        argv += {"gil": ["--gil"], "active": [], "idle": ["--idle"]}[self.mode]
        self._recorders[name] = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> dict[str, list[str]]:
        """Stop every recorder (SIGINT writes the profile) and summarise each one."""
        for proc in self._recorders.values():
            proc.send_signal(signal.SIGINT)
        summaries: dict[str, list[str]] = {}
        for name, proc in self._recorders.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            path = self.out_dir / f"{name}.txt"
            if path.exists():
                summaries[name] = summarize(path.read_text("utf-8", errors="replace"))
        return summaries


def summarize(collapsed: str, top: int = 12) -> list[str]:
    """Markdown lines: samples per component, then the heaviest bookwire and leaf functions."""
    stacks: list[tuple[list[str], int]] = []
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks)
    if not total:
        return ["(no samples)"]
    components: Counter[str] = Counter()
    own: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for frames, n in stacks:
        components[_component(frames)] += n
        leaves[_short(frames[-1])] += n
        for frame in {_short(f) for f in frames if _location(f).startswith(OWN)}:
            own[frame] += n
    lines = [
        f"{total} samples.",
        "",
        "| component (innermost known frame) | share |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {n / total:.0%} |" for name, n in components.most_common(top)]
    lines += ["", "| bookwire function (inclusive) | share |", "| --- | --- |"]
    lines += [f"| `{name}` | {n / total:.0%} |" for name, n in own.most_common(top)]
    lines += ["", "| innermost frame (self) | share |", "| --- | --- |"]
    lines += [f"| `{name}` | {n / total:.0%} |" for name, n in leaves.most_common(top)]
    return lines


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        path = _location(frame)
        if path.startswith(OWN):
            return "bookwire code"
        for marker, name in COMPONENTS:
            if path.startswith(marker) or "/" + marker in path:
                return name
    return "other"


def _location(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``path/to/file.py``."""
    start = frame.rfind("(")
    return frame[start + 1 :].rsplit(":", 1)[0] if start >= 0 else frame


def _short(frame: str) -> str:
    """``func (…/site-packages/pkg/mod.py:12)`` → ``pkg/mod.py:func``."""
    func = frame.split(" (", 1)[0]
    path = _location(frame)
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif path.startswith(ROOT):
        path = path[len(ROOT) :]
    elif "/lib/python3" in path:
        path = path.split("/lib/python3", 1)[1].split("/", 1)[-1]
    return f"{path}:{func}"
