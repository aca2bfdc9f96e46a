"""Plain-HTTP routes: sign-up, log-in, log-out, password change, invite info, picture upload
and serving, health, metrics, the SPA.

Sessions reach the server either as ``Authorization: Bearer <token>`` (bots, the SDK) or as the
HttpOnly, SameSite=Strict ``tsudoi_session`` cookie (browsers). Cookie-authenticated requests
that change state must come from the server's own Origin.
"""

from __future__ import annotations

import asyncio
import logging
import os
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import orjson
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

import web
from protocol.codec import format_timestamp
from protocol.errors import ErrorCode, ProtocolError
from protocol.http import (
    AccountDeleteRequest,
    ComponentHealth,
    DisasterPage,
    ErrorBody,
    ErrorDetail,
    Health,
    InviteInfo,
    LoginRequest,
    PasswordChangeRequest,
    SessionResponse,
    SignupRequest,
    UploadResponse,
    WebhookSetRequest,
)

from . import __version__, export
from .bus.base import Bus
from .config import Settings
from .domain import Domain, farewell, present, useragent
from .domain.accounts import Accounts, Session, SignupForm
from .domain.devices import DEVICE_TTL_MS
from .domain.pictures import Pictures
from .domain.social import Social
from .gateway.endpoint import SESSION_COOKIE, Gateway
from .gzipped import accepts_gzip, compressible, gzipped
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .ratelimit import RateLimiter
from .store.base import Storage, StorageUnavailable, UserRecord
from .webhooks import Webhooks

#: Archives (``GET /api/export``): a few in a row, then one per ten minutes, per user. Each
#: reads everything the user has; the budget keeps a script from making that a load.
EXPORT_BURST = 3
EXPORT_REFILL_MS = 600_000

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
#: A known device's log-in token (server/domain/devices.py): a cookie for browsers, a header
#: for other clients.
DEVICE_COOKIE = "tsudoi_device"
DEVICE_HEADER = "x-tsudoi-device"
WEB_ROOT = web.ROOT
#: No inline script or style, no foreign origins, no framing: user text can never become code.
#: ``blob:`` images are the composer's previews of pictures being attached (object URLs the page
#: made from the files the person chose), never anything from elsewhere. The one worker is
#: /sw.js and the one manifest /manifest.webmanifest (server/webapp.py), both same-origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: A scrape waits this long for the storage ping before reporting storage down (scrapers time
#: out after 10 s by default; a ping slower than this is an outage for practical purposes).
METRICS_PING_TIMEOUT_S = 1.0
_STATUS = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.ORIGIN_REJECTED: 403,
    ErrorCode.NOT_A_BOT: 403,
    ErrorCode.WEBHOOK_NOT_ALLOWED: 422,
    ErrorCode.INVITE_NOT_FOUND: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.HANDLE_TAKEN: 409,
    ErrorCode.INVITE_USED: 410,
    ErrorCode.INVITE_EXPIRED: 410,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.TOO_MANY_UPLOADS: 429,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_FORMAT: 415,
    ErrorCode.BUSY: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
_B = TypeVar("_B", bound=msgspec.Struct)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(msgspec.to_builtins(body)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error_response(error: ProtocolError) -> Response:
    detail = ErrorDetail(
        code=error.code, message=error.message, path=error.path, retry_after_ms=error.retry_after_ms
    )
    headers = None
    if error.retry_after_ms is not None:
        headers = {"Retry-After": str(max(1, -(-error.retry_after_ms // 1000)))}
    return json_response(ErrorBody(error=detail), _STATUS.get(error.code, 422), headers)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None without one."""
    authorization = request.headers.get("authorization", "")
    return authorization[7:].strip() if authorization.lower().startswith("bearer ") else None


async def read_body(request: Request, body_type: type[_B]) -> _B:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "send a JSON body (Content-Type: application/json)")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, f"body over {MAX_BODY_BYTES} bytes")
    try:
        return msgspec.convert(orjson.loads(raw), body_type)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "the body is not JSON") from None
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, str(exc)) from None


class HttpApi:
    def __init__(
        self,
        *,
        accounts: Accounts,
        social: Social,
        gateway: Gateway,
        store: Storage,
        bus: Bus,
        settings: Settings,
        metrics: Metrics,
        webhooks: Webhooks,
        pictures: Pictures,
        domain: Domain,
    ) -> None:
        self._accounts = accounts
        self._social = social
        self._gateway = gateway
        self._store = store
        self._bus = bus
        self._settings = settings
        self._metrics = metrics
        self._webhooks = webhooks
        self._pictures = pictures
        self._uploads = RateLimiter(settings.upload_burst, settings.upload_refill_ms)
        self._domain = domain
        self._exports = RateLimiter(EXPORT_BURST, EXPORT_REFILL_MS)

    def _address(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def _agent(self, request: Request) -> str:
        """The device's description for the sessions list, from its User-Agent."""
        return useragent.describe(request.headers.get("user-agent"))

    async def _session_response(self, session: Session, status: int) -> Response:
        profile = await self._social.profile_of(session.user, session.user)
        body = SessionResponse(user=profile, token=session.token, session_id=session.session.id)
        response = json_response(body, status)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=self._settings.session_ttl_ms // 1000,
            httponly=True,
            samesite="strict",
            secure=self._settings.secure_cookies,
        )
        return response

    def _token(self, request: Request) -> str:
        """The request's session token; cookie use demands a same-origin request."""
        bearer = bearer_token(request)
        if bearer is not None:
            return bearer
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
        origin = request.headers.get("origin")
        if origin is None or not self._gateway.origin_allowed(origin, request.headers.get("host", "")):
            raise ProtocolError(ErrorCode.ORIGIN_REJECTED)
        return token

    async def handle(self, request: Request) -> Response:
        """The /api/* routes, each guarded (see ``_guarded``)."""
        handler = {
            "/api/signup": self.signup,
            "/api/login": self.login,
            "/api/logout": self.logout,
            "/api/password": self.password,
            "/api/account/delete": self.delete_account,
        }[request.url.path]
        return await self._guarded(handler(request))

    async def webhook(self, request: Request) -> Response:
        """``/api/webhook`` (a bot's own, by its bearer token) and ``/api/webhook/key``."""

        async def run() -> Response:
            if request.url.path.endswith("/key"):
                return json_response(self._webhooks.key_info())
            found = await self._accounts.authenticate(self._token(request))
            if found is None:
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
            user = found[0]
            if request.method == "PUT":
                body = await read_body(request, WebhookSetRequest)
                return json_response(await self._webhooks.register(user, body.url))
            if request.method == "DELETE":
                return json_response(await self._webhooks.remove(user))
            return json_response(await self._webhooks.get(user))

        return await self._guarded(run())

    async def signup(self, request: Request) -> Response:
        body = await read_body(request, SignupRequest)
        form = SignupForm(
            invite_code=body.invite_code,
            handle=body.handle,
            display_name=body.display_name,
            password=body.password,
            birth_date=body.birth_date,
            accept_terms=body.accept_terms,
        )
        session = await self._accounts.signup(form, self._address(request), self._agent(request))
        return await self._session_response(session, 201)

    async def login(self, request: Request) -> Response:
        """Log in; the answer also sets the device cookie (section 11.4 of PROTOCOL.md), which
        the next log-in from this device presents: as the cookie (browsers), or in the
        ``X-Tsudoi-Device`` header (bots and the SDK, which read it from ``Set-Cookie``)."""
        body = await read_body(request, LoginRequest)
        presented = request.headers.get(DEVICE_HEADER) or request.cookies.get(DEVICE_COOKIE)
        session = await self._accounts.login(
            body.handle, body.password, self._address(request), presented, self._agent(request)
        )
        response = await self._session_response(session, 200)
        if session.device_token is not None:
            # Sent to the log-in route only: no other request needs it.
            response.set_cookie(
                DEVICE_COOKIE,
                session.device_token,
                max_age=DEVICE_TTL_MS // 1000,
                path="/api/login",
                httponly=True,
                samesite="strict",
                secure=self._settings.secure_cookies or self._settings.base_url.startswith("https://"),
            )
        return response

    async def logout(self, request: Request) -> Response:
        await self._accounts.logout(self._token(request))
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    async def password(self, request: Request) -> Response:
        token = self._token(request)
        body = await read_body(request, PasswordChangeRequest)
        session = await self._accounts.change_password(
            token, body.old_password, body.new_password, self._address(request), self._agent(request)
        )
        return await self._session_response(session, 200)

    async def export(self, request: Request) -> Response:
        """``GET /api/export``: the user's own data as a JSON archive (:mod:`server.export`),
        streamed. By bearer token, or by the session cookie from this site: a download link
        sends no Origin, so one that is sent must be allowed, and a request the browser marks
        as coming from another site (``Sec-Fetch-Site``) is refused; the cookie being
        SameSite=Strict, another site's page never sends it anyway."""

        async def run() -> Response:
            token = self._reader_token(request)
            found = await self._accounts.authenticate(token) if token else None
            if found is None:
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
            user = found[0]
            wait = self._exports.hit(user.id)
            if wait:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "too many archives", retry_after_ms=wait)
            now = self._accounts.now()
            day = format_timestamp(now)[:10]
            return StreamingResponse(
                export.archive(self._domain, user, now),
                media_type="application/json",
                headers={
                    "Content-Disposition": f'attachment; filename="tsudoi-{user.handle}-{day}.json"',
                    "Cache-Control": "no-store",
                },
            )

        return await self._guarded(run())

    def _reader_token(self, request: Request) -> str | None:
        """The token of a GET that reads private data: bearer, or the cookie of a same-site
        request (see :meth:`export`)."""
        bearer = bearer_token(request)
        if bearer is not None:
            return bearer
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        origin = request.headers.get("origin")
        if origin is not None and not self._gateway.origin_allowed(origin, request.headers.get("host", "")):
            raise ProtocolError(ErrorCode.ORIGIN_REJECTED)
        if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            raise ProtocolError(ErrorCode.ORIGIN_REJECTED)
        return token

    async def delete_account(self, request: Request) -> Response:
        """Delete the account, with its password (:mod:`server.domain.farewell`)."""
        token = self._token(request)
        body = await read_body(request, AccountDeleteRequest)
        await farewell.delete_account(self._domain, token, body.password, self._address(request))
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    async def invite_info(self, request: Request) -> Response:
        async def run() -> Response:
            invite, inviter = await self._accounts.invite_info(request.path_params["code"])
            body = InviteInfo(
                inviter=present.user(inviter) if inviter else None,
                expires_at=format_timestamp(invite.expires_ms),
            )
            return json_response(body)

        return await self._guarded(run())

    async def disaster_page(self, request: Request) -> Response:
        """``GET /api/disaster-page``: public, since someone in a disaster may be unable to sign
        in. Revalidated on each use (``no-cache``) and answered 304 while its ETag holds, so an
        operator's change reaches everyone at once and an unchanged page costs a few bytes."""

        async def run() -> Response:
            page = await self._domain.disaster_page.get()
            headers = {
                "ETag": page.etag,
                "Cache-Control": "public, no-cache",
                "X-Content-Type-Options": "nosniff",
            }
            if page.etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
                return Response(status_code=304, headers=headers)
            updated_at = format_timestamp(page.updated_ms) if page.updated_ms is not None else None
            body = DisasterPage(
                markdown=page.markdown, html=page.html, updated_at=updated_at, default=page.default
            )
            return json_response(body, headers=headers)

        return await self._guarded(run())

    async def upload(self, request: Request) -> Response:
        """``POST /api/media?kind=post|avatar``: the body is the picture's bytes, whatever its
        Content-Type says (the format is read from the bytes)."""

        async def run() -> Response:
            user = await self._user(request, required=True)
            assert user is not None
            kind = request.query_params.get("kind", "post")
            if kind not in ("post", "avatar"):
                raise ProtocolError(ErrorCode.INVALID_REQUEST, "kind is post or avatar", path="$.kind")
            wait = self._uploads.hit(user.id)
            if wait:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "uploading too fast", retry_after_ms=wait)
            data = await self._picture_body(request)
            media, expires_ms = await self._pictures.upload(user, data, kind)  # type: ignore[arg-type]
            return json_response(UploadResponse(media=media, expires_at=format_timestamp(expires_ms)), 201)

        return await self._guarded(run())

    async def _picture_body(self, request: Request) -> bytes:
        """The body, refused as ``too_large`` as soon as it is known to pass the bound: from
        Content-Length before a byte is read, else while reading."""
        limit = self._settings.media_max_bytes
        too_large = ProtocolError(ErrorCode.TOO_LARGE, f"a picture has at most {limit} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise too_large
        if not body:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "send the picture's bytes as the body")
        return bytes(body)

    async def picture(self, request: Request) -> Response:
        """``GET /media/{id}/{variant}``: a picture's variant, to whoever may see it. Public ones
        are cached for a year by anyone (the URL's bytes never change); the others only by the
        browser, which asks again each time (``no-cache``) so that access is checked again and
        answered 304 when it still holds."""

        async def run() -> Response:
            served = await self._pictures.served(
                lambda: self._user(request, required=False),
                request.path_params["media_id"],
                request.path_params["variant"],
            )
            etag = f'"{served.digest}"'
            headers = {
                "ETag": etag,
                "Cache-Control": "public, max-age=31536000, immutable"
                if served.public
                else "private, no-cache",
                "X-Content-Type-Options": "nosniff",
                # Opened on its own, a picture is a picture: nothing in it may run or load.
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cross-Origin-Resource-Policy": "same-origin",
                "Referrer-Policy": "no-referrer",
            }
            if etag in (tag.strip() for tag in request.headers.get("if-none-match", "").split(",")):
                return Response(status_code=304, headers=headers)
            return Response(served.data, media_type=served.content_type, headers=headers)

        return await self._guarded(run())

    async def _user(self, request: Request, *, required: bool) -> UserRecord | None:
        """The signed-in user: by bearer token, or by the session cookie. A request that
        changes state (``required``) must carry the page's Origin with a cookie; a picture's
        GET, which an ``<img>`` makes without one, need not: the cookie is SameSite=Strict, so
        another site's page never sends it."""
        if required:
            token = self._token(request)
        else:
            token = bearer_token(request) or request.cookies.get(SESSION_COOKIE, "")
            if not token:
                return None
        found = await self._accounts.authenticate(token)
        if found is None:
            if required:
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
            return None
        return found[0]

    async def health(self, request: Request) -> Response:
        try:
            await self._store.ping()
            storage = ComponentHealth(ok=True)
            self._gateway.storage_outage.recovered()
        except Exception as exc:
            storage = ComponentHealth(ok=False, error=str(exc)[:200])
        bus = ComponentHealth(ok=self._bus.healthy, error=None if self._bus.healthy else "bus down")
        doorman = getattr(request.app.state, "doorman", None)  # server/guard.py, under `tsudoi serve`
        limits = doorman.report() if doorman is not None else None
        body = Health(version=__version__, storage=storage, bus=bus, limits=limits)
        return json_response(body, 200 if storage.ok and bus.ok else 503)

    async def metrics(self, request: Request) -> Response:
        """Prometheus text format, for operators' scrapers: no authentication, as no figure names
        a user, channel or secret (see :mod:`server.metrics`). Pings storage first."""
        try:
            async with asyncio.timeout(METRICS_PING_TIMEOUT_S):
                await self._store.ping()
            self._metrics.storage_up.set(1)
        except Exception:
            self._metrics.storage_up.set(0)
        return Response(self._metrics.render(), media_type=METRICS_CONTENT_TYPE)

    async def _guarded(self, work: Any) -> Response:
        """Route wrapper: every ProtocolError becomes its JSON error, storage faults a 503, any
        other fault a 500; each error response is counted by its code."""
        try:
            response: Response = await work
            return response
        except ProtocolError as exc:
            error = exc
        except StorageUnavailable as exc:
            self._gateway.storage_outage.failed(exc)  # one line per outage, not per request
            error = ProtocolError(ErrorCode.UNAVAILABLE)
        except Exception:
            log.exception("unexpected fault in an HTTP request")
            error = ProtocolError(ErrorCode.INTERNAL)
        self._metrics.error(error.code.value)
        return error_response(error)

    async def spa(self, request: Request) -> Response:
        """The single page for every client-side route (/, /i/CODE, ...)."""
        return FileResponse(WEB_ROOT / "index.html", headers=security_headers())


class PageFiles(StaticFiles):
    """``web/`` served as ``/static/``, less the Python that makes the folder a package (so that
    a wheel carries the page): ``__init__.py`` and its bytecode are not part of the page."""

    def __init__(self) -> None:
        super().__init__(directory=WEB_ROOT)

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path.endswith((".py", ".pyc")) or "__pycache__" in Path(path).parts:
            raise HTTPException(status_code=404)
        return await super().get_response(path, scope)

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        """Text files gzipped for a browser that takes it (:mod:`server.gzipped`); the rest, and
        every file for a client that does not, as StaticFiles serves them. 304 either way."""
        path = os.fspath(full_path)
        request_headers = Headers(scope=scope)
        if status_code != 200 or not compressible(path):
            return super().file_response(full_path, stat_result, scope, status_code)
        if not accepts_gzip(request_headers.get("accept-encoding", "")):
            response = super().file_response(full_path, stat_result, scope, status_code)
            response.headers["vary"] = "Accept-Encoding"
            return response
        body, headers = gzipped(path, stat_result)
        if self.is_not_modified(Headers(headers=headers), request_headers):
            return NotModifiedResponse(Headers(headers=headers))
        response = Response(body, headers=headers)
        if scope["method"] == "HEAD":
            response.body = b""
        return response


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
