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
        The common case (no deleted flag) also matches only not-deleted documents, so it needs no read afterwards.
        """
        fields = {"json": Binary(result_json), "is_final": is_final, "last_updated": dt.datetime.now(dt.UTC)}
        selector: dict[str, Any] = {"scan_id": scan_id} if is_final else {"scan_id": scan_id, "is_final": {"$ne": True}}
        try:
            await self.collection.update_one(
                {**selector, "is_deleted": False}, {"$set": fields}, upsert=True  # an insert takes is_deleted from the selector
            )
            return {"scan_id": scan_id, "is_final": is_final, "json": result_json, "is_deleted": False}, True
        except DuplicateKeyError:
            pass  # a final result is there already, or the result was deleted
        if (await self.collection.update_one({**selector, "is_deleted": True}, {"$set": fields})).matched_count:
            return {"scan_id": scan_id, "is_final": is_final, "json": result_json, "is_deleted": True}, True
        current = await self.get(scan_id)
        assert current is not None
        return current, False

    async def get(self, scan_id: str) -> dict[str, Any] | None:
        doc = await self.collection.find_one({"scan_id": scan_id}, PROJECTION)
        if doc:
            doc["json"] = bytes(doc["json"])
        return doc

    async def mark_deleted(self, scan_id: str) -> dict[str, Any] | None:
        await self.collection.update_one({"scan_id": scan_id}, {"$set": {"is_deleted": True}})
        return await self.get(scan_id)
