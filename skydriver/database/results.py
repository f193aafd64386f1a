"""The results collection: one document per scan, the latest partial or the final result.

The result is stored as its JSON text (validated on the way in) so that GET returns it byte for byte, bare NaN
tokens and all, without decoding and re-encoding thousands of rows. A text too big for the document (a million
pixels at nside 2048 is ~27 MB) is kept in GridFS (see ``blobs``).

Each document also mirrors what GET needs to know of its scan (``scan_deleted``; for a final result,
``teardown_handled``) so that the plotting scripts' polls read one document, not the manifest too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .batched import find_in
from .blobs import BlobStore

PROJECTION = {
    "_id": 0, "scan_id": 1, "is_final": 1, "is_deleted": 1, "json": 1, "blob": 1, "scan_deleted": 1, "teardown_handled": 1,
}  # fmt: skip
VERSION_PROJECTION = {"_id": 0, "scan_id": 1, "is_final": 1, "is_deleted": 1, "last_updated": 1}
READ_ATTEMPTS = 3  # a read racing a replacing write may find the old GridFS file deleted: it reads again


def readable_without_manifest(doc: dict[str, Any]) -> bool:
    """Whether GET can answer from this document without reading the manifest.

    Not when the mirror is missing (documents of earlier versions) or a final result's teardown is not yet known to
    be scheduled (SkyDriver stopped between storing it and scheduling: GET is the safety net).
    """
    return "scan_deleted" in doc and (not doc["is_final"] or bool(doc.get("teardown_handled")))


@dataclasses.dataclass(frozen=True)
class PutOutcome:
    stored: dict[str, Any]  # the document now in the database
    accepted: bool  # False: a partial result arrived after the final one and was ignored
    created: bool  # this PUT wrote the scan's first result


class ResultStore:
    def __init__(self, collection: AsyncCollection, blobs: BlobStore):
        self.collection = collection
        self.blobs = blobs

    async def put(self, scan_id: str, result_json: bytes, is_final: bool) -> PutOutcome:
        """Store a result unless a final one is already there and this one is partial.

        One atomic upsert: a partial only matches a non-final document, so a final result is never replaced by a later
        partial (which then finds the unique index in its way). The common case (no deleted flag, no GridFS file to
        replace) also matches only not-deleted documents without a file, so it needs no read before or after; any
        other case finds the unique index in its way too and takes the slower path, which deletes the replaced file.
        """
        text = await self.blobs.fields(result_json, scan_id)
        fields = {**text, "is_final": is_final, "last_updated": dt.datetime.now(dt.UTC)}
        stored = {"scan_id": scan_id, "is_final": is_final, "json": result_json}
        try:
            written = await self.collection.update_one(
                {**self._selector(scan_id, is_final), "is_deleted": False, "blob": None},  # an insert takes both
                {"$set": fields, "$setOnInsert": {"scan_deleted": False}},
                upsert=True,
            )
            return PutOutcome({**stored, "is_deleted": False}, True, written.upserted_id is not None)
        except DuplicateKeyError:
            pass  # a final result is there already, the result was deleted, or it is a GridFS file
        before = await self.collection.find_one({"scan_id": scan_id}, {"_id": 0, "blob": 1}) or {}
        outcome = await self._replace(scan_id, stored, fields, is_final)
        # (two concurrent PUTs of one scan may both delete the file they saw, leaving the one between them behind)
        await self.blobs.discard(before if outcome.accepted else text)
        return outcome

    @staticmethod
    def _selector(scan_id: str, is_final: bool) -> dict[str, Any]:
        return {"scan_id": scan_id} if is_final else {"scan_id": scan_id, "is_final": {"$ne": True}}

    async def _replace(self, scan_id: str, stored: dict[str, Any], fields: dict[str, Any], is_final: bool) -> PutOutcome:
        """The upsert's other cases, the document's deleted flag either way; ``accepted`` False when a partial met a
        final result."""
        selector = self._selector(scan_id, is_final)
        for deleted in (False, True):
            if (await self.collection.update_one({**selector, "is_deleted": deleted}, {"$set": fields})).matched_count:
                return PutOutcome({**stored, "is_deleted": deleted}, True, False)
        current = await self.get(scan_id)
        assert current is not None
        return PutOutcome(current, False, False)

    async def get(self, scan_id: str, in_parts: bool = False) -> dict[str, Any] | None:
        """The result's document, its text in ``json``; with ``in_parts``, in ``json_parts`` as the list of chunks it
        is stored in instead (a large result's GET writes them out one by one, never holding two copies)."""
        for _ in range(READ_ATTEMPTS):
            doc = await self.collection.find_one({"scan_id": scan_id}, PROJECTION)
            if doc is None:
                return None
            parts = await self.blobs.parts(doc)
            if parts is not None:
                doc.pop("blob", None)
                if in_parts:
                    del doc["json"]
                    doc["json_parts"] = parts
                else:
                    doc["json"] = parts[0] if len(parts) == 1 else b"".join(parts)
                return doc
        raise RuntimeError(f"scan {scan_id}: the result kept changing while it was read")

    async def source(self, scan_id: str) -> dict[str, Any] | None:
        """The result's document for what is made of it (summaries, sky maps): its text in ``json`` when the document
        holds it, else None there and ``blob``, where a render process reads the GridFS file itself
        (``blob_reader``). The file is not read here."""
        doc = await self.collection.find_one({"scan_id": scan_id}, PROJECTION)
        if doc is None:
            return None
        doc["blob"] = self.blobs.address(doc)
        doc["json"] = None if doc["blob"] is not None else bytes(doc["json"])
        return doc

    async def mark_deleted(self, scan_id: str) -> dict[str, Any] | None:
        await self.collection.update_one({"scan_id": scan_id}, {"$set": {"is_deleted": True}})
        return await self.get(scan_id)

    async def mark_scan_deleted(self, scan_id: str) -> None:
        """Mirror a DELETE of the scan (its result's own ``is_deleted`` is for DELETE of the result)."""
        await self.collection.update_one({"scan_id": scan_id}, {"$set": {"scan_deleted": True}})

    async def mark_teardown_handled(self, scan_id: str) -> None:
        """The final result's teardown is scheduled (or the scan was already complete): GET need not check."""
        await self.collection.update_one({"scan_id": scan_id, "is_final": True}, {"$set": {"teardown_handled": True}})

    async def versions(self, scan_ids: list[str]) -> list[dict[str, Any]]:
        """Which scans have a result, and since when, for many scans in indexed reads (never the result itself)."""
        return await find_in(self.collection, "scan_id", scan_ids, VERSION_PROJECTION)
