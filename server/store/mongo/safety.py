"""Safety statuses, incidents and the operator's pages on MongoDB: :class:`SafetyStore`, one part of
:class:`~server.store.mongo.MongoStorage`.

Every write here is one document, so each is atomic on its own. "One active incident at a
time" is decided by a unique index (see "Incidents" in :mod:`server.store.mongo`), so that
concurrent starts from any number of processes leave exactly one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from ..base import IncidentRecord, PageRecord, SafetyRecord
from .database import Database
from .driver import Document, before_filter, chunks, driver_errors
from .records import incident_record, safety_record

#: The only active incident: the ``one_active`` index holds the documents that match it.
_ACTIVE: Final[Mapping[str, bool]] = {"active": True}


class SafetyStore(Database):
    """What people tell their friends and followers in a disaster (safety statuses, with their
    history), and the incidents operators declare."""

    # --- safety statuses ---------------------------------------------------------------------

    async def add_safety_status(
        self, *, user_id: str, state: str, note: str, area: str | None, audience: str, now_ms: int
    ) -> SafetyRecord:
        status = SafetyRecord(self._ids.new(now_ms), user_id, state, note, area, audience, now_ms)
        with driver_errors():
            await self._safety.insert_one(
                {
                    "_id": status.id,
                    "user_id": user_id,
                    "state": state,
                    "note": note,
                    "area": area,
                    "audience": audience,
                    "created_ms": now_ms,
                }
            )
        return status

    async def latest_safety(self, user_ids: list[str]) -> dict[str, SafetyRecord]:
        latest: dict[str, SafetyRecord] = {}
        with driver_errors():
            for chunk in chunks(user_ids):
                cursor = await self._safety.aggregate(
                    [
                        {"$match": {"user_id": {"$in": chunk}}},
                        # The order of the by_user_newest index: no sort in memory.
                        {"$sort": {"user_id": 1, "_id": -1}},
                        {"$group": {"_id": "$user_id", "latest": {"$first": "$$ROOT"}}},
                    ]
                )
                async for group in cursor:
                    latest[group["_id"]] = safety_record(group["latest"])
        return latest

    async def safety_history(
        self, user_id: str, *, audiences: tuple[str, ...], before: str | None, limit: int
    ) -> list[SafetyRecord]:
        if limit <= 0 or not audiences:
            return []
        query: Document = {"user_id": user_id, "audience": {"$in": list(audiences)}}
        query.update(before_filter("_id", before))
        with driver_errors():
            cursor = self._safety.find(query).sort("_id", DESCENDING).limit(limit)
            return [safety_record(doc) async for doc in cursor]

    # --- incidents ---------------------------------------------------------------------------

    async def start_incident(
        self, *, title: str, area: str | None, started_by: str | None, now_ms: int
    ) -> IncidentRecord | None:
        incident = IncidentRecord(self._ids.new(now_ms), title, area, started_by, now_ms, None)
        with driver_errors():
            try:
                await self._incidents.insert_one(
                    {
                        "_id": incident.id,
                        "title": title,
                        "area": area,
                        "started_by": started_by,
                        "started_ms": now_ms,
                        "ended_ms": None,
                        **_ACTIVE,
                    }
                )
            except DuplicateKeyError:  # the only unique key but the fresh _id: one_active
                return None
        return incident

    async def end_incident(self, now_ms: int) -> IncidentRecord | None:
        # Removing the field takes the incident out of one_active in the same atomic update,
        # so the next start may succeed at once; of concurrent ends, one matches.
        with driver_errors():
            doc = await self._incidents.find_one_and_update(
                _ACTIVE,
                {"$set": {"ended_ms": now_ms}, "$unset": {"active": ""}},
                return_document=ReturnDocument.AFTER,
            )
        return incident_record(doc) if doc else None

    async def active_incident(self) -> IncidentRecord | None:
        with driver_errors():
            doc = await self._incidents.find_one(_ACTIVE)
        return incident_record(doc) if doc else None

    async def get_incident(self, incident_id: str) -> IncidentRecord | None:
        with driver_errors():
            doc = await self._incidents.find_one({"_id": incident_id})
        return incident_record(doc) if doc else None

    # --- operator pages ----------------------------------------------------------------------

    async def get_page(self, name: str) -> PageRecord | None:
        with driver_errors():
            doc = await self._pages.find_one({"_id": name})
        return PageRecord(name, doc["markdown"], doc["updated_ms"]) if doc else None

    async def set_page(self, name: str, markdown: str, now_ms: int) -> PageRecord:
        with driver_errors():
            await self._pages.replace_one(
                {"_id": name}, {"_id": name, "markdown": markdown, "updated_ms": now_ms}, upsert=True
            )
        return PageRecord(name, markdown, now_ms)

    async def delete_page(self, name: str) -> bool:
        with driver_errors():
            result = await self._pages.delete_one({"_id": name})
        return result.deleted_count > 0
