"""Turn one run's raw observations into the report: numbers, a JSON file and Markdown.

Definitions (also in docs/benchmark.md):

- ingest: every request the load generator sent; throughput = requests / (last answer − first
  send); latency = send → answer on the client.
- end to end: per booking, first send → the platform's ``created_at`` of its event (the
  sandbox stamps milliseconds on the same clock); events/s = events / (last ``created_at`` −
  first send).
- duplicates: events beyond one per booking; lost: bookings acknowledged with a 2xx that have
  no event when the run ends. Both must be zero.
- retries: the sandbox's counters (injected 5xx, idempotent replays, …) and the attempts the
  worker recorded that did not succeed.
- CPU per booking: CPU seconds of bookwire's processes (ingress, workers, beat, broker) during
  the load and drain, over the bookings sent; the sandbox and the load generator are reported
  apart.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import ceiling

BOOKWIRE_ROLES = ("ingress", "worker", "beat", "broker", "flower")


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest rank), from values in seconds."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    return {
        "p50": round(rank(50) * 1000, 2),
        "p95": round(rank(95) * 1000, 2),
        "p99": round(rank(99) * 1000, 2),
        "max": round(ordered[-1] * 1000, 2),
    }


def parse_created(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def ingest_section(sent: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = Counter(str(s["status"]) for s in sent)
    ok = sum(1 for s in sent if 200 <= s["status"] < 300)
    first = min((s["sent_at"] for s in sent), default=0.0)
    last = max((s["sent_at"] + s["latency"] for s in sent), default=0.0)
    duration = max(last - first, 1e-9)
    return {
        "requests": len(sent),
        "acknowledged": ok,
        "statuses": dict(statuses),
        "outcomes": dict(Counter(str(s.get("outcome")) for s in sent)),
        "duration_s": round(duration, 3),
        "requests_per_s": round(len(sent) / duration, 1) if sent else 0.0,
        "latency_ms": percentiles([s["latency"] for s in sent]),
    }


def end_to_end_section(
    sent: list[dict[str, Any]],
    events: dict[str, list[dict[str, Any]]],
    ids: list[str],
    *,
    since: float | None = None,
) -> dict[str, Any]:
    """Per booking, first send → event created. ``since`` (phased runs: when the workers
    started) replaces the first send as the start of the events/s window."""
    first_send: dict[str, float] = {}
    for s in sent:
        booking = ids[s["booking"]]
        first_send[booking] = min(first_send.get(booking, s["sent_at"]), s["sent_at"])
    latencies: list[float] = []
    created: list[float] = []
    for booking, found in events.items():
        if booking not in first_send:
            continue
        at = min(parse_created(e["created_at"]) for e in found)
        created.append(at)
        latencies.append(max(0.0, at - first_send[booking]))
    start = since if since is not None else min(first_send.values(), default=0.0)
    duration = max((max(created) - start) if created else 0.0, 1e-9)
    return {
        "events": len(created),
        "duration_s": round(duration, 3),
        "events_per_s": round(len(created) / duration, 1) if created else 0.0,
        "latency_ms": percentiles(latencies),
    }


def correctness_section(
    sent: list[dict[str, Any]],
    events: dict[str, list[dict[str, Any]]],
    ids: list[str],
    other_events: int,
) -> dict[str, Any]:
    acknowledged = {ids[s["booking"]] for s in sent if 200 <= s["status"] < 300}
    lost = sorted(acknowledged - set(events))
    duplicates = sum(len(found) - 1 for found in events.values() if len(found) > 1)
    return {
        "bookings": len(ids),
        "acknowledged": len(acknowledged),
        "events": sum(len(found) for found in events.values()),
        "duplicates": duplicates,
        "lost": len(lost),
        "lost_ids": lost[:20],
        "unexpected_events": other_events,
    }


def processes_section(usage: list[dict[str, Any]], bookings: int) -> dict[str, Any]:
    ours = [u for u in usage if u["role"] in BOOKWIRE_ROLES]
    cpu = sum(u["cpu_s"] for u in ours)
    return {
        "processes": usage,
        "bookwire_cpu_s": round(cpu, 2),
        "cpu_ms_per_booking": round(cpu / bookings * 1000, 3) if bookings else None,
        "max_rss_end_mb": round(max((u["rss_end_mb"] for u in ours), default=0.0), 1),
        "max_rss_peak_mb": round(max((u["rss_peak_mb"] for u in ours), default=0.0), 1),
    }


def write(report: dict[str, Any], out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{stem}.json"
    md_path = out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    md_path.write_text(markdown(report), "utf-8")
    return json_path, md_path


def markdown(report: dict[str, Any]) -> str:
    if "runs" in report:
        return _scale_markdown(report)
    cfg, ing, e2e = report["config"], report["ingest"], report["end_to_end"]
    ok, res = report["correctness"], report["resources"]
    lines = [
        f"# bookwire benchmark {report['run_id']}",
        "",
        _machine_line(report["machine"]),
        "",
        f"Code: commit {report['code']['commit']}"
        + (" with uncommitted changes" if report["code"]["dirty"] else ""),
        "",
        "| setting | value |",
        "| --- | --- |",
        *(f"| {k} | {v} |" for k, v in cfg.items()),
        "",
        "## Results",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| ingest throughput | {ing['requests_per_s']} requests/s ({ing['requests']} requests) |",
        f"| ingest latency p50 / p95 / p99 | {_ms(ing['latency_ms'])} |",
        *_end_to_end_rows(e2e, phased=bool(cfg.get("phased"))),
        *_ceiling_rows(report),
        f"| duplicates | **{ok['duplicates']}** |",
        f"| lost (acknowledged, never created) | **{ok['lost']}** |",
        f"| acknowledged / bookings | {ok['acknowledged']} / {ok['bookings']} |",
        f"| drained | {report['drain']['drained']} in {report['drain']['seconds']} s |",
        f"| CPU per booking (bookwire processes) | {res['cpu_ms_per_booking']} ms |",
        f"| largest RSS at end / peak | {res['max_rss_end_mb']} / {res['max_rss_peak_mb']} MB |",
        "",
        f"Ingest statuses: {ing['statuses']}; outcomes: {ing['outcomes']}",
        "",
        "## Retries",
        "",
        f"Sandbox counters during the load: {report['retries']['sandbox']}",
        "",
        f"Recorded platform attempts by status: {report['retries']['attempts']}",
        "",
        f"Store: {report['store']}",
        "",
        "Broker calls per booking: "
        + ", ".join(f"{k} {v}" for k, v in report["broker_commands_per_booking"].items()),
        "",
        "## Processes",
        "",
        "| process | RSS peak MB | RSS end MB | CPU s | of which kernel s |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {u['name']} | {u['rss_peak_mb']:.1f} | {u['rss_end_mb']:.1f} | {u['cpu_s']:.2f} "
            f"| {'–' if u.get('cpu_system_s') is None else format(u['cpu_system_s'], '.2f')} |"
            for u in res["processes"]
        ),
        "",
    ]
    if report.get("profiles"):
        lines += ["## Profiles (py-spy, share of samples)", ""]
        for name, summary in report["profiles"].items():
            lines += [f"### {name}", "", *summary, ""]
    return "\n".join(lines)


def _end_to_end_rows(e2e: dict[str, Any], *, phased: bool) -> list[str]:
    if phased:  # latency then includes the wait for the workers: not a pipeline latency
        return [
            f"| worker throughput (workers alone, after the load) | {e2e['events_per_s']} "
            f"events/s ({e2e['events']} events) |"
        ]
    return [
        f"| end-to-end throughput | {e2e['events_per_s']} events/s ({e2e['events']} events) |",
        f"| end-to-end latency p50 / p95 / p99 | {_ms(e2e['latency_ms'])} |",
    ]


def _ceiling_rows(report: dict[str, Any]) -> list[str]:
    top = report.get("ceiling")
    if not top:
        return []
    share = ceiling.ratio(report["end_to_end"], top)
    return [
        f"| ceiling: events created straight on the platform, same concurrency | "
        f"{top['events_per_s']} events/s ({top['events']} events) |",
        f"| end-to-end ÷ ceiling | **{share}** |",
    ]


def _scale_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# bookwire scaling {report['run_id']}",
        "",
        _machine_line(report["machine"]),
        "",
        f"Each row is a fresh run of {report['bookings']} bookings at concurrency "
        f"{report['concurrency']} against one broker and one database.",
        "",
        "| workers | ingress | ingest req/s | ingest p99 ms | events/s | e2e p50 ms "
        "| e2e p99 ms | duplicates | lost | CPU ms/booking |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        ing, e2e, ok = run["ingest"], run["end_to_end"], run["correctness"]
        lines.append(
            f"| {run['config']['workers']} | {run['config']['ingress']} "
            f"| {ing['requests_per_s']} | {ing['latency_ms']['p99']} | {e2e['events_per_s']} "
            f"| {e2e['latency_ms']['p50']} | {e2e['latency_ms']['p99']} | {ok['duplicates']} "
            f"| {ok['lost']} | {run['resources']['cpu_ms_per_booking']} |"
        )
    return "\n".join([*lines, ""])


def _machine_line(machine: dict[str, Any]) -> str:
    return (
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average before the run {machine['load_before']}."
    )


def _ms(values: dict[str, float | None]) -> str:
    return " / ".join(
        "–" if values[k] is None else f"{values[k]} ms" for k in ("p50", "p95", "p99")
    )
