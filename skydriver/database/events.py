"""The events collection: each scan's realtime event, kept apart from its manifest.

An event is 100-500 kB; stored beside the manifest rather than inside it, the manifest's frequent small updates
(progress, cluster states) never rewrite half a megabyte. Kept as its JSON text, so reading it costs no re-encoding;
an event too big for one document is kept in GridFS (see ``blobs``).
Events never change once written, so recently used ones are also kept in memory: a manifest poll then costs one
small read instead of fetching half a megabyte from the database.
"""

from __future__ import annotations

import collections
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .blobs import BlobStore


class EventStore:
    def __init__(self, collection: AsyncCollection, blobs: BlobStore, cache_bytes: int):
        self.collection = collection
        self.blobs = blobs
        self._cache: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._cache_bytes = cache_bytes
        self._cached = 0

    async def text_fields(self, scan_id: str, event_json: bytes) -> dict[str, Any]:
        """What ``insert`` stores; a large event is written to GridFS here, before (and outside) the transaction."""
        return await self.blobs.fields(event_json, scan_id)

    async def insert(self, scan_id: str, text_fields: dict[str, Any], session: AsyncClientSession | None = None) -> None:
        await self.collection.insert_one({"scan_id": scan_id, **text_fields}, session=session)

    def remember(self, scan_id: str, event_json: bytes) -> None:
        """Keep a stored event in memory (call only once it is durably written), evicting the least recently used."""
        if scan_id in self._cache or len(event_json) > self._cache_bytes:
            return
        self._cache[scan_id] = event_json
        self._cached += len(event_json)
        while self._cached > self._cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self._cached -= len(evicted)

    async def get_json(self, scan_id: str) -> bytes | None:
        if (cached := self._cache.get(scan_id)) is not None:
            self._cache.move_to_end(scan_id)
            return cached
        doc: dict[str, Any] | None = await self.collection.find_one({"scan_id": scan_id}, {"_id": 0, "json": 1, "blob": 1})
        if doc is None:
            return None
        event_json = await self.blobs.text(doc)
        if event_json is None:
            raise RuntimeError(f"scan {scan_id}: the event's GridFS file is missing")
        self.remember(scan_id, event_json)
        return event_json
