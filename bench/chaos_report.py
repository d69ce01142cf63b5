"""The chaos run's Markdown summary (the JSON beside it holds everything)."""

from __future__ import annotations

from typing import Any


def markdown(report: dict[str, Any]) -> str:
    cfg, load, chaos = report["config"], report["load"], report["chaos"]
    seen, rec = report["platform"], report["reconcile"]
    verdict = "PROVED: 0 duplicates, 0 lost, 0 drift" if report["ok"] else "FAILED"
    lines = [
        f"# bookwire chaos run {report['run_id']}: {verdict}",
        "",
        f"Code `{report['code']['commit']}`"
        + (" (uncommitted changes)" if report["code"]["dirty"] else "")
        + f"; {cfg['workers']} workers × {cfg['worker_threads']} threads, {cfg['database']}, "
        f"seed {cfg['seed']}.",
        "",
        "| | |",
        "| --- | --- |",
        f"| bookings acknowledged | {load['bookings_acknowledged']} of {cfg['bookings']} "
        f"(sent at {cfg['rate']}/s over {load['seconds']} s) |",
        f"| rescheduled / cancelled | {load['rescheduled']} / {load['cancelled']} |",
        f"| webhook requests | {load['requests']} (every delivery twice; {load['retried']} "
        f"retried sends; unanswered {load['unanswered']}) |",
        f"| worker Celery children SIGKILLed | {chaos['worker_kills']} "
        f"(supervisor restarts logged: {chaos['worker_restarts_logged']}) |",
        f"| broker crashes (SIGKILL + restart) | {chaos['broker_crashes']} |",
        f"| platform calls answered 503 | {chaos['platform_5xx']} "
        f"({cfg['platform_error_rate']:.0%} asked) |",
        f"| drained | {report['drain']['drained']} after {report['drain']['seconds']} s"
        + _stranded(report["drain"])
        + " |",
        f"| events on the platform | {seen['events']} |",
        f"| duplicates | **{seen['duplicates']}** |",
        f"| lost | **{seen['lost']}** ({_kinds(seen['kinds'])}) |",
        f"| cancelled with no event | {seen['cancelled_without_event']} |",
        f"| reconcile drift | **{rec['drift']}** ({_kinds(rec.get('counts', {}))}) |",
        "",
    ]
    if seen["offenders"]:
        lines += ["## First offenders", "", "| booking | kind | detail |", "| --- | --- | --- |"]
        for item in seen["offenders"][:10]:
            detail = {k: v for k, v in item.items() if k not in ("booking", "kind")}
            lines.append(f"| {item['booking']} | {item['kind']} | {detail} |")
        lines.append("")
    if report["planted"]:
        lines += [f"Planted before the check: {report['planted']}", ""]
    store = report["store"]
    lines += [
        f"Intents: {store['intents']}",
        "",
        f"Platform attempts: {store['attempts']}",
        "",
    ]
    return "\n".join(lines)


def _stranded(drain: dict[str, Any]) -> str:
    if not drain.get("stranded"):
        return ""
    first = ", ".join(drain["stranded_first"])
    return f"; **{drain['stranded']} stranded** (pending, nothing moving: {first})"


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
