"""The ASGI application: services are built once at start-up (the lifespan) and injected.

Start-up order: metrics (a registry of this app's own), storage (migrations), bus, domain
services, the node hub, the gateway, the watch for what operators' commands relay through
storage (:mod:`server.relay`). On an empty database a one-time operator invite is made and
printed, so the first account can be created at once. Shut-down closes every WebSocket with
4000 (going away) before the storage closes, so clients reconnect (to this node when it is back,
or to another).

See ``docs/architecture.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from . import webapp
from .blobs import open_blobs
from .bus import open_bus
from .clock import now_ms
from .config import Settings
from .domain import Domain, farewell, present
from .domain.pictures import Pictures
from .gateway.delivered import Delivered
from .gateway.endpoint import Gateway
from .gateway.hub import Hub
from .http import HttpApi, PageFiles
from .media.worker import ImageWorker
from .metrics import Metrics
from .passwords import Passwords
from .presence import open_presence
from .publisher import Publisher
from .push import load_vapid, subject
from .push.sender import PushSender
from .relay import SignalWatch
from .store import open_storage
from .store.base import StorageError
from .webhooks import Destinations, Webhooks, load_signing_key
from .webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class Services:
    gateway: Gateway
    api: HttpApi


def create_app(settings: Settings, *, bootstrap: bool = True) -> Starlette:
    """The application. ``bootstrap``: make and print the first invite on an empty database
    (a worker under ``--workers`` leaves that to its supervisor)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.argon2_profile == "test":
            log.warning("TSUDOI_ARGON2_PROFILE=test: cheap password hashes, for tests only")
        metrics = Metrics()
        store = await open_storage(settings, metrics)
        bus = await open_bus(settings, metrics)
        passwords = Passwords(settings.argon2_profile)
        publisher = Publisher(bus, metrics, late_after_ms=settings.resume_window_ms)
        presence_store = await open_presence(settings)
        domain = Domain.build(store, publisher, passwords, settings, now_ms, presence_store)
        accounts, social = domain.accounts, domain.social
        hub = Hub(
            bus,
            metrics=metrics,
            delivered=Delivered(
                keep_ms=settings.delivered_memory_ms, max_items=settings.delivered_memory_max
            ),
        )
        gateway = Gateway(domain=domain, hub=hub, settings=settings, clock=now_ms, metrics=metrics)
        bus.set_state_handler(gateway.bus_state_changed)
        metrics.watch(
            connections=gateway.open_connections,
            delivered=lambda: hub.events_delivered,
            bus_healthy=lambda: bus.healthy,
            admission=gateway.admission,
        )
        await hub.listen_cluster(gateway.cluster_notice)
        await gateway.start()
        # What `tsudoi admin` relays through storage (server/relay.py), to this node's
        # connections only: every node reads the signals for itself.
        signals = SignalWatch(store, hub.deliver, now_ms, poll_ms=settings.operator_poll_ms)
        await signals.start()
        destinations = Destinations(settings.webhook_allowed)
        webhooks = Webhooks(store, destinations, await load_signing_key(store), now_ms)
        dispatcher = Dispatcher(
            store=store,
            streams=domain.streams,
            destinations=destinations,
            key=webhooks.key,
            settings=settings,
            owner=gateway.node_id,
            clock=now_ms,
        )
        dispatcher.start()
        vapid = await load_vapid(store, subject(settings))
        domain.pushes.public_key = vapid.public_key
        push_sender = PushSender(
            store=store,
            presence=presence_store,
            vapid=vapid,
            settings=settings,
            owner=gateway.node_id,
            clock=now_ms,
            metrics=metrics,
        )
        domain.pushes.on_queued = push_sender.nudge
        push_sender.start()
        loop_probe = asyncio.create_task(metrics.probe_loop_lag(), name="loop lag")
        pictures = Pictures(
            store,
            await open_blobs(settings),
            ImageWorker.from_settings(settings),
            clock=now_ms,
            metrics=metrics,
            pending_max=settings.media_pending_max,
            pending_ttl_ms=settings.media_pending_ttl_ms,
            collect_margin_ms=settings.media_collect_margin_ms,
            blob_grace_ms=settings.media_blob_grace_ms,
        )
        collector = asyncio.create_task(
            pictures.run_collector(settings.media_collect_interval_ms), name="pictures collector"
        )
        # Account deletions a node left part way (PROTOCOL.md 11.14), finished here.
        farewells = asyncio.create_task(
            farewell.run_sweeper(domain, settings.deletion_sweep_ms), name="deletion sweeper"
        )
        # Sessions' last use, noted on the request path and written here in batches.
        session_writer = asyncio.create_task(accounts.run_session_writer(), name="session writer")
        api = HttpApi(
            accounts=accounts,
            social=social,
            gateway=gateway,
            store=store,
            bus=bus,
            settings=settings,
            metrics=metrics,
            webhooks=webhooks,
            pictures=pictures,
            domain=domain,
        )
        app.state.services = Services(gateway=gateway, api=api)
        invite = await accounts.bootstrap_invite() if bootstrap else None
        if invite is not None:
            print_bootstrap_invite(present.invite_url(settings.base_url, invite.code))
        try:
            yield
        finally:
            await drain(app)
            for task in (loop_probe, collector, farewells, session_writer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await pictures.close()
            await dispatcher.stop()
            await push_sender.stop()
            await signals.stop()
            await gateway.stop()
            # The last session uses noted: a stop loses at most what storage refuses now.
            with contextlib.suppress(StorageError):
                await accounts.flush_session_uses()
            await presence_store.close()
            await bus.close()
            await store.close()
            passwords.close()

    async def api_route(request: Request) -> Response:
        return await services(request).api.handle(request)

    async def webhook_route(request: Request) -> Response:
        return await services(request).api.webhook(request)

    async def invite_route(request: Request) -> Response:
        return await services(request).api.invite_info(request)

    async def health_route(request: Request) -> Response:
        return await services(request).api.health(request)

    async def metrics_route(request: Request) -> Response:
        return await services(request).api.metrics(request)

    async def disaster_page_route(request: Request) -> Response:
        return await services(request).api.disaster_page(request)

    async def upload_route(request: Request) -> Response:
        return await services(request).api.upload(request)

    async def picture_route(request: Request) -> Response:
        return await services(request).api.picture(request)

    async def export_route(request: Request) -> Response:
        return await services(request).api.export(request)

    async def spa_route(request: Request) -> Response:
        return await services(request).api.spa(request)

    async def ws_route(websocket: WebSocket) -> None:
        await websocket.app.state.services.gateway(websocket)

    routes = [
        Route("/healthz", health_route, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/api/signup", api_route, methods=["POST"]),
        Route("/api/login", api_route, methods=["POST"]),
        Route("/api/logout", api_route, methods=["POST"]),
        Route("/api/password", api_route, methods=["POST"]),
        Route("/api/account/delete", api_route, methods=["POST"]),
        Route("/api/invites/{code}", invite_route, methods=["GET"]),
        Route("/api/export", export_route, methods=["GET"]),
        Route("/api/disaster-page", disaster_page_route, methods=["GET", "HEAD"]),
        Route("/api/media", upload_route, methods=["POST"]),
        Route("/media/{media_id}/{variant}", picture_route, methods=["GET", "HEAD"]),
        Route("/api/webhook", webhook_route, methods=["GET", "PUT", "DELETE"]),
        Route("/api/webhook/key", webhook_route, methods=["GET"]),
        WebSocketRoute(WS_PATH, ws_route),  # App serves it before routing: listed for completeness
        Mount("/static", PageFiles(), name="static"),
        Route("/sw.js", webapp.service_worker, methods=["GET"]),
        Route("/manifest.webmanifest", webapp.manifest, methods=["GET"]),
        Route("/", spa_route, methods=["GET"]),
        Route("/i/{code}", spa_route, methods=["GET"]),
    ]
    return App(routes=routes, lifespan=lifespan)


#: The gateway's path, which :class:`App` serves without Starlette's routing.
WS_PATH = "/ws"


class App(Starlette):
    """Starlette, with ``/ws`` handed straight to the gateway.

    Starlette's stack wraps every WebSocket in its error and exception middleware, its router and
    a second ``WebSocket`` whose ``send`` goes through an exception wrapper: about 4.5 KiB of
    coroutine frames and objects for the life of each connection, and a layer of awaits on every
    accept, receive and close (BENCHMARKS.md, "Gateway at the runtime's ceiling"). None of it
    does anything for ``/ws``: the gateway answers every fault itself (``Gateway.__call__``
    closes with 1011 rather than letting an exception out), and the route has no parameters. So
    a WebSocket for that exact path skips them; everything else (lifespan, HTTP, other paths)
    goes through Starlette as before."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            root = scope.get("root_path", "")
            path = scope["path"]
            if (path[len(root) :] if root and path.startswith(root) else path) == WS_PATH:
                scope["app"] = self
                services: Services = self.state.services
                await services.gateway(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)


def print_bootstrap_invite(url: str) -> None:
    """Printed for the operator at the console, deliberately not through logging."""
    print(
        f"\nNo accounts yet. Create the first (operator) account here:\n\n    {url}\n",
        file=sys.stderr,
        flush=True,
    )


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def drain(app: Starlette, grace_s: float = 2.0) -> None:
    """Close every WebSocket with 4000 (going away) and wait briefly for the close frames."""
    found: Services | None = getattr(app.state, "services", None)
    if found is None:
        return
    connections = found.gateway.drain()
    if connections:
        await asyncio.wait([asyncio.ensure_future(c.closed.wait()) for c in connections], timeout=grace_s)
