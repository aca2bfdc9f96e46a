"""The node's connection registry and fan-out: who on this node listens to which channel.

The hub holds an index of local connections by channel and by user. It subscribes the node to
a bus channel when the first local connection needs it and unsubscribes after the last one
leaves, so the bus sees one subscription per channel per node however many connections share it.

Fan-out is the hot path: for each bus message the hub looks up the channel's connections and
appends the *same* payload bytes to each one's send queue. No per-recipient encoding happens
here; a connection only prefixes its sequence number when writing (see ``connection.py``). The
one variant is the compact form some clients ask for (``auth.compact``): made from the payload
once per message, on the first recipient that wants it, and shared by all of them in turn.

Metrics stay off the per-recipient path: a fan-out adds its number of recipients to a counter
once, after the loop, and fan-out latency is *sampled*, one recipient per fan-out. The hub reads
the clock once as the message arrives (for an event published on this node, that is the moment
of publishing: both buses deliver a node's own publishes inside ``publish``) and hands that time
to the connection the loop reached last (``Connection.probe``), which observes the latency when
the frame goes to the transport. So a fan-out of any size costs one clock read, one integer
addition and one probe. The sampled recipient is whichever the channel's member set yields last:
arbitrary, but stable while the membership is, so one channel's samples come from one
connection at a time and many channels spread them over many. When that recipient holds the
frame (resuming, or answering the request that caused it: often the author's own connection)
or refuses it (closing), the member the set yields first is sampled instead, if it can be. For a
message from another node
the clock starts when it arrives here: the Redis hop is not included.

Hidden users: a connection whose user mutes or blocks someone (or is blocked by them) must not
receive events that person caused. The hub keeps, per hidden user, the local connections hiding
them; a message whose origin nobody here hides (the common case) is fanned out by the plain loop,
so hiding costs nothing per recipient unless it applies. A message marked "by origin only" (an
announcement's notification, published to its community) is left out by the origin's own
connections instead: nobody is notified of their own doing.

The hub remembers the stream positions it fans out, once per message (``delivered.py``): after
a bus outage that is how the node knows what its connections already have.

Control messages on ``ctl:<user>`` channels never reach clients: the hub hands them to the
control handler the gateway installs (see ``endpoint.py``).

See ``docs/topics/fanout.md`` for fan-out as a whole: its guarantees, trade-offs and costs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable

from protocol.codec import compact_tail
from protocol.errors import CloseCode

from .. import channels
from ..bus.base import Bus
from ..metrics import Metrics
from .connection import Connection
from .delivered import Delivered

#: Receives (user id, payload) for each control message addressed to a user.
ControlHandler = Callable[[str, bytes], None]

log = logging.getLogger(__name__)


class Hub:
    def __init__(self, bus: Bus, *, metrics: Metrics, delivered: Delivered | None = None) -> None:
        self._bus = bus
        #: The stream positions fanned out here, for filling a bus outage's gap (delivered.py).
        self.delivered = delivered or Delivered(keep_ms=60_000, max_items=100_000)
        #: Event frames fanned out to local connections since start-up (a metric, read on scrape:
        #: a plain integer costs a tenth of a prometheus_client Counter's locked increment).
        self.events_delivered = 0
        self._bus_latency = metrics.bus_latency
        #: Per channel, its local connections: the connection itself while it is the only one
        #: (most channels are one person's own: their DMs, notifications, control), a set once
        #: there are more. A set costs 216 bytes however small; a one-member set per personal
        #: channel was about 0.7 KiB of every idle connection (BENCHMARKS.md, issue 18).
        self._members: dict[str, Connection | set[Connection]] = {}
        self._by_user: dict[str, set[Connection]] = {}
        #: Per hidden user id, the local connections hiding them; and per connection, whom it hides.
        self._hiders: dict[str, set[Connection]] = {}
        self._hides: dict[Connection, set[str]] = {}
        self._subscribed: set[str] = set()
        self._transitions: dict[str, asyncio.Task[None]] = {}
        self._on_control: ControlHandler = lambda user_id, payload: None
        self._on_cluster: Callable[[bytes], None] = lambda payload: None
        #: A bus that can (un)subscribe synchronously (the in-process one) offers these; then a
        #: channel with no transition in flight changes at once, with no task, shield or await.
        self._subscribe_now: Callable[[str], None] | None = getattr(bus, "subscribe_now", None)
        self._unsubscribe_now: Callable[[str], None] | None = getattr(bus, "unsubscribe_now", None)
        bus.set_handler(self.deliver)

    def set_control_handler(self, handler: ControlHandler) -> None:
        self._on_control = handler

    async def listen_cluster(self, handler: Callable[[bytes], None]) -> None:
        """Subscribe this node to the cluster channel, whatever its connections."""
        self._on_cluster = handler
        await self._bus.subscribe(channels.CLUSTER)

    # --- membership ---------------------------------------------------------------------------

    async def attach(self, conn: Connection, wanted: Iterable[str]) -> None:
        """Register an authenticated connection; returns once every channel is subscribed."""
        if conn.user_id is None:
            raise ValueError("attach() needs an authenticated connection")
        self._by_user.setdefault(conn.user_id, set()).add(conn)
        await self.add_channels(conn, wanted)

    async def add_channels(self, conn: Connection, wanted: Iterable[str]) -> None:
        waits: list[str] = []
        for channel in wanted:
            if channel in conn.channels:
                continue
            conn.channels.add(channel)
            members = self._members.get(channel)
            if members is None:
                self._members[channel] = conn
            elif isinstance(members, set):
                members.add(conn)
            elif members is not conn:
                self._members[channel] = {members, conn}
            if channel in self._subscribed:
                continue
            # With no transition in flight, nothing can be ordered after this one: subscribing
            # synchronously ends in the state the transition would have reached.
            if self._subscribe_now is not None and channel not in self._transitions:
                self._subscribe_now(channel)
                self._subscribed.add(channel)
            else:
                waits.append(channel)
        if waits:
            await asyncio.gather(*(self._ensure_subscribed(channel) for channel in waits))

    def remove_channel(self, conn: Connection, channel: str) -> None:
        conn.channels.discard(channel)
        members = self._members.get(channel)
        if isinstance(members, set):
            members.discard(conn)
            if len(members) == 1:
                (self._members[channel],) = members
        elif members is conn:
            del self._members[channel]
            if self._unsubscribe_now is not None and channel not in self._transitions:
                self._unsubscribe_now(channel)  # as in add_channels
                self._subscribed.discard(channel)
            else:
                self._schedule_transition(channel)

    def hide(self, conn: Connection, user_ids: Iterable[str]) -> None:
        """Stop delivering to ``conn`` the events these users cause."""
        user_ids = list(user_ids)
        if not user_ids:
            return  # most connections hide nobody: keep no entry for them
        hidden = self._hides.setdefault(conn, set())
        for user_id in user_ids:
            hidden.add(user_id)
            self._hiders.setdefault(user_id, set()).add(conn)

    def unhide(self, conn: Connection, user_ids: Iterable[str]) -> None:
        hidden = self._hides.get(conn)
        if hidden is None:
            return
        for user_id in user_ids:
            hidden.discard(user_id)
            hiders = self._hiders.get(user_id)
            if hiders is not None:
                hiders.discard(conn)
                if not hiders:
                    del self._hiders[user_id]
        if not hidden:
            del self._hides[conn]

    def hidden(self, conn: Connection) -> frozenset[str]:
        """Whom ``conn`` hides."""
        return frozenset(self._hides.get(conn, ()))

    def detach(self, conn: Connection) -> None:
        """Forget a connection (idempotent)."""
        for channel in list(conn.channels):
            self.remove_channel(conn, channel)
        self.unhide(conn, list(self._hides.get(conn, ())))
        if conn.user_id is not None:
            users = self._by_user.get(conn.user_id)
            if users is not None:
                users.discard(conn)
                if not users:
                    del self._by_user[conn.user_id]

    def connections(self) -> list[Connection]:
        return [conn for conns in self._by_user.values() for conn in conns]

    def user_connections(self, user_id: str) -> list[Connection]:
        return list(self._by_user.get(user_id, ()))

    # --- bus subscriptions, reference-counted --------------------------------------------------

    async def _ensure_subscribed(self, channel: str) -> None:
        if channel in self._subscribed:
            return
        task = self._transitions.get(channel) or self._schedule_transition(channel)
        await asyncio.shield(task)
        if channel in self._members and channel not in self._subscribed:
            # A pending unsubscribe finished first; this transition subscribes again.
            await asyncio.shield(self._transitions.get(channel) or self._schedule_transition(channel))

    def _schedule_transition(self, channel: str) -> asyncio.Task[None]:
        task = self._transitions.get(channel)
        if task is None:
            task = asyncio.create_task(self._transition(channel))
            self._transitions[channel] = task
        return task

    async def _transition(self, channel: str) -> None:
        """Bring the bus subscription in line with local demand, one change at a time.

        If demand changed while the bus call was in flight, the next transition follows. If the
        bus call failed, none does: retrying is the bus adapter's job when it reconnects."""
        try:
            if channel in self._members and channel not in self._subscribed:
                started = time.perf_counter()
                await self._bus.subscribe(channel)
                self._bus_latency.labels(op="subscribe").observe(time.perf_counter() - started)
                self._subscribed.add(channel)
            elif channel not in self._members and channel in self._subscribed:
                started = time.perf_counter()
                await self._bus.unsubscribe(channel)
                self._bus_latency.labels(op="unsubscribe").observe(time.perf_counter() - started)
                self._subscribed.discard(channel)
        except Exception:
            log.exception("bus (un)subscribe of %s failed", channel)
            return
        finally:
            del self._transitions[channel]
        if (channel in self._members) != (channel in self._subscribed):
            self._schedule_transition(channel)

    # --- delivery ------------------------------------------------------------------------------

    def deliver(self, channel: str, payload: bytes) -> None:
        """The bus handler: fan one message out to this node's connections."""
        if channel.startswith(channels.CONTROL_PREFIX):
            self._on_control(channel.removeprefix(channels.CONTROL_PREFIX), payload)
            return
        if channel == channels.CLUSTER:
            self._on_cluster(payload)
            return
        found = self._members.get(channel)
        if found is not None:
            members: Collection[Connection] = (found,) if isinstance(found, Connection) else found
            started = time.perf_counter()
            tail, pos, origin, priority, by_origin_only = channels.open_envelope(payload)
            if pos is not None:
                self.delivered.add(pos)
            if origin is not None:
                left_out = (self._by_user if by_origin_only else self._hiders).get(origin)
                if left_out:
                    members = [conn for conn in members if conn not in left_out]
                    if not members:
                        return
            # The compact tail is made for the first connection that asked for compact events.
            # Two loops, so that the common call passes no keyword.
            compact = None
            if priority:
                for conn in members:
                    if conn.compact:
                        compact = compact or compact_tail(tail)
                        conn.push_event(compact, pos, priority=True)
                    else:
                        conn.push_event(tail, pos, priority=True)
            else:
                for conn in members:
                    if conn.compact:
                        compact = compact or compact_tail(tail)
                        conn.push_event(compact, pos)
                    else:
                        conn.push_event(tail, pos)
            # Once per fan-out, never per recipient (see the module docstring): count them all,
            # and sample the latency on the connection the loop reached last.
            self.events_delivered += len(members)
            # What each was given: a compact recipient means the compact tail was made.
            if (
                not conn.probe((compact or tail) if conn.compact else tail, started, priority)
                and len(members) > 1
            ):
                first = next(iter(members))
                first.probe((compact or tail) if first.compact else tail, started, priority)

    def deliver_all(self, payload: bytes) -> None:
        """Hand one event envelope to every connection on this node (incidents)."""
        tail, pos, _, priority, _ = channels.open_envelope(payload)
        if pos is not None:
            self.delivered.add(pos)
        count = 0
        compact = None
        for conns in self._by_user.values():
            for conn in conns:
                if conn.compact:
                    compact = compact or compact_tail(tail)
                    conn.push_event(compact, pos, priority=priority)
                else:
                    conn.push_event(tail, pos, priority=priority)
                count += 1
        self.events_delivered += count

    def publish_cluster(self, payload: bytes) -> None:
        self._bus.publish(channels.CLUSTER, payload)

    def close_all(self, code: CloseCode) -> None:
        for conn in self.connections():
            conn.close(code)
