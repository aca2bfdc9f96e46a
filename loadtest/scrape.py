"""The server's own figures, read from its Prometheus ``/metrics`` (``server/metrics.py``), so
that the harness and operators read the same numbers and each can check the other.

The harness scrapes three times: before the connections open, when the measured phase starts
and when it ends (after the last deliveries). Counters are reported as the difference between two
scrapes: the connect phase's handshakes, and everything else over the measured phase; gauges
(connections by state, queued frames) as read at the end. Fan-out latency comes from the
histogram's buckets, so its quantiles are estimates, interpolated within a bucket as Prometheus'
``histogram_quantile`` does; its mean is exact.

A scrape reaches one process. Under ``--server-workers`` N > 1 every worker keeps its own
registry and a scrape shows whichever worker accepted it, so the harness reports no server
figures then rather than one worker's as if they were the node's.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

#: Every sample of one scrape: (sample name, sorted labels) → value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

#: Quantiles of the fan-out latency histogram to report.
QUANTILES = (0.5, 0.9, 0.99)


def scrape(base_url: str) -> Samples:
    """Read ``/metrics`` once."""
    response = httpx.get(f"{base_url}/metrics", timeout=30)
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def _total(samples: Samples, name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


def _by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for (sample, labels), value in samples.items():
        if sample == name:
            key = dict(labels).get(label, "")
            out[key] = out.get(key, 0.0) + value
    return out


def _grown(start: Samples, end: Samples, name: str, label: str) -> dict[str, int]:
    """A labelled counter's increase over the phase, per label value (those that grew only)."""
    before = _by_label(start, name, label)
    return {
        key: int(value - before.get(key, 0.0))
        for key, value in sorted(_by_label(end, name, label).items())
        if value > before.get(key, 0.0)
    }


def _count(start: Samples, end: Samples, name: str) -> int:
    return int(_total(end, name) - _total(start, name))


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Estimate the ``q`` quantile from cumulative buckets [(upper bound, count), ..., (inf, n)]
    by linear interpolation within the bucket it falls in (Prometheus' ``histogram_quantile``);
    in the open last bucket, the greatest finite bound."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank and cumulative > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = bound, cumulative
    return lower


#: The requests whose server-side latency a report shows.
TIMED_OPS = ("post.create", "safety.set", "community.announce")


def _only(samples: Samples, **labels: str) -> Samples:
    """The samples that carry (at least) those labels."""
    return {key: v for key, v in samples.items() if labels.items() <= dict(key[1]).items()}


def _latency_ms(start: Samples, end: Samples, name: str, **labels: str) -> dict[str, Any]:
    """Quantiles of a latency histogram's growth between two scrapes, over the series with
    (at least) those labels."""
    start, end = _only(start, **labels), _only(end, **labels)
    grown = _by_label(end, f"{name}_bucket", "le")
    before = _by_label(start, f"{name}_bucket", "le")
    buckets = sorted((float(le), value - before.get(le, 0.0)) for le, value in grown.items())
    count = _count(start, end, f"{name}_count")
    seconds = _total(end, f"{name}_sum") - _total(start, f"{name}_sum")
    figures: dict[str, Any] = {"count": count, "mean": seconds / count * 1000 if count else None}
    for q in QUANTILES:
        estimate = quantile(q, buckets)
        figures[f"p{q * 100:g}"] = estimate * 1000 if estimate is not None else None
    return figures


def figures(before: Samples, start: Samples, end: Samples) -> dict[str, Any]:
    """What the report shows from three scrapes (see the module docstring)."""
    return {
        "connect": {
            "handshakes_completed": _count(before, start, "tsudoi_handshakes_completed_total"),
            "handshakes_failed": _grown(before, start, "tsudoi_handshakes_failed_total", "code"),
        },
        "measured": {
            "handshakes_completed": _count(start, end, "tsudoi_handshakes_completed_total"),
            "handshakes_failed": _grown(start, end, "tsudoi_handshakes_failed_total", "code"),
            "events_published": _count(start, end, "tsudoi_events_published_total"),
            "events_delivered": _count(start, end, "tsudoi_events_delivered_total"),
            "send_queue_dropped": _count(start, end, "tsudoi_send_queue_dropped_total"),
            "slow_consumers_closed": _count(start, end, "tsudoi_slow_consumers_closed_total"),
            "errors": _grown(start, end, "tsudoi_errors_total", "code"),
            "fanout_latency_ms": _latency_ms(start, end, "tsudoi_fanout_latency_seconds"),
            "fanout_latency_priority_ms": _latency_ms(
                start, end, "tsudoi_fanout_latency_seconds", kind="priority"
            ),
            "fanout_latency_ordinary_ms": _latency_ms(
                start, end, "tsudoi_fanout_latency_seconds", kind="ordinary"
            ),
            "request_latency_ms": {
                op: _latency_ms(start, end, "tsudoi_request_latency_seconds", op=op) for op in TIMED_OPS
            },
            "loop_lag_ms": _latency_ms(start, end, "tsudoi_event_loop_lag_seconds"),
        },
        "at_end": {
            "connections": {k: int(v) for k, v in _by_label(end, "tsudoi_connections", "state").items()},
            "send_queue_depth": int(_total(end, "tsudoi_send_queue_depth")),
        },
    }
