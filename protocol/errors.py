"""Error codes and close codes of protocol v1: one table each, one meaning per entry.

Two ways the server says "no":

* An **error frame** answers one request (``{"op": "error", "id": ..., "code": ...}``); the
  connection stays open. Its ``code`` is an :class:`ErrorCode`: stable, machine-readable, never
  reused for another meaning. HTTP endpoints use the same codes in their JSON error bodies.
* A **close code** ends the connection. :class:`CloseCode` values live in 4000–4999 and are split
  in two ranges, so a client knows what to do without knowing every code:

  - 4000–4499 *reconnect*: the connection may be re-established (with jittered back-off, and the
    cursors of the last items seen, so nothing is missed);
  - 4500–4999 *terminal*: reconnecting as before will fail again; the client must change something
    first (log in again, fix its code, upgrade).

  Close 1009 (message too big) comes from the WebSocket layer itself for frames over
  :data:`MAX_FRAME_BYTES`; it is terminal in spirit (the same frame would be refused again).

The exception tree the SDK and server share is :class:`ProtocolError` (a frame that cannot be
accepted, carries an :class:`ErrorCode`) and :class:`CloseConnection` (carries a
:class:`CloseCode`).
"""

from __future__ import annotations

import enum

__all__ = [
    "CLOSE_RECONNECT_RANGE",
    "CLOSE_TERMINAL_RANGE",
    "CloseCode",
    "CloseConnection",
    "ErrorCode",
    "ProtocolError",
]

CLOSE_RECONNECT_RANGE = range(4000, 4500)
CLOSE_TERMINAL_RANGE = range(4500, 5000)


class ErrorCode(enum.StrEnum):
    """Stable machine codes carried by error frames and HTTP error bodies."""

    # Frame-level: the frame itself could not be understood.
    INVALID_JSON = "invalid_json"
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_OP = "unknown_op"
    UNSUPPORTED_FRAME = "unsupported_frame"
    ALREADY_AUTHENTICATED = "already_authenticated"
    # Request-level: understood, but refused.
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    TEXT_EMPTY = "text_empty"
    TEXT_TOO_LONG = "text_too_long"
    TEXT_INVALID = "text_invalid"
    ALREADY_FOLLOWING = "already_following"
    NOT_FOLLOWING = "not_following"
    CANNOT_FOLLOW_SELF = "cannot_follow_self"
    INVITE_LIMIT = "invite_limit"
    INVALID_CURSOR = "invalid_cursor"
    NAME_INVALID = "name_invalid"
    ALREADY_MEMBER = "already_member"
    NOT_MEMBER = "not_member"
    REQUEST_PENDING = "request_pending"
    BANNED = "banned"
    NOT_CERTIFIED = "not_certified"
    OWNER_MUST_TRANSFER = "owner_must_transfer"
    REACTION_NOT_ALLOWED = "reaction_not_allowed"
    BLOCKED = "blocked"
    DM_NOT_ALLOWED = "dm_not_allowed"
    CONVERSATION_FULL = "conversation_full"
    INCIDENT_ACTIVE = "incident_active"
    NO_INCIDENT = "no_incident"
    SHED = "shed"
    # Accounts (HTTP).
    INVALID_REQUEST = "invalid_request"
    INVITE_NOT_FOUND = "invite_not_found"
    INVITE_USED = "invite_used"
    INVITE_EXPIRED = "invite_expired"
    HANDLE_INVALID = "handle_invalid"
    HANDLE_TAKEN = "handle_taken"
    DISPLAY_NAME_INVALID = "display_name_invalid"
    PASSWORD_TOO_SHORT = "password_too_short"
    PASSWORD_TOO_LONG = "password_too_long"
    BIRTH_DATE_INVALID = "birth_date_invalid"
    UNDERAGE = "underage"
    TERMS_NOT_ACCEPTED = "terms_not_accepted"
    INVALID_CREDENTIALS = "invalid_credentials"
    NOT_AUTHENTICATED = "not_authenticated"
    ORIGIN_REJECTED = "origin_rejected"
    # Pictures (HTTP upload, section 11.11; and the requests that attach an upload).
    MEDIA_NOT_FOUND = "media_not_found"
    TOO_LARGE = "too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_FRAMES = "too_many_frames"
    TOO_LONG = "too_long"
    CORRUPT = "corrupt"
    BUSY = "busy"
    TOO_MANY_UPLOADS = "too_many_uploads"
    # Bots (HTTP).
    NOT_A_BOT = "not_a_bot"
    WEBHOOK_NOT_ALLOWED = "webhook_not_allowed"
    # Web Push.
    PUSH_ENDPOINT_NOT_ALLOWED = "push_endpoint_not_allowed"
    PUSH_LIMIT = "push_limit"
    # The server's own trouble: the request was not carried out.
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"

    @property
    def meaning(self) -> str:
        return ERROR_MEANINGS[self]


ERROR_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_JSON: "The text frame is not a JSON document.",
    ErrorCode.INVALID_FRAME: "The frame is JSON but not a valid frame: not an object, a missing, "
    "unknown or mistyped field, or a value outside its documented set. `path` names the field.",
    ErrorCode.UNKNOWN_OP: "The `op` is not one this protocol version defines.",
    ErrorCode.UNSUPPORTED_FRAME: "A binary frame; protocol v1 uses text frames only.",
    ErrorCode.ALREADY_AUTHENTICATED: "A second `auth` on an authenticated connection.",
    ErrorCode.RATE_LIMITED: "Too many requests of this kind; retry after `retry_after_ms`.",
    ErrorCode.NOT_FOUND: "The user, post or invite named does not exist (or is not visible to you).",
    ErrorCode.FORBIDDEN: "You may not do this to that object (for example delete another's post).",
    ErrorCode.TEXT_EMPTY: "The text is empty or only white space and invisible characters.",
    ErrorCode.TEXT_TOO_LONG: "The text has more user-perceived characters than allowed (or more "
    "code points than the guard against stacked combining marks allows).",
    ErrorCode.TEXT_INVALID: "The text contains control characters that are not allowed.",
    ErrorCode.ALREADY_FOLLOWING: "You already follow that user.",
    ErrorCode.NOT_FOLLOWING: "You do not follow that user.",
    ErrorCode.CANNOT_FOLLOW_SELF: "A user cannot follow themselves.",
    ErrorCode.INVITE_LIMIT: "You already hold the maximum number of unused invites.",
    ErrorCode.INVALID_CURSOR: "The page cursor is not one this server handed out; start again without one.",
    ErrorCode.NAME_INVALID: "A name is visible characters on one line: a community name, group "
    "title or area 1-50, an incident title 1-100.",
    ErrorCode.ALREADY_MEMBER: "You are already a member of that community (or conversation).",
    ErrorCode.NOT_MEMBER: "You (or the user named) are not a member of that community or conversation.",
    ErrorCode.REQUEST_PENDING: "A join request is already waiting for a moderator's decision.",
    ErrorCode.BANNED: "The user is banned from that community.",
    ErrorCode.NOT_CERTIFIED: "Only a certified community's owner and moderators post announcements.",
    ErrorCode.OWNER_MUST_TRANSFER: "The owner cannot leave, be banned or lose the role; the owner "
    "transfers ownership first (`community.transfer`).",
    ErrorCode.REACTION_NOT_ALLOWED: "That emoji is not one of `limits.reaction_emoji`.",
    ErrorCode.BLOCKED: "One of you blocks the other: following, mentioning and messaging are off.",
    ErrorCode.DM_NOT_ALLOWED: "That user does not accept direct messages from you (their "
    "`dm_policy`, or a block).",
    ErrorCode.CONVERSATION_FULL: "A group conversation has at most "
    "`limits.conversation_max_members` members.",
    ErrorCode.INCIDENT_ACTIVE: "An incident is already active; end it before starting another.",
    ErrorCode.NO_INCIDENT: "There is no active incident to end.",
    ErrorCode.SHED: "During an incident the server sheds non-essential work (Discover) to keep "
    "safety statuses and messages moving; retry after `retry_after_ms`.",
    ErrorCode.INVALID_REQUEST: "The HTTP request body is not the JSON object the endpoint takes.",
    ErrorCode.INVITE_NOT_FOUND: "No invite has that code.",
    ErrorCode.INVITE_USED: "That invite has already been used.",
    ErrorCode.INVITE_EXPIRED: "That invite has expired.",
    ErrorCode.HANDLE_INVALID: "A handle is 3-20 ASCII letters, digits or underscores.",
    ErrorCode.HANDLE_TAKEN: "That handle is taken (handles are unique regardless of case).",
    ErrorCode.DISPLAY_NAME_INVALID: "A display name is 1-50 visible characters, no control characters.",
    ErrorCode.PASSWORD_TOO_SHORT: "A password has at least 10 characters.",
    ErrorCode.PASSWORD_TOO_LONG: "A password has at most 1024 characters.",
    ErrorCode.BIRTH_DATE_INVALID: "The birth date is not a real date in YYYY-MM-DD form.",
    ErrorCode.UNDERAGE: "Tsudoi is for people aged 18 or over on the server's date.",
    ErrorCode.TERMS_NOT_ACCEPTED: "The terms of service must be accepted.",
    ErrorCode.INVALID_CREDENTIALS: "Unknown handle or wrong password.",
    ErrorCode.NOT_AUTHENTICATED: "The HTTP request needs a valid session.",
    ErrorCode.ORIGIN_REJECTED: "A cookie-authenticated request came from a foreign Origin.",
    ErrorCode.MEDIA_NOT_FOUND: "A media id that is not one of your own uploads of the right "
    "kind (a post's pictures, or an avatar), waiting to be attached: unknown, someone else's, "
    "already attached, or expired (uploads expire 24 hours after they are made).",
    ErrorCode.TOO_LARGE: "The upload has more bytes than `media_max_bytes` allows (HTTP 413).",
    ErrorCode.UNSUPPORTED_FORMAT: "The bytes are not a JPEG, PNG, WebP, GIF or AVIF picture, "
    "whatever the file's name or Content-Type says; SVG is never accepted (HTTP 415).",
    ErrorCode.TOO_MANY_PIXELS: "The picture (or an animation's frames together) has more "
    "pixels than the server decodes; refused from its header, before decoding (HTTP 422).",
    ErrorCode.TOO_MANY_FRAMES: "The animation has more frames than the server accepts (HTTP 422).",
    ErrorCode.TOO_LONG: "The animation plays for longer than the server accepts (HTTP 422).",
    ErrorCode.CORRUPT: "The picture does not decode as a whole: truncated or damaged (HTTP 422).",
    ErrorCode.BUSY: "Every picture worker is busy and the queue is full: retry after "
    "`retry_after_ms` (HTTP 503 with Retry-After).",
    ErrorCode.TOO_MANY_UPLOADS: "You hold the most uploads that wait to be attached "
    "(`media_pending_max`); attach or let some expire first (HTTP 429).",
    ErrorCode.NOT_A_BOT: "Only bot accounts (`tsudoi admin bot create`) register webhooks.",
    ErrorCode.WEBHOOK_NOT_ALLOWED: "The webhook URL is not one this server will call: not https "
    "(plain http only to loopback), not on the operator's list of destinations, or resolving to "
    "a private address outside it. The message says which.",
    ErrorCode.PUSH_ENDPOINT_NOT_ALLOWED: "The push endpoint is not one this server will send "
    "to: not https (plain http only to loopback, and only where the operator allows it for "
    "tests), with a user name or password, or at an address that is not public. The message "
    "says which.",
    ErrorCode.PUSH_LIMIT: "You already have the most devices that receive pushes "
    "(`TSUDOI_PUSH_MAX_SUBSCRIPTIONS`, 10 by default); unsubscribe one first.",
    ErrorCode.UNAVAILABLE: "Storage failed while the request was handled. If the failure came after "
    "the request's write, the write stands: read before you retry a non-idempotent request.",
    ErrorCode.INTERNAL: "An unexpected server fault, reported in the server log. As with "
    "`unavailable`, a write made before the fault stands.",
}


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server sends, 4000-4499 reconnect, 4500-4999 terminal."""

    GOING_AWAY = 4000
    HEARTBEAT_TIMEOUT = 4001
    SLOW_CONSUMER = 4002
    RATE_LIMITED = 4003
    AUTH_TIMEOUT = 4004
    SERVER_ERROR = 4005
    RESYNC_REQUIRED = 4006
    TRY_AGAIN_LATER = 4007
    AUTH_FAILED = 4500
    SESSION_REVOKED = 4501
    BAD_HANDSHAKE = 4502
    UNSUPPORTED_PROTOCOL = 4503

    @property
    def reconnect(self) -> bool:
        return self.value in CLOSE_RECONNECT_RANGE

    @property
    def meaning(self) -> str:
        return CLOSE_MEANINGS[self]


CLOSE_MEANINGS: dict[CloseCode, str] = {
    CloseCode.GOING_AWAY: "The server is shutting down or restarting. Reconnect (to any node).",
    CloseCode.HEARTBEAT_TIMEOUT: "No frame arrived from the client within the heartbeat timeout.",
    CloseCode.SLOW_CONSUMER: "The client read too slowly and its send queue overflowed.",
    CloseCode.RATE_LIMITED: "The client sent frames faster than the connection's frame budget.",
    CloseCode.AUTH_TIMEOUT: "No `auth` frame arrived within the auth timeout after `hello`.",
    CloseCode.SERVER_ERROR: "The server failed while setting up or serving the connection (storage "
    "down, a fault); reconnect with back-off.",
    CloseCode.RESYNC_REQUIRED: "Live delivery between server nodes was interrupted and the server "
    "cannot tell which events this connection missed; reconnect with your cursor to resume.",
    CloseCode.TRY_AGAIN_LATER: "The node holds as many new connections as it can set up soon (a "
    "reconnect storm). Reconnect after the delay the reason gives (`retry_after_ms=N`, this "
    "client's own time, spread by the server), with your cursors: nothing is lost by waiting.",
    CloseCode.AUTH_FAILED: "The token (or cookie) is unknown, expired or revoked, or a cookie "
    "was sent from a foreign Origin. Log in again.",
    CloseCode.SESSION_REVOKED: "The session was revoked while connected (log-out, password change).",
    CloseCode.BAD_HANDSHAKE: "The first frame was not a well-formed `auth` frame.",
    CloseCode.UNSUPPORTED_PROTOCOL: "The client did not ask for the `tsudoi.v1` subprotocol.",
}


class ProtocolError(Exception):
    """A frame or request that is refused with an error frame; the connection survives."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        *,
        path: str | None = None,
        retry_after_ms: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message or code.meaning)
        self.code = code
        self.message = message or code.meaning
        #: The offending field as a JSON path, when one field is to blame.
        self.path = path
        self.retry_after_ms = retry_after_ms
        #: The id of the request that failed, when the frame was readable enough to have one.
        self.request_id = request_id


class CloseConnection(Exception):
    """Raised inside a connection handler to end the connection with ``code``."""

    def __init__(self, code: CloseCode, reason: str | None = None) -> None:
        super().__init__(reason or code.meaning)
        self.code = code
        # RFC 6455 caps the close reason at 123 bytes of UTF-8.
        self.reason = (reason or code.name.lower()).encode()[:123].decode(errors="ignore")
