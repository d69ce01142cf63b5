"""What every command shares: the exit codes, and the runtime a command works with."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.settings import Settings, load_settings

if TYPE_CHECKING:
    from worker.runtime import Runtime


EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_START, EXIT_DATABASE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_FAILED: "the command ran and did not succeed (reason on stderr)",
    EXIT_CONFIG: "configuration problem or bad arguments (each with its fix); nothing started",
    EXIT_START: "a part could not start or stopped (named on stderr)",
    EXIT_DATABASE: "database unreachable or its schema is outdated (run `bookwire migrate`)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


def runtime(*, schema: bool = True) -> Runtime:
    """This process's runtime from the environment; refuses (``SchemaNotCurrent``) to go on
    with a database whose schema is not at head unless ``schema`` is False."""
    from worker.process.demo import ensure_demo
    from worker.runtime import Runtime, install
    from worker.store.migrate import require_current

    settings = load_settings()
    ensure_demo(settings)
    rt = Runtime(settings)
    install(rt)
    if schema:
        require_current(rt.store)
    return rt


def refuse_outdated() -> Settings:
    """Settings and tenants load, the schema is at head: then a long-running process may start
    (its children would fail the same way, with tracebacks, much later)."""
    rt = runtime()
    rt.tenants  # noqa: B018 - fail at start on broken config
    rt.close()
    return rt.settings
