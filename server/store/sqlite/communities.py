"""Communities: their members and roles, join requests and bans."""

from __future__ import annotations

import json
import sqlite3

from ..base import CommunityRecord, JoinRequestRecord, MembershipRecord, NotFound
from .engine import Engine
from .rows import _BELOW_EVERY_ID, _COMMUNITY_COLUMNS, _MEMBERSHIP_COLUMNS, _community, _json, _record

_DROP_JOIN_REQUEST = "DELETE FROM join_requests WHERE community_id = ? AND user_id = ?"


class Communities(Engine):
    """Communities, memberships (each kept in the community's member count), requests and bans."""

    async def create_community(
        self,
        *,
        owner_id: str,
        name: str,
        description: str,
        tags: list[str],
        approval_required: bool,
        now_ms: int,
    ) -> CommunityRecord:
        def write(conn: sqlite3.Connection) -> CommunityRecord:
            community = CommunityRecord(
                id=self._ids.new(now_ms),
                name=name,
                description=description,
                tags=tuple(tags),
                approval_required=approval_required,
                certified=False,
                owner_id=owner_id,
                created_ms=now_ms,
                member_count=1,
            )
            conn.execute(  # with no member yet: _join below adds the owner and counts them
                f"INSERT INTO communities ({_COMMUNITY_COLUMNS}, name_key) "
                "VALUES (?, ?, ?, ?, ?, 0, ?, ?, 0, ?)",
                (
                    community.id,
                    name,
                    description,
                    json.dumps(tags, ensure_ascii=False),
                    int(approval_required),
                    owner_id,
                    now_ms,
                    name.casefold(),
                ),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO community_tags (tag, community_id) VALUES (?, ?)",
                [(tag, community.id) for tag in tags],
            )
            self._join(conn, community.id, owner_id, "owner", now_ms)
            return community

        return await self._write(write)

    async def get_community(self, community_id: str) -> CommunityRecord | None:
        found = await self.get_communities([community_id])
        return found.get(community_id)

    async def get_communities(self, community_ids: list[str]) -> dict[str, CommunityRecord]:
        rows = await self._all(
            f"SELECT {_COMMUNITY_COLUMNS} FROM communities WHERE id IN (SELECT value FROM json_each(?))",
            (_json(community_ids),),
        )
        return {row["id"]: _community(row) for row in rows}

    async def search_communities(
        self, *, query: str, tag: str | None, offset: int, limit: int
    ) -> list[CommunityRecord]:
        rows = await self._all(
            f"SELECT {_COMMUNITY_COLUMNS} FROM communities WHERE instr(name_key, :query) > 0 "
            "AND (:tag IS NULL OR id IN (SELECT community_id FROM community_tags WHERE tag = :tag)) "
            "ORDER BY member_count DESC, id LIMIT :limit OFFSET :offset",
            {"query": query.casefold(), "tag": tag, "limit": limit, "offset": offset},
        )
        return [_community(row) for row in rows]

    async def set_certified(self, community_id: str, certified: bool) -> bool:
        changed = await self._change(
            "UPDATE communities SET certified = ? WHERE id = ?", (int(certified), community_id)
        )
        return changed == 1

    async def membership(self, community_id: str, user_id: str) -> MembershipRecord | None:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE community_id = ? AND user_id = ?",
            (community_id, user_id),
        )
        return _record(MembershipRecord, rows[0]) if rows else None

    async def memberships_of(self, user_id: str) -> list[MembershipRecord]:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = ? ORDER BY id", (user_id,)
        )
        return [_record(MembershipRecord, row) for row in rows]

    async def memberships_page(
        self, user_id: str, *, after: str | None, limit: int
    ) -> list[MembershipRecord]:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?",
            (user_id, after or _BELOW_EVERY_ID, limit),
        )
        return [_record(MembershipRecord, row) for row in rows]

    async def add_member(
        self, community_id: str, user_id: str, *, role: str, now_ms: int
    ) -> MembershipRecord | None:
        def write(conn: sqlite3.Connection) -> MembershipRecord | None:
            found = conn.execute("SELECT 1 FROM communities WHERE id = ?", (community_id,)).fetchone()
            if found is None:
                raise NotFound(f"no community {community_id}")
            return self._join(conn, community_id, user_id, role, now_ms)

        return await self._write(write)

    def _join(
        self, conn: sqlite3.Connection, community_id: str, user_id: str, role: str, now_ms: int
    ) -> MembershipRecord | None:
        """Make the user a member (None if they are one) and drop their join request."""
        membership = MembershipRecord(self._ids.new(now_ms), community_id, user_id, role, now_ms)
        cursor = conn.execute(
            f"INSERT OR IGNORE INTO memberships ({_MEMBERSHIP_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (membership.id, community_id, user_id, role, now_ms),
        )
        if cursor.rowcount == 0:
            return None
        conn.execute("UPDATE communities SET member_count = member_count + 1 WHERE id = ?", (community_id,))
        conn.execute(_DROP_JOIN_REQUEST, (community_id, user_id))
        return membership

    @staticmethod
    def _leave(conn: sqlite3.Connection, community_id: str, user_id: str) -> bool:
        cursor = conn.execute(
            "DELETE FROM memberships WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )
        if cursor.rowcount == 0:
            return False
        conn.execute("UPDATE communities SET member_count = member_count - 1 WHERE id = ?", (community_id,))
        return True

    async def remove_member(self, community_id: str, user_id: str) -> bool:
        return await self._write(self._leave, community_id, user_id)

    async def set_role(self, community_id: str, user_id: str, role: str) -> bool:
        changed = await self._change(
            "UPDATE memberships SET role = ? WHERE community_id = ? AND user_id = ?",
            (role, community_id, user_id),
        )
        return changed == 1

    async def transfer_ownership(self, community_id: str, from_id: str, to_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            owner = conn.execute("SELECT owner_id FROM communities WHERE id = ?", (community_id,)).fetchone()
            if from_id == to_id or owner is None or owner["owner_id"] != from_id:
                return False
            set_role = "UPDATE memberships SET role = ? WHERE community_id = ? AND user_id = ?"
            if conn.execute(set_role, ("owner", community_id, to_id)).rowcount == 0:
                return False  # not a member: nothing was written
            conn.execute(set_role, ("moderator", community_id, from_id))
            conn.execute("UPDATE communities SET owner_id = ? WHERE id = ?", (to_id, community_id))
            return True

        return await self._write(write)

    async def members(self, community_id: str, *, after: str | None, limit: int) -> list[MembershipRecord]:
        rows = await self._all(
            f"SELECT {_MEMBERSHIP_COLUMNS} FROM memberships WHERE community_id = ? AND id > ? "
            "ORDER BY id LIMIT ?",
            (community_id, after or _BELOW_EVERY_ID, limit),
        )
        return [_record(MembershipRecord, row) for row in rows]

    async def member_ids(self, community_id: str, *, roles: tuple[str, ...] | None = None) -> list[str]:
        rows = await self._all(
            "SELECT user_id FROM memberships WHERE community_id = :community "
            "AND (:roles IS NULL OR role IN (SELECT value FROM json_each(:roles))) ORDER BY id",
            {"community": community_id, "roles": None if roles is None else _json(roles)},
        )
        return [row[0] for row in rows]

    async def add_join_request(self, community_id: str, user_id: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO join_requests (community_id, user_id, id, created_ms) "
                "VALUES (?, ?, ?, ?)",
                (community_id, user_id, self._ids.new(now_ms), now_ms),
            )
            return cursor.rowcount == 1

        return await self._write(write)

    async def remove_join_request(self, community_id: str, user_id: str) -> bool:
        removed = await self._change(_DROP_JOIN_REQUEST, (community_id, user_id))
        return removed == 1

    async def join_requests(self, community_id: str, *, limit: int) -> list[JoinRequestRecord]:
        rows = await self._all(
            "SELECT community_id, user_id, created_ms FROM join_requests WHERE community_id = ? "
            "ORDER BY created_ms, id LIMIT ?",
            (community_id, limit),
        )
        return [_record(JoinRequestRecord, row) for row in rows]

    async def has_join_request(self, community_id: str, user_id: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM join_requests WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )

    async def ban(self, community_id: str, user_id: str, *, by: str, now_ms: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO bans (community_id, user_id, by_id, created_ms) VALUES (?, ?, ?, ?)",
                (community_id, user_id, by, now_ms),
            )
            if cursor.rowcount == 0:
                return False
            self._leave(conn, community_id, user_id)
            conn.execute(_DROP_JOIN_REQUEST, (community_id, user_id))
            return True

        return await self._write(write)

    async def unban(self, community_id: str, user_id: str) -> bool:
        removed = await self._change(
            "DELETE FROM bans WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )
        return removed == 1

    async def is_banned(self, community_id: str, user_id: str) -> bool:
        return await self._exists(
            "SELECT 1 FROM bans WHERE community_id = ? AND user_id = ?", (community_id, user_id)
        )
