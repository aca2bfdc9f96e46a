"""Users and invites (with presence visibility and last seen), and sessions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from ...search import fold
from ..base import (
    HandleChangedRecently,
    HandleTaken,
    InviteExpired,
    InviteLimitReached,
    InviteNotFound,
    InviteRecord,
    InviteUsed,
    IssuedInvite,
    NewUser,
    NotFound,
    SessionRecord,
    UserRecord,
    new_invite_code,
    token_hash,
)
from ..records import INVITE_PREFIX_LENGTH
from .engine import Engine
from .media import _claim, _detach
from .rows import _INVITE_COLUMNS, _SESSION_COLUMNS, _USER_COLUMNS, _invite, _record, _user


class Accounts(Engine):
    """Who the users are, how they got in, and their sessions."""

    # --- users and invites -----------------------------------------------------------------

    async def count_users(self) -> int:
        row = await self._read(lambda c: c.execute("SELECT count(*) FROM users").fetchone())
        return int(row[0])

    async def create_invite(
        self,
        *,
        inviter_id: str | None,
        now_ms: int,
        ttl_ms: int,
        max_unused: int | None,
        grants_operator: bool = False,
    ) -> IssuedInvite:
        def write(conn: sqlite3.Connection) -> IssuedInvite:
            if max_unused is not None:
                (held,) = conn.execute(
                    "SELECT count(*) FROM invites WHERE inviter_id IS ? AND used_by IS NULL "
                    "AND expires_ms > ?",
                    (inviter_id, now_ms),
                ).fetchone()
                if held >= max_unused:
                    raise InviteLimitReached
            code = new_invite_code()
            invite = IssuedInvite(
                code_hash=token_hash(code),
                code_prefix=code[:INVITE_PREFIX_LENGTH],
                inviter_id=inviter_id,
                created_ms=now_ms,
                expires_ms=now_ms + ttl_ms,
                used_by=None,
                used_ms=None,
                grants_operator=grants_operator,
                code=code,
            )
            conn.execute(
                f"INSERT INTO invites ({_INVITE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    invite.code_hash,
                    invite.code_prefix,
                    invite.inviter_id,
                    invite.created_ms,
                    invite.expires_ms,
                    None,
                    None,
                    int(grants_operator),
                ),
            )
            return invite

        return await self._write(write)

    async def get_invite(self, code: str) -> InviteRecord | None:
        def read(conn: sqlite3.Connection) -> InviteRecord | None:
            row = conn.execute(
                f"SELECT {_INVITE_COLUMNS} FROM invites WHERE code_hash = ?", (token_hash(code),)
            ).fetchone()
            return _invite(row) if row else None

        return await self._read(read)

    async def list_invites(self, inviter_id: str, *, limit: int) -> list[InviteRecord]:
        def read(conn: sqlite3.Connection) -> list[InviteRecord]:
            rows = conn.execute(
                f"SELECT {_INVITE_COLUMNS} FROM invites WHERE inviter_id = ? "
                "ORDER BY created_ms DESC, rowid DESC LIMIT ?",
                (inviter_id, limit),
            ).fetchall()
            return [_invite(row) for row in rows]

        return await self._read(read)

    async def create_user(self, new: NewUser, *, invite_code: str, now_ms: int) -> UserRecord:
        def write(conn: sqlite3.Connection) -> UserRecord:
            code_hash = token_hash(invite_code)
            row = conn.execute(
                f"SELECT {_INVITE_COLUMNS} FROM invites WHERE code_hash = ?", (code_hash,)
            ).fetchone()
            if row is None:
                raise InviteNotFound
            invite = _invite(row)
            if invite.used_by is not None:
                raise InviteUsed
            if invite.expires_ms <= now_ms:
                raise InviteExpired
            handle_key = new.handle.lower()
            if _holder(conn, handle_key) is not None:
                raise HandleTaken
            user = UserRecord(
                id=self._ids.new(now_ms),
                handle=new.handle,
                display_name=new.display_name,
                password_hash=new.password_hash,
                birth_date=new.birth_date,
                created_ms=now_ms,
                invited_by=invite.inviter_id,
                operator=invite.grants_operator,
                verified=False,
                bot=new.bot,
            )
            conn.execute(
                "INSERT INTO users (id, handle, handle_key, display_name, name_key, password_hash, "
                "birth_date, terms_accepted_ms, created_ms, invited_by, operator, bot) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.handle,
                    handle_key,
                    user.display_name,
                    fold(user.display_name),
                    user.password_hash,
                    user.birth_date,
                    now_ms,
                    now_ms,
                    user.invited_by,
                    int(user.operator),
                    int(user.bot),
                ),
            )
            conn.execute(
                "UPDATE invites SET used_by = ?, used_ms = ? WHERE code_hash = ?",
                (user.id, now_ms, code_hash),
            )
            if invite.inviter_id is not None:
                conn.execute(
                    "INSERT INTO follows (follower_id, followee_id, created_ms) VALUES (?, ?, ?)",
                    (user.id, invite.inviter_id, now_ms),
                )
            return user

        return await self._write(write)

    async def get_user(self, user_id: str) -> UserRecord | None:
        return await self._read(lambda conn: _user_by_id(conn, user_id))

    async def get_user_by_handle(self, handle: str) -> UserRecord | None:
        def read(conn: sqlite3.Connection) -> UserRecord | None:
            key = handle.lower()
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE handle_key = ?", (key,)).fetchone()
            if row is None:
                row = conn.execute(
                    f"SELECT {_USER_COLUMNS} FROM users "
                    "WHERE id = (SELECT user_id FROM former_handles WHERE handle_key = ?)",
                    (key,),
                ).fetchone()
            return _user(row) if row else None

        return await self._read(read)

    async def change_handle(
        self, user_id: str, handle: str, *, now_ms: int, changed_before_ms: int
    ) -> UserRecord:
        def write(conn: sqlite3.Connection) -> UserRecord:
            row = conn.execute(
                "SELECT handle, handle_key, handle_changed_ms FROM users WHERE id = ? AND deleted = 0",
                (user_id,),
            ).fetchone()
            if row is None:
                raise NotFound
            if row["handle_changed_ms"] is not None and row["handle_changed_ms"] > changed_before_ms:
                raise HandleChangedRecently(row["handle_changed_ms"])
            key = handle.lower()
            if _holder(conn, key) not in (None, user_id):
                raise HandleTaken
            if key != row["handle_key"]:
                conn.execute("DELETE FROM former_handles WHERE handle_key = ?", (key,))
                conn.execute(
                    "INSERT INTO former_handles (handle_key, handle, user_id, until_ms) VALUES (?, ?, ?, ?)",
                    (row["handle_key"], row["handle"], user_id, now_ms),
                )
            changed = conn.execute(
                "UPDATE users SET handle = ?, handle_key = ?, handle_changed_ms = ? "
                f"WHERE id = ? RETURNING {_USER_COLUMNS}",
                (handle, key, now_ms, user_id),
            ).fetchone()
            return _user(changed)

        return await self._write(write)

    async def get_users(self, user_ids: list[str]) -> dict[str, UserRecord]:
        wanted = list(dict.fromkeys(user_ids))
        if not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, UserRecord]:
            found: dict[str, UserRecord] = {}
            # SQLite caps bound parameters (32766 since 3.32); stay far below.
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id IN ({marks})", chunk):
                    found[row["id"]] = _user(row)
            return found

        return await self._read(read)

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._write(
            lambda c: c.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
        )

    async def delete_user(self, user_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            changed = conn.execute(
                "UPDATE users SET deleted = 1, password_hash = '!', display_name = '', name_key = '', "
                "bio = '', interests = '[]', dm_policy = 'nobody', presence_visibility = 'nobody', "
                "verified = 0, deletion_lease_ms = CASE WHEN deleted = 1 THEN deletion_lease_ms ELSE 0 END "
                "WHERE id = ?",
                (user_id,),
            ).rowcount
            conn.execute("DELETE FROM push_subscriptions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM push_preferences WHERE user_id = ?", (user_id,))
            return changed == 1

        return await self._write(write)

    async def claim_deletion(self, *, now_ms: int, lease_ms: int, user_id: str | None = None) -> str | None:
        def write(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "UPDATE users SET deletion_lease_ms = ? WHERE id = ("
                "SELECT id FROM users WHERE deletion_lease_ms IS NOT NULL AND deletion_lease_ms <= ? "
                "AND (? IS NULL OR id = ?) ORDER BY deletion_lease_ms LIMIT 1) RETURNING id",
                (now_ms + lease_ms, now_ms, user_id, user_id),
            ).fetchone()
            return str(row[0]) if row else None

        return await self._write(write)

    async def renew_deletion(self, user_id: str, *, now_ms: int, lease_ms: int) -> None:
        await self._change(
            "UPDATE users SET deletion_lease_ms = ? WHERE id = ? AND deletion_lease_ms IS NOT NULL",
            (now_ms + lease_ms, user_id),
        )

    async def finish_deletion(self, user_id: str) -> None:
        await self._change("UPDATE users SET deletion_lease_ms = NULL WHERE id = ?", (user_id,))

    async def set_verified(self, user_id: str, verified: bool) -> bool:
        return await self._change("UPDATE users SET verified = ? WHERE id = ?", (int(verified), user_id)) == 1

    async def set_dm_policy(self, user_id: str, policy: str) -> None:
        await self._change("UPDATE users SET dm_policy = ? WHERE id = ?", (policy, user_id))

    async def set_presence_visibility(self, user_id: str, visibility: str) -> None:
        await self._change("UPDATE users SET presence_visibility = ? WHERE id = ?", (visibility, user_id))

    async def update_profile(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        bio: str | None = None,
        interests: Sequence[str] | None = None,
    ) -> UserRecord | None:
        def write(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                "UPDATE users SET display_name = coalesce(?, display_name), "
                "name_key = coalesce(?, name_key), bio = coalesce(?, bio), "
                f"interests = coalesce(?, interests) WHERE id = ? RETURNING {_USER_COLUMNS}",
                (
                    display_name,
                    None if display_name is None else fold(display_name),
                    bio,
                    None if interests is None else json.dumps(list(interests)),
                    user_id,
                ),
            ).fetchone()
            return _user(row) if row else None

        return await self._write(write)

    async def set_avatar(
        self, user_id: str, media_id: str | None, *, now_ms: int
    ) -> tuple[UserRecord, str | None]:
        def write(conn: sqlite3.Connection) -> tuple[UserRecord, str | None]:
            row = conn.execute("SELECT avatar_id FROM users WHERE id = ?", (user_id,)).fetchone()
            if row is None:
                raise NotFound(f"no user {user_id}")
            subject = f"avatar:{user_id}"
            replaced = _detach(conn, subject, now_ms)
            placeholder = None
            if media_id is not None:
                (new,) = _claim(
                    conn, user_id, [(media_id, None)], kind="avatar", subject=subject, now_ms=now_ms
                )
                placeholder = new.placeholder
            updated = conn.execute(
                f"UPDATE users SET avatar_id = ?, avatar_placeholder = ? WHERE id = ? RETURNING {_USER_COLUMNS}",
                (media_id, placeholder, user_id),
            ).fetchone()
            return _user(updated), replaced[0].id if replaced else None

        return await self._write(write)

    async def record_last_seen(self, seen: dict[str, int]) -> None:
        if not seen:
            return
        # One statement, so one transaction; it walks the JSON object and finds each user by id.
        await self._change(
            "UPDATE users SET last_seen_ms = seen.value FROM json_each(?) AS seen "
            "WHERE users.id = seen.key AND (users.last_seen_ms IS NULL OR users.last_seen_ms < seen.value)",
            (json.dumps(seen),),
        )

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(
        self, *, user_id: str, token_hash: bytes, now_ms: int, ttl_ms: int, device: str = ""
    ) -> SessionRecord:
        def write(conn: sqlite3.Connection) -> SessionRecord:
            session = SessionRecord(
                self._ids.new(now_ms), user_id, now_ms, now_ms + ttl_ms, None, device=device
            )
            conn.execute(
                "INSERT INTO sessions (id, token_hash, user_id, created_ms, expires_ms, device) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session.id, token_hash, user_id, now_ms, session.expires_ms, device),
            )
            return session

        return await self._write(write)

    async def get_session(self, token_hash: bytes) -> SessionRecord | None:
        return await self._read(lambda conn: _session_by_hash(conn, token_hash))

    async def get_session_user(self, token_hash: bytes) -> tuple[SessionRecord, UserRecord | None] | None:
        def read(conn: sqlite3.Connection) -> tuple[SessionRecord, UserRecord | None] | None:
            # Two primary-key lookups in one hop to the reader thread: the hop, not the
            # lookups, is what a call costs (server/store/sqlite/pool.py).
            session = _session_by_hash(conn, token_hash)
            return None if session is None else (session, _user_by_id(conn, session.user_id))

        return await self._read(read)

    async def revoke_session(self, token_hash: bytes, now_ms: int) -> SessionRecord | None:
        def write(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                f"UPDATE sessions SET revoked_ms = ? WHERE token_hash = ? AND revoked_ms IS NULL "
                f"RETURNING {_SESSION_COLUMNS}",
                (now_ms, token_hash),
            ).fetchone()
            if row:  # its browser's push subscriptions end with it
                conn.execute("DELETE FROM push_subscriptions WHERE session_id = ?", (row["id"],))
            return _record(SessionRecord, row) if row else None

        return await self._write(write)

    async def revoke_user_sessions(self, user_id: str, now_ms: int) -> list[str]:
        def write(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "UPDATE sessions SET revoked_ms = ? WHERE user_id = ? AND revoked_ms IS NULL RETURNING id",
                (now_ms, user_id),
            ).fetchall()
            conn.execute("DELETE FROM push_subscriptions WHERE user_id = ?", (user_id,))
            return [row[0] for row in rows]

        return await self._write(write)

    async def list_sessions(self, user_id: str, now_ms: int, *, limit: int) -> list[SessionRecord]:
        def read(conn: sqlite3.Connection) -> list[SessionRecord]:
            rows = conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions "
                "WHERE user_id = ? AND revoked_ms IS NULL AND expires_ms > ? ORDER BY id DESC LIMIT ?",
                (user_id, now_ms, limit),
            ).fetchall()
            return [_record(SessionRecord, row) for row in rows]

        return await self._read(read)

    async def revoke_user_session(self, user_id: str, session_id: str, now_ms: int) -> SessionRecord | None:
        def write(conn: sqlite3.Connection) -> SessionRecord | None:
            row = conn.execute(
                "UPDATE sessions SET revoked_ms = ? "
                "WHERE id = ? AND user_id = ? AND revoked_ms IS NULL AND expires_ms > ? "
                f"RETURNING {_SESSION_COLUMNS}",
                (now_ms, session_id, user_id, now_ms),
            ).fetchone()
            if row:
                conn.execute("DELETE FROM push_subscriptions WHERE session_id = ?", (row["id"],))
            return _record(SessionRecord, row) if row else None

        return await self._write(write)

    async def touch_sessions(self, used: dict[str, int]) -> None:
        if not used:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE sessions SET last_used_ms = ? "
                "WHERE id = ? AND (last_used_ms IS NULL OR last_used_ms < ?)",
                [(at, session_id, at) for session_id, at in used.items()],
            )

        await self._write(write)


def _holder(conn: sqlite3.Connection, handle_key: str) -> str | None:
    """The id of the account holding ``handle_key`` as its handle or a former one, or None."""
    row = conn.execute(
        "SELECT id FROM users WHERE handle_key = ? UNION ALL "
        "SELECT user_id FROM former_handles WHERE handle_key = ? LIMIT 1",
        (handle_key, handle_key),
    ).fetchone()
    return str(row[0]) if row else None


def _user_by_id(conn: sqlite3.Connection, user_id: str) -> UserRecord | None:
    row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)).fetchone()
    return _user(row) if row else None


def _session_by_hash(conn: sqlite3.Connection, token_hash: bytes) -> SessionRecord | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
    ).fetchone()
    return _record(SessionRecord, row) if row else None
