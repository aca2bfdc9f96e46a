"""The node's Prometheus metrics, served at ``GET /metrics`` in the text format.

One :class:`Metrics` is built per application at start-up (the lifespan) around a registry of
its own and injected into the parts that count. Nothing is registered in prometheus_client's
global default registry, so several applications in one process (as in tests) never share a
figure or collide on a name. Operators and the load-test harness are meant to read this one
endpoint, so both see the same figures.

Where each figure comes from:

- **Counted where it happens**: handshakes (``Gateway``), error frames and HTTP error responses
  (``Gateway``, ``HttpApi``), events published (``Publisher.event``, once per channel), frames
  shed and slow consumers closed (``Connection``).
- **Added up on the hot path, read on scrape**: event frames fanned out. ``Hub.deliver`` adds
  the number of recipients once per fan-out (never inside the per-recipient loop) to a plain
  integer: an integer addition costs a tenth of a prometheus_client Counter's locked increment.
- **Timed**: WebSocket requests by op (``Gateway``), the event loop's lag by a probe task that
  sleeps and notes how late it wakes, storage calls by a proxy around the adapter (:mod:`server.store.timed`), bus
  subscribe/unsubscribe in the hub, Redis publish batches in the Redis bus, and fan-out latency
  by sampling one recipient per fan-out (see ``server/gateway/hub.py``).
- **Read on scrape**: connections by state, total send-queue depth and bus health, from the
  gateway and the bus by a collector (exact, and nothing to keep in step as connections come and
  go); storage health by a ping the ``/metrics`` route makes before rendering.

Labels are few and bounded: ``state`` (three connection states), ``code`` (the protocol's fixed
tables of error and close codes), ``op`` (request ops, Storage method names and three bus
operations), ``kind`` (priority or ordinary; or a protocol violation's, from
``server.gateway.fastwrite.VIOLATION_KINDS``). Never a
user, channel, connection or session: no figure names anyone, and none carries a secret, which is
why ``/metrics`` needs no authentication.

Several worker processes (``tsudoi serve --workers N``): each worker has its own registry, and the
workers share one port, so a scrape reaches whichever worker accepted it and shows that worker's
figures only (counters seem to jump between scrapes). Prometheus' multiprocess mode is not
supported; where exact figures matter, run single-worker nodes, each on its own port, and scrape
each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .gateway.admission import Admission
    from .gateway.connection import Connection

__all__ = ["CONNECTION_STATES", "CONTENT_TYPE", "LATENCY_BUCKETS", "Metrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: 0.1 ms to 5 s: from a frame handed over within one loop tick to a storage or Redis stall.
#: The loop-lag probe's sleep: ten wake-ups a second cost nothing measurable.
LOOP_PROBE_INTERVAL_S = 0.1
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
#: Picture processing takes a tenth of a second to seconds, and waits behind others in a burst:
#: buckets up to a minute, so a wave of uploads still reads as a distribution.
PROCESSING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
#: The states ``tsudoi_connections`` reports (a connection whose writer has ended is not counted).
CONNECTION_STATES = ("awaiting_auth", "resuming", "live")


class Metrics:
    """Every metric of one node, in a registry of its own that ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.handshakes_completed = Counter(
            "tsudoi_handshakes_completed",
            "WebSocket handshakes that reached ready (authenticated, subscribed, backlog queued).",
            registry=registry,
        )
        self.handshakes_failed = Counter(
            "tsudoi_handshakes_failed",
            "WebSocket connections closed before ready, by close code (a client that just left is "
            "not counted).",
            ["code"],
            registry=registry,
        )
        self.events_published = Counter(
            "tsudoi_events_published",
            "Events published by this node's services, one per channel published to.",
            registry=registry,
        )
        self.send_queue_dropped = Counter(
            "tsudoi_send_queue_dropped",
            "Ephemeral event frames dropped from full send queues.",
            registry=registry,
        )
        self.slow_consumers_closed = Counter(
            "tsudoi_slow_consumers_closed",
            "Connections closed with 4002 (slow consumer) because their send queue overflowed.",
            registry=registry,
        )
        self.late_stores = Counter(
            "tsudoi_late_stores",
            "Stream items published more than resume_window_ms after their ids were made: a "
            "client resuming from a later position may miss them (PROTOCOL.md section 6.5).",
            registry=registry,
        )
        self.gap_fills = Counter(
            "tsudoi_gap_fills",
            "Connections whose gap after a bus outage this node filled, by outcome: in_place (the "
            "missed items sent on the open connection), resync_required (closed with 4006: the "
            "gap was past the bound, the client resumes by cursor), failed (storage failed: 4005).",
            ["outcome"],
            registry=registry,
        )
        self.fanout_latency = Histogram(
            "tsudoi_fanout_latency_seconds",
            "From an event reaching this node's hub (for an event published on this node: its "
            "publishing) to a connection's writer handing the frame to the transport; one sampled "
            "recipient per fan-out. kind: priority (safety statuses, DMs, notifications, incident "
            "events: the priority lane) or ordinary.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.request_latency = Histogram(
            "tsudoi_request_latency_seconds",
            "From a WebSocket request frame read to its ok or error frame made, by op (invalid: "
            "a frame that is not a request).",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.loop_lag = Histogram(
            "tsudoi_event_loop_lag_seconds",
            f"How late the event loop wakes a task that sleeps {LOOP_PROBE_INTERVAL_S} s: how long "
            "any frame or timer may wait for the loop to get to it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.storage_latency = Histogram(
            "tsudoi_storage_latency_seconds",
            "Duration of Storage calls by method name, failed calls included.",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.bus_latency = Histogram(
            "tsudoi_bus_latency_seconds",
            "Duration of Redis bus operations: subscribe, unsubscribe, publish_batch (a pipeline).",
            ["op"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "tsudoi_errors",
            "Error frames sent on WebSockets and HTTP error responses, by error code.",
            ["code"],
            registry=registry,
        )
        self.protocol_violations = Counter(
            "tsudoi_protocol_violations",
            "Connections the WebSocket layer closed because the client broke the protocol, by kind: "
            "invalid_utf8 (1007), too_big (1009), protocol_error (1002).",
            ["kind"],
            registry=registry,
        )
        self.uploads = Counter(
            "tsudoi_uploads",
            "Picture uploads (POST /api/media), by outcome: stored, or the error code that refused "
            "one (too_large, unsupported_format, corrupt, busy, too_many_uploads, ...).",
            ["outcome"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "tsudoi_upload_bytes",
            "Bytes of the variants stored for accepted uploads (a picture stored before, by its "
            "digest, is counted again: this is what uploads wrote, not what the store grew by).",
            registry=registry,
        )
        self.image_processing = Histogram(
            "tsudoi_image_processing_seconds",
            "From an upload handed to the picture pool to its variants made, queueing included; "
            "refused images too.",
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )
        self.media_collected = Counter(
            "tsudoi_media_collected",
            "Uploads the collector released: expired before being attached, or detached (a post "
            "deleted, an avatar replaced).",
            registry=registry,
        )
        self.pushes = Counter(
            "tsudoi_push",
            "Web Push attempts and their ends, by kind (safety, announcement, dm, mention, reply, "
            "incident) and outcome: sent (2xx), retry (429, 5xx, timeout: tried again later), "
            "gone (404/410: the subscription removed, or removed before sending), online (not "
            "sent: the person had a live connection), expired (given up at its TTL), failed "
            "(another answer, or a destination refused).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.push_latency = Histogram(
            "tsudoi_push_send_seconds",
            "One push request to a push service, from sending to its answer.",
            registry=registry,
        )
        self.storage_up = Gauge(
            "tsudoi_storage_up",
            "1 if storage answered a ping within a second at this scrape, else 0.",
            registry=registry,
        )

    async def probe_loop_lag(self) -> None:
        """Run until cancelled: sleep, and record how much later than asked the loop woke us."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_PROBE_INTERVAL_S
            await asyncio.sleep(LOOP_PROBE_INTERVAL_S)
            self.loop_lag.observe(max(0.0, loop.time() - due))

    def handshake_failed(self, code: int) -> None:
        self.handshakes_failed.labels(code=str(int(code))).inc()

    def error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def watch(
        self,
        *,
        connections: Callable[[], Iterable[Connection]],
        delivered: Callable[[], int],
        bus_healthy: Callable[[], bool],
        admission: Admission,
    ) -> None:
        """Read the open connections, the hub's count of frames delivered, the bus state and
        admission control's figures on every scrape (call once, at start-up)."""
        self.registry.register(_NodeCollector(connections, delivered, bus_healthy, admission))

    def render(self) -> bytes:
        """The text exposition of every metric. Call it on the event loop: the collector walks
        the gateway's connections, which only the loop changes."""
        return generate_latest(self.registry)


class _NodeCollector(Collector):
    """Figures computed on scrape from the live objects, so they are exact by construction."""

    def __init__(
        self,
        connections: Callable[[], Iterable[Connection]],
        delivered: Callable[[], int],
        bus_healthy: Callable[[], bool],
        admission: Admission,
    ) -> None:
        self._connections = connections
        self._delivered = delivered
        self._bus_healthy = bus_healthy
        self._admission = admission

    def collect(self) -> Iterator[Metric]:
        by_state = dict.fromkeys(CONNECTION_STATES, 0)
        depth = 0
        for conn in self._connections():
            state = conn.state.value
            if state in by_state:
                by_state[state] += 1
            depth += conn.queue_depth
        connections = GaugeMetricFamily(
            "tsudoi_connections", "Open WebSocket connections on this node, by state.", labels=["state"]
        )
        for state, count in by_state.items():
            connections.add_metric([state], count)
        yield connections
        yield GaugeMetricFamily(
            "tsudoi_send_queue_depth",
            "Entries waiting in the send queues of all connections on this node (a resume's "
            "backlog is one entry).",
            value=depth,
        )
        yield CounterMetricFamily(
            "tsudoi_events_delivered",
            "Event frames fanned out to this node's connections, one per recipient: queued, or "
            "held while a connection resumes (a frame later shed or dropped by a close still counts).",
            value=self._delivered(),
        )
        yield GaugeMetricFamily(
            "tsudoi_bus_up", "1 if the bus delivers between nodes, else 0.", value=int(self._bus_healthy())
        )
        yield GaugeMetricFamily(
            "tsudoi_admission_rate",
            "Handshakes a second this node sets up, as admission control measures it (or as fixed).",
            value=self._admission.rate,
        )
        yield GaugeMetricFamily(
            "tsudoi_handshakes_held",
            "Admitted WebSocket connections whose handshake is not over; new ones are refused "
            "(4007) past what the node sets up within TSUDOI_ADMISSION_WAIT_MS.",
            value=self._admission.pending,
        )
