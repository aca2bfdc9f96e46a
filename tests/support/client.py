"""A small test client over a real WebSocket. Every frame it receives is schema-validated.

Deliberately minimal: it exposes raw frames so tests can see exactly what the server sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol.messages import EVENT_BY_TYPE
from protocol.sdk.decoding import normalise

from .schema import validate
from .server import ServerProcess, tsudoi

_ids = itertools.count(1)
_handles = itertools.count(1)


class ErrorFrame(Exception):
    def __init__(self, frame: dict[str, Any]) -> None:
        super().__init__(f"{frame['code']}: {frame['message']}")
        self.frame = frame
        self.code: str = frame["code"]


@dataclass
class Account:
    id: str
    handle: str
    password: str
    token: str


def _neutral_members(value: Any, path: str = "$") -> list[str]:
    """Where in ``value`` an object member is null, false or []: none in a compact event."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None or item is False or item == []:
                found.append(f"{path}.{key}")
            found += _neutral_members(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += _neutral_members(item, f"{path}[{n}]")
    return found


def read_compact(frame: dict[str, Any]) -> None:
    """Check that an event frame is compact (PROTOCOL.md section 3.5), then make its data whole,
    in place, as the SDK reads it (an unknown type is left as it is)."""
    left = _neutral_members(frame.get("data"))
    assert not left, f"{frame.get('type')} event is not compact: {left}"
    model = EVENT_BY_TYPE.get(frame.get("type"))  # type: ignore[arg-type]
    if model is not None and isinstance(frame.get("data"), dict):
        normalise(frame["data"], model)


class Client:
    #: Clients opened by the current test; conftest closes them and checks their frames.
    opened: ClassVar[list[Client]] = []

    def __init__(self, ws: ClientConnection) -> None:
        Client.opened.append(self)
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.raw_events: list[bytes] = []
        #: Every frame received after ``hello``, in arrival order (events and answers together).
        self.arrivals: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None
        #: Asked for compact events (``auth.compact``): each event's data is checked to be
        #: compact, then read back whole (as the SDK does) before anything else sees it.
        self.compact = False
        self.ready: dict[str, Any] | None = None
        #: The last position seen per stream, as a client keeps them to resume.
        self.cursors: dict[str, str] = {}
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._pending: dict[str, tuple[str, asyncio.Future[dict[str, Any]]]] = {}
        self._violations: list[BaseException] = []
        #: The ops of requests sent with each id, oldest first (the server answers in order),
        #: to validate an ok frame against its request's result type.
        self._sent_ops: dict[object, deque[str]] = defaultdict(deque)
        self._answered: set[str] = set()
        self._closed = asyncio.Event()
        self._hello = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server: ServerProcess, subprotocols: list[str] | None = None, **kw: Any) -> Client:
        protocols = ["tsudoi.v1"] if subprotocols is None else subprotocols
        ws = await connect(server.ws_url, subprotocols=protocols or None, max_size=2**22, **kw)  # type: ignore[arg-type]
        return cls(ws)

    @classmethod
    async def login(
        cls,
        server: ServerProcess,
        token: str,
        cursors: dict[str, str] | None = None,
        recent: list[str] | None = None,
        *,
        compact: bool = False,
    ) -> Client:
        """Connect, authenticate (with ``recent`` positions, if given, and asking for compact
        events if ``compact``), and wait for ready."""
        client = await cls.open(server)
        client.cursors = dict(cursors or {})
        client.compact = compact
        auth: dict[str, Any] = {"op": "auth", "token": token, "cursors": cursors}
        if recent is not None:
            auth["recent"] = recent
        if compact:
            auth["compact"] = True
        await client.send(auth)
        frame = await client.next_frame()
        if frame.get("op") != "ready":
            raise AssertionError(f"expected ready, got {frame} (close {client.close_code})")
        client.ready = frame
        return client

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = orjson.loads(message)
                if self.compact and frame.get("op") == "event":
                    try:
                        read_compact(frame)
                    except AssertionError as exc:
                        self._violations.append(exc)
                request_op = None
                if frame.get("op") in ("ok", "error"):
                    ops = self._sent_ops.get(frame.get("id"))
                    request_op = ops.popleft() if ops else None
                    if frame.get("id") in self._pending:
                        request_op, future = self._pending.pop(frame["id"])
                        if not future.done():
                            future.set_result(frame)
                try:
                    validate(frame, request_op if frame.get("op") == "ok" else None)
                except AssertionError as exc:
                    self._violations.append(exc)
                if frame.get("op") == "hello":
                    self.hello = frame
                    self._hello.set()
                    continue
                self.arrivals.append(frame)
                if frame.get("op") == "event":
                    if frame.get("pos"):
                        self.cursors[frame["stream"]] = frame["pos"]
                    assert isinstance(message, str)
                    self.raw_events.append(message.encode())
                    await self.events.put(frame)
                elif frame.get("id") is None or frame["id"] not in self._answered:
                    await self.frames.put(frame)
        except ConnectionClosed:
            pass
        finally:
            if self.ws.close_code is not None:
                self.close_code = self.ws.close_code
                self.close_reason = self.ws.close_reason
            self._closed.set()
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError(f"closed {self.close_code}"))

    @property
    def cursor(self) -> str | None:
        """The following stream's cursor."""
        return self.cursors.get("following")

    async def wait_hello(self, timeout: float = 10) -> dict[str, Any]:
        await asyncio.wait_for(self._hello.wait(), timeout)
        assert self.hello is not None
        return self.hello

    def check(self) -> None:
        """Raise the first schema violation seen on this connection."""
        if self._violations:
            raise self._violations[0]

    async def send(self, frame: dict[str, Any]) -> None:
        self._remember(frame)
        await self.ws.send(orjson.dumps(frame).decode())

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                self._remember(orjson.loads(data))
        await self.ws.send(data)

    def _remember(self, frame: object) -> None:
        """Note the op of a request, so its ok frame can be validated against the op's result."""
        if isinstance(frame, dict) and isinstance(frame.get("id"), str) and isinstance(frame.get("op"), str):
            self._sent_ops[frame["id"]].append(frame["op"])

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send a request; return its ok frame's data or raise ErrorFrame."""
        frame = await self.call_frame(op, **args)
        if frame["op"] == "error":
            raise ErrorFrame(frame)
        data: dict[str, Any] = frame["data"]
        return data

    async def call_frame(self, op: str, timeout: float = 10, **args: Any) -> dict[str, Any]:
        request_id = f"r{next(_ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (op, future)
        self._answered.add(request_id)
        await self.send({"op": op, "id": request_id, **args})
        return await asyncio.wait_for(future, timeout)

    async def next_frame(self, timeout: float = 10) -> dict[str, Any]:
        """The next non-event, non-reply frame (ready, error with no id, ...)."""
        getter = asyncio.ensure_future(self.frames.get())
        closed = asyncio.ensure_future(self._closed.wait())
        done, _ = await asyncio.wait({getter, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if closed in done:
            return {"op": "<closed>", "code": self.close_code, "reason": self.close_reason}
        raise TimeoutError("no frame")

    async def next_event(self, type_: str | None = None, timeout: float = 10) -> dict[str, Any]:
        while True:
            event = await asyncio.wait_for(self.events.get(), timeout)
            if type_ is None or event["type"] == type_:
                return event

    async def events_now(self, settle: float = 0.3) -> list[dict[str, Any]]:
        """Every event received so far, after a short quiet period."""
        await asyncio.sleep(settle)
        found = []
        while not self.events.empty():
            found.append(self.events.get_nowait())
        return found

    @property
    def gone(self) -> bool:
        """The connection has closed and its reader has stopped."""
        return self._closed.is_set()

    async def closed(self, timeout: float = 10) -> int | None:
        await asyncio.wait_for(self._closed.wait(), timeout)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait([self._reader], timeout=5)
        self.check()


class Users:
    """Makes accounts on a test server through the real HTTP API and real invites."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.url, timeout=15)

    async def signup(self, invite_code: str, handle: str, **overrides: Any) -> httpx.Response:
        body = {
            "invite_code": invite_code,
            "handle": handle,
            "display_name": handle.capitalize(),
            "password": f"{handle}-password-long",
            "birth_date": "1990-04-01",
            "accept_terms": True,
            **overrides,
        }
        return await self.http.post("/api/signup", json=body)

    async def _root(self) -> Account:
        """The server's first account, made once through its bootstrap invite."""
        if self.server.root is None:
            response = await self.signup(self.server.bootstrap_invite(), "root")
            if response.status_code != 201:
                raise AssertionError(response.text)
            self.server.root = _account(response.json(), "root-password-long")
        root: Account = self.server.root
        return root

    async def operator(self) -> Account:
        """The server's first account, an operator (it signed up through the bootstrap invite)."""
        return await self._root()

    async def friends(self, a: Account, b: Account) -> None:
        """Make ``a`` and ``b`` follow each other (friends, in Tsudoi's words)."""
        for one, other in ((a, b), (b, a)):
            client = await Client.login(self.server, one.token)
            try:
                await client.call("follow", user_id=other.id)
            finally:
                await client.close()

    async def invite(self, by: Account | None = None) -> str:
        inviter = by or await self._root()
        client = await Client.login(self.server, inviter.token)
        try:
            return str((await client.call("invite.create"))["invite"]["code"])
        finally:
            await client.close()

    async def new(self, prefix: str = "user", invited_by: Account | None = None) -> Account:
        handle = f"{prefix[:8]}{next(_handles)}"
        response = await self.signup(await self.invite(invited_by), handle)
        if response.status_code != 201:
            raise AssertionError(response.text)
        return _account(response.json(), f"{handle}-password-long")

    async def bot(self, name: str | None = None) -> Account:
        """A bot account made as an operator makes one (``tsudoi admin bot create``); it has
        no password."""
        await self._root()  # a bot may not be the first account
        handle = name or f"bot{next(_handles)}"
        made = tsudoi("admin", "bot", "create", handle, "--json", "--data", str(self.server.data_dir))
        if made.returncode != 0:
            raise AssertionError(made.stderr)
        body = orjson.loads(made.stdout)
        return Account(body["user"]["id"], body["user"]["handle"], "", body["token"])

    async def author_and_fan(self) -> tuple[Account, Account]:
        """An author and a follower of theirs (the fan joined through the author's invite)."""
        author = await self.new("author")
        return author, await self.new("fan", invited_by=author)

    async def close(self) -> None:
        await self.http.aclose()


def _account(body: dict[str, Any], password: str) -> Account:
    return Account(body["user"]["id"], body["user"]["handle"], password, body["token"])
