"""Test-only crash points: SIGKILL this process at a named step of an effect, once.

Correctness under crashes is proved by killing the worker at each step of every effect, not by
reasoning about it. Each effect (a sync round's platform calls, a portal hand-off) passes these
points in order::

    before-intent-commit   the intent is written, its transaction not yet committed
    before-call            the intent is committed, the outside system not yet called
    before-outcome-commit  the outside system answered, the outcome not yet committed
    before-ack             the outcome is committed, the broker message not yet acknowledged

``BOOKWIRE_CRASH_AT`` names one or more points (comma-separated; ``point#N``: the N-th time this
process reaches it, e.g. the second round of a sync); ``BOOKWIRE_CRASH_ONCE`` names a
marker file that the first kill creates, so a restarted process runs through. Unset (always, in
production) ``reach`` is a dictionary look-up.
"""

from __future__ import annotations

import os
import signal

POINTS = ("before-intent-commit", "before-call", "before-outcome-commit", "before-ack")
_reached: dict[str, int] = {}


def reach(point: str) -> None:
    """Die here if the test asked for it."""
    wanted = os.environ.get("BOOKWIRE_CRASH_AT")
    if not wanted:
        return
    _reached[point] = _reached.get(point, 0) + 1
    if point not in wanted.split(",") and f"{point}#{_reached[point]}" not in wanted.split(","):
        return
    marker = os.environ.get("BOOKWIRE_CRASH_ONCE")
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
