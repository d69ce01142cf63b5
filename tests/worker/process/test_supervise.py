"""`bookwire worker` keeps Celery running: a crashed child is restarted, a stop is a stop."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import REPO, wait_for
from worker.process.supervise import supervise

CRASH_ONCE = """
import pathlib, sys
marker = pathlib.Path(sys.argv[1])
runs = int(marker.read_text()) if marker.exists() else 0
marker.write_text(str(runs + 1))
sys.exit(3 if runs == 0 else 0)
"""


def test_a_child_that_dies_is_restarted_until_it_exits_cleanly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "runs"
    with caplog.at_level(logging.WARNING, logger="worker.process.supervise"):
        code = supervise([sys.executable, "-c", CRASH_ONCE, str(marker)], name="test")
    assert code == 0
    assert marker.read_text() == "2"
    # a log line (JSON in JSON mode), not a print
    assert [r.getMessage() for r in caplog.records] == ["test exited with code 3; restarting"]


def test_sigterm_stops_the_child_and_the_supervisor(tmp_path: Path) -> None:
    script = tmp_path / "sup.py"
    script.write_text(
        "import sys\n"
        "from worker.process.supervise import supervise\n"
        "sys.exit(supervise([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "name='sleeper'))\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], cwd=REPO)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    wait_for(lambda: proc.poll() is not None, timeout=10)
    assert proc.returncode != 0  # the child was terminated, and nothing was restarted
