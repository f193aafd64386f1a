"""The progress collection: each scan's latest progress report and when it came, apart from its manifest.

Scanners report every few minutes for hours. On the embedded database an update maintains every index of its
collection and decodes and re-encodes the whole document, so the report lives in a small document under ``_id`` =
scan_id (and one small index, ``watch``) instead of in the manifest (nine indexes), as its JSON text (like the event): neither the
database nor the driver then walks its nested fields on each write and read. ManifestStore merges it into every
ScanRecord it reads. The first report's time stays in the manifest (written once per scan).

A manifest written before this collection existed may hold a ``progress`` and a ``times.last_progress`` of its own:
``merged`` keeps the report of the progress document when there is one, and the later ``last_progress``.
A progress document lives as long as its manifest: nothing deletes manifests (DELETE marks them deleted), and a report
for an unknown scan leaves none behind (``ManifestStore.patch``).

While its scan may still be running, the document's ``watch`` repeats ``last_progress``; the transitions that end a
scan remove it (a report that comes after the end sets it again: the list that finds it ended removes it). Its index
answers "which running scans have not reported since T" (GET /scans/list's STALLED) by reading those alone, which an
index on ``last_progress`` could not: that is set on every scan that ever reported, nearly all of them ended. Replicas
of an earlier version record reports without it; the reconcile pass's read of the launched scans sets it again
(``ManifestStore.unfinished``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bson import Binary
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from .. import json_codec
from .batched import find_in

WATCH = "watch"
PROGRESS_TIMES = {"last_progress": 1}  # what the scan state and stall detection need (the first is in the manifest)
PROGRESS_WHOLE = {**PROGRESS_TIMES, "json": 1}


def merged(manifest: dict[str, Any], reported: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest document as if it held its progress document (whose report wins over one stored in it)."""
    if not reported:
        return manifest
    times = dict(manifest.get("times") or {})
    if (last := reported.get("last_progress")) is not None and (times.get("last_progress") is None or last > times["last_progress"]):
        times["last_progress"] = last
    doc = {**manifest, "times": times}
    if "json" in reported:
        doc["progress"] = json_codec.loads(reported["json"])[0]
    elif "progress" in reported:  # a report that was just written, not read
        doc["progress"] = reported["progress"]
    return doc


def report_doc(progress: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    """The stored form of a report received at ``at`` (from a running scan: watched)."""
    return {"json": Binary(json_codec.dumps(progress, json_codec.has_non_finite(progress))), "last_progress": at, WATCH: at}


class ProgressStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def record(self, scan_id: str, progress: dict[str, Any], at: dt.datetime) -> None:
        """Store a report as the scan's latest, received at ``at`` (one atomic upsert)."""
        doc = report_doc(progress, at)
        try:
            await self.collection.replace_one({"_id": scan_id}, doc, upsert=True)
        except DuplicateKeyError:  # a concurrent first report inserted it: it exists now
            await self.collection.replace_one({"_id": scan_id}, doc)

    async def get(self, scan_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": scan_id}, PROGRESS_WHOLE)

    async def of(self, scan_ids: list[str], projection: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The progress documents of many scans, by scan_id, in indexed reads of a batch of ids each."""
        return {doc["_id"]: doc for doc in await find_in(self.collection, "_id", scan_ids, projection)}

    async def silent(self, since: dt.datetime, before: dt.datetime) -> dict[str, dt.datetime]:
        """The watched scans whose last report came within [since, before), by scan_id (a closed range on the indexed
        field alone: the embedded database reads every document for an open one, as missing fields sort first)."""
        docs = self.collection.find({WATCH: {"$gte": since, "$lt": before}}, {WATCH: 1})
        return {doc["_id"]: doc[WATCH] async for doc in docs}

    async def watch(self, scan_id: str, last: dt.datetime) -> None:
        """Watch a running scan's silence from its last report ``last`` (``$max``: a later report's time stays)."""
        try:
            await self.collection.update_one({"_id": scan_id}, {"$max": {WATCH: last}}, upsert=True)
        except DuplicateKeyError:  # a concurrent first report inserted it: it exists now
            await self.collection.update_one({"_id": scan_id}, {"$max": {WATCH: last}})

    async def unwatch(self, scan_id: str, seen: dt.datetime | None = None) -> None:
        """Stop watching an ended scan (only if its watch is still ``seen``, when given: a report since then wins)."""
        await self.collection.update_one({"_id": scan_id, **({WATCH: seen} if seen else {})}, {"$unset": {WATCH: ""}})

    async def forget(self, scan_id: str) -> None:
        await self.collection.delete_one({"_id": scan_id})
