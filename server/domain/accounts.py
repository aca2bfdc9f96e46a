"""Accounts: invite-only sign-up, log-in, sessions, invites."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from protocol.codec import format_timestamp
from protocol.errors import ErrorCode, ProtocolError
from protocol.messages import (
    Done,
    FollowEvent,
    Invite,
    SessionInfo,
    SessionListResult,
    SettingsResult,
    UserSettings,
    UserUpdatedEvent,
)

from .. import channels
from ..config import Settings
from ..passwords import Passwords
from ..publisher import Publisher
from ..ratelimit import RateLimiter
from ..store.base import (
    HandleChangedRecently,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    IssuedInvite,
    MediaUnavailable,
    NewNotification,
    NewUser,
    NotFound,
    SessionRecord,
    StorageError,
    UserRecord,
    token_hash,
)
from . import present, rules
from .devices import KEY_NAME, Device, DeviceTokens
from .notices import Notices, NoticesPorts

log = logging.getLogger(__name__)

#: Session tokens: 256 random bits, prefixed so that leaked tokens are easy to recognise.
TOKEN_PREFIX = "tsd_"
BOOTSTRAP_INVITE_TTL_MS = 24 * 3600_000
INVITE_LIST_MAX = 100
#: Bot tokens last until rotated (``tsudoi admin bot token``), not the 90 days of a log-in.
BOT_TOKEN_TTL_MS = 100 * 365 * 24 * 3600_000
#: Not an argon2 hash: no password ever matches it, so a bot cannot log in with one.
NO_PASSWORD = "!"
#: A session's last use is written behind, at most once per this interval: the list shows it to
#: about a minute, and a busy connection costs one write a minute, not one a request.
SESSION_USE_EVERY_MS = 60_000
#: How often a node writes the session uses it noted, all in one batch (:meth:`Accounts.run_session_writer`).
SESSION_FLUSH_MS = 5_000
#: The "address" of failures counted on a WebSocket connection, which knows none (a change of
#: handle there): such failures share one per-account budget beside the account-wide one.
_CONNECTION = "(connection)"
#: The sessions list's bound: more live sessions than this is a script, not a person's devices.
SESSION_LIST_MAX = 100


@dataclass(frozen=True)
class SignupForm:
    invite_code: str
    handle: str
    display_name: str
    password: str
    birth_date: str
    accept_terms: bool


@dataclass(frozen=True)
class Session:
    user: UserRecord
    session: SessionRecord
    token: str
    #: After a log-in: the device's token for its next log-ins (:mod:`server.domain.devices`).
    device_token: str | None = None


class AccountsPorts(NoticesPorts, Protocol):
    """The storage Accounts uses: what Notices needs, and the server key of device tokens."""

    async def server_key(self, name: str, candidate: bytes) -> bytes: ...


class Accounts:
    def __init__(
        self,
        store: AccountsPorts,
        passwords: Passwords,
        publisher: Publisher,
        settings: Settings,
        clock: Callable[[], int],
        notices: Notices | None = None,
    ) -> None:
        """``notices`` is the domain's shared one; without it (the CLI's operator actions)
        Accounts makes its own over the same storage and publisher: notices hold no state. So
        ``store`` is what :class:`Notices` needs, which includes the accounts Accounts uses."""
        self._store = store
        self._passwords = passwords
        self._publisher = publisher
        self._notices = notices if notices is not None else Notices(store, publisher, clock)
        self._settings = settings
        self._now = clock
        self._failures_by_account_and_address = RateLimiter.per_window(
            settings.login_account_failures, settings.login_account_window_ms
        )
        self._failures_by_account = RateLimiter.per_window(
            settings.login_account_failures_total, settings.login_account_window_ms
        )
        # A known device's own budget: what one address gets for one account.
        self._failures_by_device = RateLimiter.per_window(
            settings.login_account_failures, settings.login_account_window_ms
        )
        self._devices: DeviceTokens | None = None
        #: Session id -> when this node last wrote its last use (:meth:`session_used`).
        self._session_used: dict[str, int] = {}
        #: Session id -> its last use on this node, noted and not written yet (the next flush's).
        self._session_due: dict[str, int] = {}
        self._login_by_address = RateLimiter.per_window(
            settings.login_address_attempts, settings.login_address_window_ms
        )
        self._signup_by_address = RateLimiter.per_window(
            settings.signup_address_attempts, settings.signup_address_window_ms
        )

    def now(self) -> int:
        """The server's clock, in milliseconds since the epoch."""
        return self._now()

    def today(self) -> dt.date:
        """The server's date (local time zone), which the 18+ rule is judged on."""
        return dt.datetime.fromtimestamp(self._now() / 1000).date()

    # --- invites ------------------------------------------------------------------------------

    async def bootstrap_invite(self) -> IssuedInvite | None:
        """On an empty database, a one-time invite whose account becomes an operator."""
        if await self._store.count_users() > 0:
            return None
        return await self._store.create_invite(
            inviter_id=None,
            now_ms=self._now(),
            ttl_ms=BOOTSTRAP_INVITE_TTL_MS,
            max_unused=None,
            grants_operator=True,
        )

    async def operator_invite(self) -> IssuedInvite:
        """An invite made by an operator from the CLI: no inviter to follow, no limit."""
        return await self._store.create_invite(
            inviter_id=None, now_ms=self._now(), ttl_ms=self._settings.invite_ttl_ms, max_unused=None
        )

    async def create_invite(self, user: UserRecord) -> Invite:
        """A member holds at most ``max_unused_invites`` unused ones; operators have no cap."""
        try:
            record = await self._store.create_invite(
                inviter_id=user.id,
                now_ms=self._now(),
                ttl_ms=self._settings.invite_ttl_ms,
                max_unused=None if user.operator else self._settings.max_unused_invites,
            )
        except InviteLimitReached:
            raise ProtocolError(
                ErrorCode.INVITE_LIMIT,
                f"you already hold {self._settings.max_unused_invites} unused invites",
            ) from None
        return present.invite(record, self._settings.base_url, None)

    async def list_invites(self, user: UserRecord) -> list[Invite]:
        """The user's newest invites (at most INVITE_LIST_MAX: a page bound, not a quota)."""
        records = await self._store.list_invites(user.id, limit=INVITE_LIST_MAX)
        used_by = await self._store.get_users([r.used_by for r in records if r.used_by])
        return [
            present.invite(r, self._settings.base_url, used_by.get(r.used_by) if r.used_by else None)
            for r in records
        ]

    async def invite_info(self, code: str) -> tuple[InviteRecord, UserRecord | None]:
        """The invite and who made it, for the landing page; ProtocolError if unusable."""
        invite = self._usable(await self._store.get_invite(code))
        inviter = await self._store.get_user(invite.inviter_id) if invite.inviter_id else None
        return invite, inviter

    def _usable(self, invite: InviteRecord | None) -> InviteRecord:
        if invite is None:
            raise ProtocolError(ErrorCode.INVITE_NOT_FOUND, path="$.invite_code")
        if invite.used_by is not None:
            raise ProtocolError(ErrorCode.INVITE_USED, path="$.invite_code")
        if invite.expires_ms <= self._now():
            raise ProtocolError(ErrorCode.INVITE_EXPIRED, path="$.invite_code")
        return invite

    # --- sign-up and log-in -------------------------------------------------------------------

    async def signup(self, form: SignupForm, address: str, agent: str = "") -> Session:
        """``agent`` (here and in log-in and password change): the device's description for the
        sessions list (:func:`server.domain.useragent.describe`)."""
        self._limit(self._signup_by_address, address)
        handle = rules.check_handle(form.handle)
        name = rules.display_name(form.display_name)
        rules.check_password(form.password)
        born = rules.birth_date(form.birth_date, self.today())
        if form.accept_terms is not True:
            raise ProtocolError(ErrorCode.TERMS_NOT_ACCEPTED, path="$.accept_terms")
        # Cheap checks before the expensive hash; create_user re-checks both atomically.
        self._usable(await self._store.get_invite(form.invite_code))
        if await self._store.get_user_by_handle(handle) is not None:
            raise ProtocolError(ErrorCode.HANDLE_TAKEN, path="$.handle")
        password_hash = await self._passwords.hash(form.password)
        new = NewUser(handle, name, password_hash, born.isoformat())
        try:
            user = await self._store.create_user(new, invite_code=form.invite_code, now_ms=self._now())
        except InviteNotFound:
            raise ProtocolError(ErrorCode.INVITE_NOT_FOUND, path="$.invite_code") from None
        except InviteUsed:
            raise ProtocolError(ErrorCode.INVITE_USED, path="$.invite_code") from None
        except InviteExpired:
            raise ProtocolError(ErrorCode.INVITE_EXPIRED, path="$.invite_code") from None
        except HandleTaken:
            raise ProtocolError(ErrorCode.HANDLE_TAKEN, path="$.handle") from None
        log.info("new account @%s (%s) invited by %s", user.handle, user.id, user.invited_by)
        if user.invited_by is not None:
            inviter = await self._store.get_user(user.invited_by)
            if inviter is not None:
                # "Follow and start": the newcomer already follows the inviter, who is told
                # as of any follow: live, and in their inbox (they may well be offline).
                event = FollowEvent(follower=present.user(user), followee=present.user(inviter))
                self._publisher.event([channels.user(inviter.id), channels.user(user.id)], event)
                await self._notices.notify([NewNotification(inviter.id, "follow", actor_id=user.id)])
        return await self._start_session(user, agent)

    async def login(
        self, handle: str, password: str, address: str, device_token: str | None = None, agent: str = ""
    ) -> Session:
        """Check the password under the brakes and start a session. ``device_token`` is what an
        earlier log-in on this device gave (``Session.device_token``): valid and this account's,
        the device's own failure budget applies instead of the account's, so guessing from other
        addresses cannot lock a known device out. Without one, the ordinary brakes apply."""
        self._limit(self._login_by_address, address)
        account = handle.lower()
        valid_handle = rules.HANDLE.fullmatch(handle) is not None
        devices = await self._device_tokens()
        device = devices.read(device_token)
        user: UserRecord | None = None
        if device is not None and valid_handle:
            user = await self._store.get_user_by_handle(handle)
        if device is not None and (user is None or user.id != device.user_id):
            device = None  # another account's device is an unknown one here
        if device is not None:
            wait = self._failures_by_device.check(device.device_id)
            if wait:
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED, "too many failed attempts from this device", retry_after_ms=wait
                )
        else:
            if valid_handle:
                user = await self._store.get_user_by_handle(handle)
            # An account's failures count once whichever of its handles (current or former,
            # section 4.1.10) is typed: keyed by its id when the handle names one.
            account = _account_key(user) if user is not None else account
            self._check_failures(account, address)
        ok = await self._passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            self._count_login_failure(account, address, device)
            raise ProtocolError(ErrorCode.INVALID_CREDENTIALS)
        if self._passwords.needs_rehash(user.password_hash):
            await self._store.set_password_hash(user.id, await self._passwords.hash(password))
        session = await self._start_session(user, agent)
        renewed = devices.issue(user.id, device.device_id if device else None)
        return dataclasses.replace(session, device_token=renewed)

    async def _device_tokens(self) -> DeviceTokens:
        """Made on first use: the key comes from storage (every node shares it)."""
        if self._devices is None:
            key = await self._store.server_key(KEY_NAME, secrets.token_bytes(32))
            self._devices = DeviceTokens(key, self._now)
        return self._devices

    def _count_login_failure(self, account: str, address: str, device: Device | None) -> None:
        """A known device's failures count against its own budget only: the account's budget
        is for unknown devices, which is what keeps a botnet from draining it for the owner."""
        if device is not None:
            self._failures_by_device.hit(device.device_id)
        else:
            self._count_failure(account, address)

    def _check_failures(self, account: str, address: str) -> None:
        wait = max(
            self._failures_by_account_and_address.check((account, address)),
            self._failures_by_account.check(account),
        )
        if wait:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "too many failed attempts for this account", retry_after_ms=wait
            )

    def _count_failure(self, account: str, address: str) -> None:
        self._failures_by_account_and_address.hit((account, address))
        self._failures_by_account.hit(account)

    def _limit(self, limiter: RateLimiter, key: str) -> None:
        wait = limiter.hit(key)
        if wait:
            raise ProtocolError(ErrorCode.RATE_LIMITED, retry_after_ms=wait)

    async def _start_session(self, user: UserRecord, agent: str = "") -> Session:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session = await self._store.create_session(
            user_id=user.id,
            token_hash=token_hash(token),
            now_ms=self._now(),
            ttl_ms=self._settings.session_ttl_ms,
            device=agent,
        )
        return Session(user, session, token)

    async def authenticate(self, token: str) -> tuple[UserRecord, SessionRecord] | None:
        """The live session a token belongs to, or None (unknown, expired or revoked)."""
        found = await self._store.get_session_user(token_hash(token))
        if found is None:
            return None
        session, user = found
        if user is None or session.revoked_ms is not None or session.expires_ms <= self._now():
            return None
        self.session_used(session.id, session.last_used_ms)
        return user, session

    def session_used(self, session_id: str, last_written_ms: int | None = None) -> None:
        """Note that the session was used now; nothing is written on the request's path. Its
        ``last_used_ms`` is written behind by :meth:`flush_session_uses`, with every other use
        this node noted, in one write, and at most once per :data:`SESSION_USE_EVERY_MS` per
        session on this node (``last_written_ms``: what storage holds, when the caller has just
        read it), as presence writes last-seen times."""
        now = self._now()
        written = max(self._session_used.get(session_id, 0), last_written_ms or 0)
        if now - written < SESSION_USE_EVERY_MS:
            return
        self._session_due[session_id] = now

    async def flush_session_uses(self) -> None:
        """Write the session uses noted since the last flush, in one write. On a storage error
        they are kept for the next flush (later uses noted meanwhile win) and the error raised."""
        if not self._session_due:
            return
        due, self._session_due = self._session_due, {}
        try:
            await self._store.touch_sessions(due)
        except BaseException:
            for session_id, at in due.items():
                self._session_due[session_id] = max(at, self._session_due.get(session_id, 0))
            raise
        now = self._now()
        if len(self._session_used) >= 10_000:
            # Forget write times older than the interval: they hold nothing back any more.
            self._session_used = {
                sid: at for sid, at in self._session_used.items() if now - at < SESSION_USE_EVERY_MS
            }
        self._session_used.update(due)

    async def run_session_writer(self, every_ms: int = SESSION_FLUSH_MS) -> None:
        """:meth:`flush_session_uses` every ``every_ms`` until cancelled; a failed write (storage
        down) is logged and tried again at the next round."""
        while True:
            await asyncio.sleep(every_ms / 1000)
            try:
                await self.flush_session_uses()
            except StorageError as exc:
                log.warning(
                    "writing %d sessions' last use failed, tried again: %s", len(self._session_due), exc
                )

    async def list_sessions(self, user: UserRecord, current_session_id: str | None) -> SessionListResult:
        """The user's live sessions, newest first; never a token nor its hash."""
        records = await self._store.list_sessions(user.id, self._now(), limit=SESSION_LIST_MAX)
        # What storage holds, or this node's use not written yet if later.
        used = {r.id: max(r.last_used_ms or 0, self._session_due.get(r.id, 0)) for r in records}
        return SessionListResult(
            sessions=[
                SessionInfo(
                    id=record.id,
                    device=record.device,
                    created_at=format_timestamp(record.created_ms),
                    last_used_at=format_timestamp(used[record.id]) if used[record.id] else None,
                    expires_at=format_timestamp(record.expires_ms),
                    current=record.id == current_session_id,
                )
                for record in records
            ]
        )

    async def revoke_session(self, user: UserRecord, session_id: str, current_session_id: str | None) -> Done:
        """Sign out one of the user's own live sessions and close its connections on every node
        (4501). Another user's session, or one already signed out or expired, is ``not_found``:
        the answer tells nothing about other people's sessions. The asking connection's own
        session is ``forbidden``: its close would race its own answer (the close discards what
        is queued), so that one is signed out by ``POST /api/logout``, as ever."""
        if session_id == current_session_id:
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "sign this session out with POST /api/logout", path="$.session_id"
            )
        revoked = await self._store.revoke_user_session(user.id, session_id, self._now())
        if revoked is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "no such session of yours", path="$.session_id")
        self._publisher.control(user.id, channels.Control(revoke_sessions=[revoked.id]))
        return Done()

    async def current(self, user: UserRecord) -> UserRecord:
        """The user as stored now, or as given if the account is gone: operators verify people
        and users change settings while connected, and every answer must show it."""
        return await self._store.get_user(user.id) or user

    async def logout(self, token: str) -> None:
        session = await self._store.revoke_session(token_hash(token), self._now())
        if session is not None:
            self._publisher.control(session.user_id, channels.Control(revoke_sessions=[session.id]))

    async def change_password(self, token: str, old: str, new: str, address: str, agent: str = "") -> Session:
        """Revokes every session of the user (closing their live connections) and starts a new one.
        Wrong old passwords count as failed log-ins, so a stolen session cannot guess the password."""
        found = await self.authenticate(token)
        if found is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
        user, _ = found
        rules.check_password(new, "$.new_password")
        account = _account_key(user)
        self._check_failures(account, address)
        if not await self._passwords.verify(user.password_hash, old):
            self._count_failure(account, address)
            raise ProtocolError(ErrorCode.INVALID_CREDENTIALS, path="$.old_password")
        await self._store.set_password_hash(user.id, await self._passwords.hash(new))
        revoked = await self._store.revoke_user_sessions(user.id, self._now())
        if revoked:
            self._publisher.control(user.id, channels.Control(revoke_sessions=revoked))
        return await self._start_session(user, agent)

    # --- changing the handle --------------------------------------------------------------------

    async def change_handle(self, user: UserRecord, handle: str, password: str) -> UserRecord:
        """Give ``user`` the handle ``handle`` (PROTOCOL.md 4.1.10), with their password.

        The rules are sign-up's (:func:`rules.check_handle`; unique regardless of case, taken
        handles and other accounts' former handles refused) and one change per
        ``handle_change_interval_ms``. The handle left stays the account's for good (storage's
        ``change_handle``): nobody can pick it up and be taken for the person others knew by
        it, and old mentions and links (which carry handles, not ids) still lead to the account.
        The same handle again is no change (the cooldown is not spent). Cheap refusals come
        before the password hash is checked; a wrong password counts as a failed log-in of the
        account (as for a password change, but with no address: a connection's own budget of
        five, then the account's). Followers' and the user's own connections receive
        ``user.updated``."""
        handle = rules.check_handle(handle)
        if handle == user.handle:
            return user
        now = self._now()
        interval = self._settings.handle_change_interval_ms
        if user.handle_changed_ms is not None and user.handle_changed_ms + interval > now:
            raise self._too_soon(user.handle_changed_ms, now)
        holder = await self._store.get_user_by_handle(handle)
        if holder is not None and holder.id != user.id:
            raise ProtocolError(ErrorCode.HANDLE_TAKEN, path="$.handle")
        account = _account_key(user)
        self._check_failures(account, _CONNECTION)
        if not await self._passwords.verify(user.password_hash, password):
            self._count_failure(account, _CONNECTION)
            raise ProtocolError(ErrorCode.INVALID_CREDENTIALS, path="$.password")
        try:
            updated = await self._store.change_handle(
                user.id, handle, now_ms=now, changed_before_ms=now - interval
            )
        except HandleTaken:
            raise ProtocolError(ErrorCode.HANDLE_TAKEN, path="$.handle") from None
        except HandleChangedRecently as exc:
            raise self._too_soon(exc.changed_ms, now) from None
        except NotFound:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED) from None
        log.info("@%s (%s) is now @%s", user.handle, user.id, updated.handle)
        self._publisher.event([channels.posts(user.id)], UserUpdatedEvent(user=present.user(updated)))
        return updated

    def _too_soon(self, changed_ms: int, now: int) -> ProtocolError:
        wait = max(1, changed_ms + self._settings.handle_change_interval_ms - now)
        return ProtocolError(
            ErrorCode.RATE_LIMITED,
            f"you changed your handle recently; you may change it again from {format_timestamp(now + wait)}",
            path="$.handle",
            retry_after_ms=wait,
        )

    # --- deleting the account (the rest of it: server/domain/farewell.py) -----------------------

    async def confirm_deletion(self, token: str, password: str, address: str) -> UserRecord:
        """The user of ``token``, once ``password`` is theirs; wrong passwords count as failed
        log-ins (as for a password change), so a stolen session cannot guess its way through."""
        found = await self.authenticate(token)
        if found is None:
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
        user, _ = found
        account = _account_key(user)
        self._check_failures(account, address)
        if not await self._passwords.verify(user.password_hash, password):
            self._count_failure(account, address)
            raise ProtocolError(ErrorCode.INVALID_CREDENTIALS, path="$.password")
        return user

    async def close_account(self, user: UserRecord) -> None:
        """Revoke every session (live connections close with 4501 on every node), remove the
        profile picture, and make the user a tombstone (``delete_user``): nobody can log in to
        it again, and its handle stays taken."""
        revoked = await self._store.revoke_user_sessions(user.id, self._now())
        if revoked:
            self._publisher.control(user.id, channels.Control(revoke_sessions=revoked))
        if user.avatar_id is not None:
            await self._store.set_avatar(user.id, None, now_ms=self._now())
        await self._store.delete_user(user.id)

    async def claim_deletion(self, user_id: str | None = None) -> str | None:
        """Claim the unfinished deletion of ``user_id`` (or of anyone) for this node, for
        ``deletion_lease_ms``; the user's id, or None if there is none to claim."""
        return await self._store.claim_deletion(
            now_ms=self._now(), lease_ms=self._settings.deletion_lease_ms, user_id=user_id
        )

    async def renew_deletion(self, user_id: str) -> None:
        """Hold this node's claim of the user's deletion for another ``deletion_lease_ms``."""
        await self._store.renew_deletion(
            user_id, now_ms=self._now(), lease_ms=self._settings.deletion_lease_ms
        )

    async def finish_deletion(self, user_id: str) -> None:
        """Mark the user's deletion finished (server/domain/farewell.py)."""
        await self._store.finish_deletion(user_id)

    async def record(self, user_id: str) -> UserRecord | None:
        """The user as stored, or None."""
        return await self._store.get_user(user_id)

    # --- settings (the dm.* and presence services read them; they belong to the account) ------

    async def settings(self, user: UserRecord) -> SettingsResult:
        return SettingsResult(
            settings=UserSettings(dm_policy=user.dm_policy, presence_visibility=user.presence_visibility)  # type: ignore[arg-type]
        )

    async def update_settings(
        self, user: UserRecord, dm_policy: str | None, presence_visibility: str | None
    ) -> SettingsResult:
        if dm_policy is not None:
            await self._store.set_dm_policy(user.id, dm_policy)
        if presence_visibility is not None:
            await self._store.set_presence_visibility(user.id, presence_visibility)
        settings = UserSettings(
            dm_policy=dm_policy or user.dm_policy,  # type: ignore[arg-type]
            presence_visibility=presence_visibility or user.presence_visibility,  # type: ignore[arg-type]
        )
        return SettingsResult(settings=settings)

    async def update_profile(
        self,
        user: UserRecord,
        *,
        display_name: str | None,
        bio: str | None,
        avatar: str | None,
        remove_avatar: bool,
        interests: list[str] | None,
    ) -> UserRecord:
        """Change the user's own profile: the fields given. The avatar must be an upload of
        kind avatar (``media_not_found`` if not); the one it replaces is detached and collected
        with expired uploads. A change of what a User shows (display name, avatar) is sent as
        ``user.updated`` to the user's own and their followers' connections."""
        if avatar is not None and remove_avatar:
            raise ProtocolError(
                ErrorCode.INVALID_FRAME, "avatar and remove_avatar together", path="$.remove_avatar"
            )
        name = rules.display_name(display_name) if display_name is not None else None
        text = rules.bio(bio) if bio is not None else None
        tags = rules.tags(interests) if interests is not None else None
        updated = user
        if name is not None or text is not None or tags is not None:
            stored = await self._store.update_profile(user.id, display_name=name, bio=text, interests=tags)
            updated = stored or user
        if avatar is not None or remove_avatar:
            try:
                updated, _replaced = await self._store.set_avatar(user.id, avatar, now_ms=self._now())
            except MediaUnavailable:
                raise ProtocolError(ErrorCode.MEDIA_NOT_FOUND, path="$.avatar") from None
        if present.user(updated) != present.user(user):
            self._publisher.event([channels.posts(user.id)], UserUpdatedEvent(user=present.user(updated)))
        return updated

    # --- operators' actions (``tsudoi admin``, in a process of its own: see server/relay.py) ---

    async def set_verified(self, handle: str, verified: bool) -> UserRecord | None:
        """Give the user @``handle`` the verified badge, or take it away; None if there is no
        such user. Everyone who sees the user live is told at once: ``user.updated`` goes to the
        user's ``posts:`` channel, which exactly their own and their followers' connections
        listen to."""
        user = await self._store.get_user_by_handle(handle.removeprefix("@"))
        if user is None or not await self._store.set_verified(user.id, verified):
            return None
        user = dataclasses.replace(user, verified=verified)
        self._publisher.event([channels.posts(user.id)], UserUpdatedEvent(user=present.user(user)))
        return user

    async def create_bot(self, handle: str, display_name: str | None) -> Session:
        """A bot account and its first token (which only this answer carries; storage keeps its
        hash). Bots have no password and no inviter. ProtocolError: ``handle_invalid``,
        ``display_name_invalid``, ``handle_taken``; ``forbidden`` while there is no account at
        all: the first one becomes the operator through the bootstrap invite, which a server
        makes only on an empty database, and a bot must not take that place."""
        handle = rules.check_handle(handle.removeprefix("@"))
        name = rules.display_name(display_name or handle)
        if await self._store.count_users() == 0:
            raise ProtocolError(ErrorCode.FORBIDDEN, "create the first (operator) account before any bot")
        now = self._now()
        invite = await self._store.create_invite(inviter_id=None, now_ms=now, ttl_ms=60_000, max_unused=None)
        try:
            user = await self._store.create_user(
                NewUser(handle, name, NO_PASSWORD, "", bot=True), invite_code=invite.code, now_ms=now
            )
        except HandleTaken:
            raise ProtocolError(ErrorCode.HANDLE_TAKEN, f"the handle @{handle} is taken") from None
        return await self._start_bot_session(user)

    async def new_bot_token(self, handle: str) -> Session | None:
        """Revoke every token of the bot @``handle`` and give it a new one; None if there is no
        such bot. As with a password change, the revoked sessions' live connections are closed
        (4501) on every node: a leaked token stops working at once, not when its socket closes."""
        user = await self._store.get_user_by_handle(handle.removeprefix("@"))
        if user is None or not user.bot:
            return None
        revoked = await self._store.revoke_user_sessions(user.id, self._now())
        if revoked:
            self._publisher.control(user.id, channels.Control(revoke_sessions=revoked))
        return await self._start_bot_session(user)

    async def _start_bot_session(self, user: UserRecord) -> Session:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        session = await self._store.create_session(
            user_id=user.id,
            token_hash=token_hash(token),
            now_ms=self._now(),
            ttl_ms=BOT_TOKEN_TTL_MS,
            device="bot token",
        )
        return Session(user, session, token)


def _account_key(user: UserRecord) -> str:
    """What an account's failed log-ins are counted under: its id, so that its former handles
    (a lookup by one finds it) share one budget with its handle. An unknown handle is counted
    under itself, lower-cased; the two never collide (ids are upper-case)."""
    return user.id
