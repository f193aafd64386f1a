"""The events collection: each scan's realtime event, kept apart from its manifest.

An event is 100-500 kB; stored beside the manifest rather than inside it, the manifest's frequent small updates
(progress, cluster states) never rewrite half a megabyte. Kept as its JSON text, so reading it costs no re-encoding.
"""

from __future__ import annotations

from typing import Any

from bson import Binary
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection


class EventStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def insert(self, scan_id: str, event_json: bytes, session: AsyncClientSession | None = None) -> None:
        await self.collection.insert_one({"scan_id": scan_id, "json": Binary(event_json)}, session=session)

    async def get_json(self, scan_id: str) -> bytes | None:
        doc: dict[str, Any] | None = await self.collection.find_one({"scan_id": scan_id}, {"_id": 0, "json": 1})
        return bytes(doc["json"]) if doc else None
