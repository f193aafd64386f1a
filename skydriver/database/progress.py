"""The progress collection: each scan's latest progress report and when reports came, apart from its manifest.

Scanners report every few minutes for hours. On the embedded database an update maintains every index of its
collection and re-encodes the whole document, so the report lives in a small document under ``_id`` = scan_id (the only
index) instead of in the manifest (seven indexes). ManifestStore merges it into every ScanRecord it reads.

A manifest written before this collection existed may hold a ``progress`` and progress ``times`` of its own:
``merged`` keeps the report of the progress document when there is one, the earliest first and latest last report.
A progress document lives as long as its manifest: nothing deletes manifests (DELETE marks them deleted), and a report
for an unknown scan leaves none behind (``ManifestStore.patch``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

PROGRESS_TIMES = {"first_progress": 1, "last_progress": 1}  # what the scan state and stall detection need
PROGRESS_WATCHED = {  # what progress streams follow (see manifests.WATCHED)
    **PROGRESS_TIMES, "progress.tallies": 1, "progress.last_updated": 1, "progress.processing_stats.finished": 1,
}  # fmt: skip
PROGRESS_WHOLE = {**PROGRESS_TIMES, "progress": 1}


def merged(manifest: dict[str, Any], reported: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest document as if it held its progress document (which wins over a progress stored in it)."""
    if not reported:
        return manifest
    times = dict(manifest.get("times") or {})
    first = [t for t in (times.get("first_progress"), reported.get("first_progress")) if t is not None]
    last = [t for t in (times.get("last_progress"), reported.get("last_progress")) if t is not None]
    times.update(first_progress=min(first, default=None), last_progress=max(last, default=None))
    doc = {**manifest, "times": times}
    if "progress" in reported:
        doc["progress"] = reported["progress"]
    return doc


class ProgressStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def record(self, scan_id: str, progress: dict[str, Any], at: dt.datetime) -> None:
        """Store a report as the scan's latest, received at ``at`` (one atomic upsert)."""
        update = {"$set": {"progress": progress, "last_progress": at}, "$min": {"first_progress": at}}
        try:
            await self.collection.update_one({"_id": scan_id}, update, upsert=True)
        except DuplicateKeyError:  # a concurrent first report inserted it: it exists now
            await self.collection.update_one({"_id": scan_id}, update)

    async def get(self, scan_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": scan_id}, PROGRESS_WHOLE)

    async def of(self, scan_ids: list[str], projection: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The progress documents of many scans, by scan_id, in one indexed read."""
        if not scan_ids:
            return {}
        return {doc["_id"]: doc async for doc in self.collection.find({"_id": {"$in": scan_ids}}, projection)}

    async def forget(self, scan_id: str) -> None:
        await self.collection.delete_one({"_id": scan_id})
