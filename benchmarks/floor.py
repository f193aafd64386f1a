"""The floor: each scenario's JSON parsing and database operations done directly through PyMongo, without HTTP.

No server can beat the database and the JSON work a request needs; SkyDriver's throughput is reported as a
fraction of this, measured in the same run against the same database, so the database's own speed cancels out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import orjson
from bson import Binary
from payloads import lookup_key
from pymongo import AsyncMongoClient


def parse(body: bytes) -> Any:
    """orjson, or the standard library when the text holds bare NaN tokens (as the scanner sends)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Floor:
    """Direct-driver equivalents of the routes, on SkyDriver's own database."""

    def __init__(self, port: int, database: str = "skydriver"):
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            f"mongodb://127.0.0.1:{port}/?directConnection=true", tz_aware=True, maxPoolSize=64
        )
        self.db = self.client[database]

    async def close(self) -> None:
        await self.client.close()

    async def manifest_template(self, scan_id: str) -> dict[str, Any]:
        doc = await self.db.manifests.find_one({"scan_id": scan_id}, {"_id": 0})
        assert doc is not None, scan_id
        return doc

    async def post_scan(self, body: bytes, template: dict[str, Any]) -> bytes:
        value = parse(body)
        event_json = dumps(value["event_i3live_json"])
        key = uuid.uuid4().hex
        assert await self.db.manifests.find_one({"idempotency_key": key}) is None
        scan_id = uuid.uuid4().hex
        manifest = {**template, "scan_id": scan_id, "created": _now(), "idempotency_key": key}
        await self.db.events.insert_one({"scan_id": scan_id, "json": Binary(event_json)})
        await self.db.manifests.insert_one(manifest)
        await self.db.backlog.insert_one({"scan_id": scan_id, "priority": 0, "created": manifest["created"], "lease": None})
        return dumps({"scan_id": scan_id})[:-1] + b',"event_i3live_json_dict":' + event_json + b"}"

    async def patch_progress(self, scan_id: str, body: bytes) -> bytes:
        """The report's JSON text into the scan's progress document while its manifest is read (its event_metadata,
        the same in every report of a scan, is not rewritten)."""
        value = parse(body)
        progress = {"json": Binary(dumps(value["progress"])), "last_progress": _now()}
        doc, _ = await asyncio.gather(
            self.db.manifests.find_one({"scan_id": scan_id}, {"_id": 0}),
            self.db.progress.replace_one({"_id": scan_id}, progress, upsert=True),
        )
        assert doc is not None, scan_id
        return dumps({**doc, "progress": value["progress"]})

    async def put_result(self, scan_id: str, body: bytes) -> bytes:
        value = parse(body)
        result_json = dumps(value["skyscan_result"])
        await self.db.results.update_one(
            {"scan_id": scan_id, "is_final": {"$ne": True}},
            {"$set": {"json": Binary(result_json), "is_final": value["is_final"], "last_updated": _now()}, "$setOnInsert": {"is_deleted": False}},
            upsert=True,
        )
        return b'{"scan_id":"' + scan_id.encode() + b'","skyscan_result":' + result_json + b"}"

    async def get_manifest(self, scan_id: str) -> bytes:
        lookup = {"from": "progress", "localField": "scan_id", "foreignField": "_id", "as": "reported"}
        pipeline = [{"$match": {"scan_id": scan_id}}, {"$limit": 1}, {"$lookup": lookup}, {"$project": {"_id": 0, "reported._id": 0}}]
        doc = await anext(await self.db.manifests.aggregate(pipeline))
        event = await self.db.events.find_one({"scan_id": scan_id}, {"_id": 0, "json": 1})
        assert event is not None
        if reported := doc.pop("reported"):
            doc["progress"] = parse(reported[0]["json"])
        return dumps(doc)[:-1] + b',"event_i3live_json_dict":' + bytes(event["json"]) + b"}"

    async def get_result(self, scan_id: str) -> bytes:
        doc = await self.db.results.find_one({"scan_id": scan_id}, {"_id": 0, "scan_id": 1, "is_final": 1, "json": 1})
        assert doc is not None
        return b'{"scan_id":"' + scan_id.encode() + b'","skyscan_result":' + bytes(doc["json"]) + b"}"

    async def find_scans(self, scan_number: int) -> bytes:
        run_id, event_id = lookup_key(scan_number)
        selector = {"lookup.run_id": run_id, "lookup.event_id": event_id, "lookup.is_real_event": True, "is_deleted": False}
        cursor = self.db.manifests.find(selector, {"_id": 0, "scan_id": 1}).sort("created", 1)
        return dumps({"event_id": event_id, "scan_ids": [doc["scan_id"] async for doc in cursor]})

    async def manifest_count(self) -> int:
        return await self.db.manifests.estimated_document_count()

    async def insert_manifests(self, docs: list[dict[str, Any]]) -> None:
        await self.db.manifests.insert_many(docs, ordered=False)
