"""Conversations (direct and group), their members, messages and read markers."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace

from ..base import ConversationMemberRecord, ConversationRecord, MessageRecord, NonceTaken, NotFound
from .engine import Engine
from .media import _claim
from .rows import (
    _ABOVE_EVERY_ID,
    _CONVERSATION_COLUMNS,
    _CONVERSATION_MEMBER_COLUMNS,
    _MESSAGE_COLUMNS,
    _attached_json,
    _json,
    _message,
    _record,
)


class Conversations(Engine):
    """Conversations, members and messages; every change of membership is a message too."""

    async def create_conversation(
        self,
        *,
        kind: str,
        owner_id: str,
        member_ids: list[str],
        title: str | None,
        now_ms: int,
    ) -> tuple[ConversationRecord, MessageRecord | None]:
        members = list(dict.fromkeys(member_ids))
        pair_key = ":".join(sorted(members)) if kind == "direct" else None

        def write(conn: sqlite3.Connection) -> tuple[ConversationRecord, MessageRecord | None]:
            # Writes are serialised (one writer thread, BEGIN IMMEDIATE across processes), so
            # this check and the insert below make one direct conversation per pair; the unique
            # pair_key would refuse a second one anyway.
            if pair_key is not None:
                row = conn.execute(
                    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE pair_key = ?", (pair_key,)
                ).fetchone()
                if row is not None:
                    return _record(ConversationRecord, row), None
            conversation_id = self._ids.new(now_ms)
            owner = owner_id if kind == "group" else None
            conn.execute(
                "INSERT INTO conversations (id, kind, title, owner_id, created_ms, last_message_id, pair_key) "
                "VALUES (?, ?, ?, ?, ?, '', ?)",  # last_message_id is set by _append below
                (conversation_id, kind, title, owner, now_ms, pair_key),
            )
            for user_id in members:
                self._add_participant(conn, conversation_id, user_id, now_ms)
            created = self._append(conn, conversation_id, owner_id, "created", "", None, now_ms)
            record = ConversationRecord(conversation_id, kind, title, owner, now_ms, created.id)
            return record, created

        return await self._write(write)

    def _add_participant(
        self, conn: sqlite3.Connection, conversation_id: str, user_id: str, now_ms: int
    ) -> bool:
        cursor = conn.execute(
            "INSERT OR IGNORE INTO conversation_members (conversation_id, user_id, id, joined_ms) "
            "VALUES (?, ?, ?, ?)",
            (conversation_id, user_id, self._ids.new(now_ms), now_ms),
        )
        return cursor.rowcount == 1

    def _append(
        self,
        conn: sqlite3.Connection,
        conversation_id: str,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> MessageRecord:
        """Add a message and make it the conversation's last; NotFound without the conversation,
        NonceTaken, then MediaUnavailable (and the caller's transaction rolls back) if the nonce
        is taken or a picture cannot be attached."""
        message = MessageRecord(
            self._ids.new(now_ms), conversation_id, author_id, kind, text, subject_id, now_ms
        )
        cursor = conn.execute(
            "UPDATE conversations SET last_message_id = ? WHERE id = ?", (message.id, conversation_id)
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no conversation {conversation_id}")
        # A taken nonce inserts nothing (the unique index of 0006_nonces.sql decides).
        cursor = conn.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}, nonce) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (conversation_id, author_id, nonce) WHERE nonce IS NOT NULL DO NOTHING",
            (message.id, conversation_id, author_id, kind, text, subject_id, now_ms, nonce),
        )
        if cursor.rowcount == 0:
            raise NonceTaken(f"message nonce {nonce!r} of {author_id} in {conversation_id}")
        if media:
            subject = f"message:{conversation_id}:{message.id}"
            attached = _claim(conn, author_id, media, kind="post", subject=subject, now_ms=now_ms)
            conn.execute("UPDATE messages SET media = ? WHERE id = ?", (_attached_json(attached), message.id))
            message = replace(message, media=attached)
        return message

    async def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        rows = await self._all(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        )
        return _record(ConversationRecord, rows[0]) if rows else None

    async def conversation_members(self, conversation_id: str) -> list[ConversationMemberRecord]:
        rows = await self._all(
            f"SELECT {_CONVERSATION_MEMBER_COLUMNS} FROM conversation_members WHERE conversation_id = ? "
            "ORDER BY id",
            (conversation_id,),
        )
        return [_record(ConversationMemberRecord, row) for row in rows]

    async def conversation_member(
        self, conversation_id: str, user_id: str
    ) -> ConversationMemberRecord | None:
        rows = await self._all(
            f"SELECT {_CONVERSATION_MEMBER_COLUMNS} FROM conversation_members "
            "WHERE conversation_id = ? AND user_id = ?",
            (conversation_id, user_id),
        )
        return _record(ConversationMemberRecord, rows[0]) if rows else None

    async def conversations_of(
        self, user_id: str, *, before: str | None, limit: int
    ) -> list[ConversationRecord]:
        rows = await self._all(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "WHERE id IN (SELECT conversation_id FROM conversation_members WHERE user_id = ?) "
            "AND last_message_id < ? ORDER BY last_message_id DESC LIMIT ?",
            (user_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [_record(ConversationRecord, row) for row in rows]

    async def add_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        kind: str,
        text: str,
        subject_id: str | None,
        now_ms: int,
        nonce: str | None = None,
        media: Sequence[tuple[str, str | None]] = (),
    ) -> MessageRecord:
        return await self._write(
            self._append, conversation_id, author_id, kind, text, subject_id, now_ms, nonce, media
        )

    async def message_by_nonce(
        self, conversation_id: str, author_id: str, nonce: str
    ) -> MessageRecord | None:
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND author_id = ? AND nonce = ?",
            (conversation_id, author_id, nonce),
        )
        return _message(rows[0]) if rows else None

    async def add_conversation_members(
        self, conversation_id: str, user_ids: list[str], *, by: str, now_ms: int
    ) -> list[MessageRecord]:
        def write(conn: sqlite3.Connection) -> list[MessageRecord]:
            found = conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if found is None:
                raise NotFound(f"no conversation {conversation_id}")
            return [
                self._append(conn, conversation_id, by, "added", "", user_id, now_ms)
                for user_id in dict.fromkeys(user_ids)
                if self._add_participant(conn, conversation_id, user_id, now_ms)
            ]

        return await self._write(write)

    async def remove_conversation_member(
        self,
        conversation_id: str,
        user_id: str,
        *,
        by: str,
        kind: str,
        now_ms: int,
        new_owner_id: str | None = None,
    ) -> MessageRecord | None:
        def write(conn: sqlite3.Connection) -> MessageRecord | None:
            cursor = conn.execute(
                "DELETE FROM conversation_members WHERE conversation_id = ? AND user_id = ?",
                (conversation_id, user_id),
            )
            if cursor.rowcount == 0:
                return None
            if new_owner_id is not None:
                conn.execute(
                    "UPDATE conversations SET owner_id = ? WHERE id = ?", (new_owner_id, conversation_id)
                )
            return self._append(conn, conversation_id, by, kind, "", user_id, now_ms)

        return await self._write(write)

    async def messages(self, conversation_id: str, *, before: str | None, limit: int) -> list[MessageRecord]:
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? AND id < ? "
            "ORDER BY id DESC LIMIT ?",
            (conversation_id, before or _ABOVE_EVERY_ID, limit),
        )
        return [_message(row) for row in rows]

    async def direct_stream_after(self, user_id: str, *, after: str, limit: int) -> list[MessageRecord]:
        rows = await self._all(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages "
            "WHERE conversation_id IN (SELECT conversation_id FROM conversation_members WHERE user_id = ?) "
            "AND id > ? ORDER BY id LIMIT ?",
            (user_id, after, limit),
        )
        return [_message(row) for row in rows]

    async def set_last_read(self, conversation_id: str, user_id: str, message_id: str) -> bool:
        moved = await self._change(
            "UPDATE conversation_members SET last_read = :message "
            "WHERE conversation_id = :conversation AND user_id = :user "
            "AND (last_read IS NULL OR last_read < :message)",
            {"message": message_id, "conversation": conversation_id, "user": user_id},
        )
        return moved == 1

    async def unread_counts(self, user_id: str, conversation_ids: list[str]) -> dict[str, int]:
        rows = await self._all(
            "SELECT m.conversation_id, (SELECT count(*) FROM messages WHERE conversation_id = m.conversation_id "
            "AND id > coalesce(m.last_read, '') AND kind = 'text' AND author_id != m.user_id) AS unread "
            "FROM conversation_members AS m "
            "WHERE m.user_id = ? AND m.conversation_id IN (SELECT value FROM json_each(?))",
            (user_id, _json(conversation_ids)),
        )
        return {row["conversation_id"]: row["unread"] for row in rows}
