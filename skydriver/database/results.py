"""The results collection: one document per scan, the latest partial or the final result.

The result is stored as its JSON text (validated on the way in) so that GET returns it byte for byte, bare NaN
tokens and all, without decoding and re-encoding thousands of rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

PROJECTION = {"_id": 0, "scan_id": 1, "is_final": 1, "is_deleted": 1, "json": 1}


class ResultStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def put(self, scan_id: str, result_json: bytes, is_final: bool) -> tuple[dict[str, Any], bool]:
        """Store a result unless a final one is already there and this one is partial.

        One atomic upsert: a partial only matches a non-final document, so a final result is never replaced by a later
        partial (which then finds the unique index in its way). Returns (stored document, whether this PUT was stored).
        """
        now = dt.datetime.now(dt.timezone.utc)
        selector: dict[str, Any] = {"scan_id": scan_id}
        if not is_final:
            selector["is_final"] = {"$ne": True}
        update = {
            "$set": {"json": Binary(result_json), "is_final": is_final, "last_updated": now},
            "$setOnInsert": {"is_deleted": False},
        }
        try:
            await self.collection.update_one(selector, update, upsert=True)
        except DuplicateKeyError:
            current = await self.get(scan_id)
            assert current is not None
            return current, False
        stored = {"scan_id": scan_id, "is_final": is_final, "json": result_json}
        current = await self.collection.find_one({"scan_id": scan_id}, {"_id": 0, "is_deleted": 1})
        stored["is_deleted"] = bool(current and current.get("is_deleted"))
        return stored, True

    async def get(self, scan_id: str) -> dict[str, Any] | None:
        doc = await self.collection.find_one({"scan_id": scan_id}, PROJECTION)
        if doc:
            doc["json"] = bytes(doc["json"])
        return doc

    async def mark_deleted(self, scan_id: str) -> dict[str, Any] | None:
        await self.collection.update_one({"scan_id": scan_id}, {"$set": {"is_deleted": True}})
        return await self.get(scan_id)
