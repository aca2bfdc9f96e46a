"""Turn what the workers recorded into the figures the harness reports."""

from __future__ import annotations

import math
import os
import platform
from typing import Any


def percentiles(values: list[float], points: tuple[float, ...] = (50, 90, 99)) -> dict[str, float | None]:
    """Nearest-rank percentiles (and min, max) of ``values``, in the same unit."""
    if not values:
        return {**{f"p{p:g}": None for p in points}, "min": None, "max": None}
    ordered = sorted(values)
    out: dict[str, float | None] = {}
    for point in points:
        rank = max(1, math.ceil(point / 100 * len(ordered)))
        out[f"p{point:g}"] = ordered[rank - 1]
    out["min"], out["max"] = ordered[0], ordered[-1]
    return out


def machine() -> dict[str, Any]:
    memory = None
    try:
        with open("/proc/meminfo") as meminfo:
            memory = int(meminfo.readline().split()[1]) * 1024
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def deliveries(
    ok_times: dict[str, float],
    results: list[dict[str, Any]],
    recipients: dict[str, int],
    sent_times: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Latency to each receipt — from each post's ``ok`` (the issue's definition) and from the
    moment the author sent ``post.create`` — and what was lost or repeated.

    ``recipients`` is how many connections should have received each post. The server fans a post
    out before it answers ``ok``, so a follower may have it before the author has the ``ok``: the
    first figure can be negative; the second cannot.

    A result that also has ``first_ready`` (for each receipt, in the same order, when the
    connection it came on had its ``ready``) gives a third figure, from the later of the send and
    that ``ready``: what a recipient who was away during a storm waited once it was back, and for
    every other recipient the same as from the send. It measures what the server does with its
    connected users while others resume, not how long the harness's clients stayed away.
    """
    latencies_ms: list[float] = []
    from_send_ms: list[float] = []
    from_available_ms: list[float] = []
    sent_times = sent_times or {}
    received = 0
    unexpected = 0
    for result in results:
        for post_id, times in result["first_receipts"].items():
            if post_id not in ok_times:
                unexpected += len(times)
                continue
            received += len(times)
            sent = ok_times[post_id]
            latencies_ms.extend((at - sent) * 1000 for at in times)
            if post_id in sent_times:
                began = sent_times[post_id]
                from_send_ms.extend((at - began) * 1000 for at in times)
                readies = result.get("first_ready", {}).get(post_id)
                if readies is not None:
                    from_available_ms.extend(
                        (at - max(began, ready)) * 1000 for at, ready in zip(times, readies, strict=True)
                    )
    expected = sum(recipients.get(post_id, 0) for post_id in ok_times)
    errors: dict[str, int] = {}
    closes: dict[str, int] = {}
    for result in results:
        for code, count in result["errors"].items():
            errors[code] = errors.get(code, 0) + count
        for code, count in result["closes"].items():
            closes[code] = closes.get(code, 0) + count
    return {
        "expected": expected,
        "delivered": received,
        "lost": max(0, expected - received),
        "duplicated": sum(result["duplicates"] for result in results),
        "unexpected": unexpected,
        "latency_ms": percentiles(latencies_ms),
        "latency_from_send_ms": percentiles(from_send_ms),
        **({"latency_from_available_ms": percentiles(from_available_ms)} if from_available_ms else {}),
        "errors": errors,
        "closes": closes,
    }


def series(
    ok_times: dict[str, float], results: list[dict[str, Any]], started_at: float, sent_times: dict[str, float]
) -> list[dict[str, Any]]:
    """Per second of the run: posts acknowledged, frames delivered, and delivery latency from the
    author's send (see ``deliveries`` for why not from the ``ok``)."""
    seconds: dict[int, list[float]] = {}
    posts: dict[int, int] = {}
    for sent in ok_times.values():
        second = int(sent - started_at)
        posts[second] = posts.get(second, 0) + 1
    for result in results:
        for post_id, times in result["first_receipts"].items():
            if post_id not in ok_times:
                continue
            sent = sent_times.get(post_id, ok_times[post_id])
            for at in times:
                seconds.setdefault(int(at - started_at), []).append((at - sent) * 1000)
    out = []
    for second in range(max([*seconds, *posts], default=-1) + 1):
        latencies = seconds.get(second, [])
        figures = percentiles(latencies)
        out.append(
            {
                "t": second,
                "posts": posts.get(second, 0),
                "delivered": len(latencies),
                "p50_ms": figures["p50"],
                "p99_ms": figures["p99"],
            }
        )
    return out


def codes(counts: dict[str, int] | None) -> str:
    """Close or error codes with how many of each: ``4007 ×886, 4002 ×3``, or ``none``."""
    return ", ".join(f"{code} ×{count:,}" for code, count in (counts or {}).items()) or "none"


def server_counts(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The server's own counters (its /metrics, see ``scrape.py``) beside the clients' counts, as
    (what, text) pairs for the summary and the HTML page; or why there are none."""
    figures = result.get("server_metrics") or {}
    if "unavailable" in figures:
        return [("server /metrics", f"not read ({figures['unavailable']})")]
    if not figures:
        return []
    connect, measured = figures["connect"], figures["measured"]
    closes = result.get("closes", {})
    return [
        (
            "server /metrics, connecting",
            f"handshakes completed {connect['handshakes_completed']:,} "
            f"(clients: {result['connections']['established']:,} established), "
            f"failed {codes(connect['handshakes_failed'])}",
        ),
        (
            "server /metrics, measured phase",
            f"handshakes completed {measured['handshakes_completed']:,}, "
            f"failed {codes(measured['handshakes_failed'])}; events published "
            f"{measured['events_published']:,} (clients: {result['posts']:,} posts acknowledged); event "
            f"frames fanned out {measured['events_delivered']:,} (clients recorded "
            f"{result['delivered']:,} + {result['duplicated']:,} duplicated; frames replayed from a "
            "backlog are not fan-outs)",
        ),
        (
            "server /metrics, trouble",
            f"queued frames dropped {measured['send_queue_dropped']:,}, slow consumers closed "
            f"{measured['slow_consumers_closed']:,} (clients saw {closes.get('4002', 0):,} 4002 "
            f"closes), errors {codes(measured['errors'])} (clients got "
            f"{codes(result.get('errors', {}))})",
        ),
    ]


def server_timings(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The server's latency histograms that have samples: (what, {count, mean, p50, p90, p99}),
    in ms, quantiles estimated from the buckets."""
    figures = result.get("server_metrics") or {}
    measured = figures.get("measured")
    if not measured:
        return []
    timed = [
        ("server fan-out latency ms", measured.get("fanout_latency_ms")),
        ("  of priority events (statuses, DMs, notifications)", measured.get("fanout_latency_priority_ms")),
        ("  of ordinary events", measured.get("fanout_latency_ordinary_ms")),
        ("server event-loop lag ms", measured.get("loop_lag_ms")),
        *(
            (f"server {op} request ms", figures)
            for op, figures in (measured.get("request_latency_ms") or {}).items()
        ),
    ]
    return [(what, latency) for what, latency in timed if latency and latency["count"]]


def server_lines(result: dict[str, Any]) -> list[str]:
    """The server's own figures as lines of text, for the summary."""
    lines = [f"{what}: {text}" for what, text in server_counts(result)]
    for what, latency in server_timings(result):
        lines.append(
            f"{what} ({latency['count']:,} samples, quantiles from buckets): "
            f"p50 {latency['p50']:.2f}  p90 {latency['p90']:.2f}  p99 {latency['p99']:.2f}  "
            f"mean {latency['mean']:.2f}"
        )
    return lines
