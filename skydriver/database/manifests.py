"""The manifests collection: one small document per scan (its event lives in ``events``).

Every change is one atomic update, so concurrent PATCHes from the scanner and the worker starters lose nothing.
Updates are ``update_one`` followed by a read rather than ``find_one_and_update``: the same atomicity, and on the
embedded database 3-4x the throughput (its findAndModify slows down as the collection grows; measured in
benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ..errors import ClusterLimitReached, IdempotencyKeyTaken, ScanNotFound

INTERNAL = {"_id": 0}
WATCHED = {  # what progress streams follow
    "_id": 0, "scan_id": 1, "is_deleted": 1, "complete": 1, "launch.status": 1, "launch.reason": 1,
    "progress.tallies": 1, "progress.last_updated": 1, "progress.processing_stats.finished": 1,
}  # fmt: skip
UNFINISHED = {"launch.status": {"$in": ["launching", "launched"]}}  # and not complete, checked after reading
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # lower bound of every scheduled teardown_at


def duplicated_fields(exc: DuplicateKeyError) -> set[str]:
    """The fields of the unique index a write collided with, as the server reports them (``keyPattern``)."""
    return set((exc.details or {}).get("keyPattern") or {})


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def scans_of_event(run_id: int, event_id: int, is_real_event: bool, include_deleted: bool) -> dict[str, Any]:
    """GET /scans' filter: only fields of the lookup index, so that both MongoDB and the embedded database use it."""
    selector: dict[str, Any] = {"lookup.run_id": run_id, "lookup.event_id": event_id, "lookup.is_real_event": is_real_event}
    if not include_deleted:
        selector["is_deleted"] = False
    return selector


def due_teardowns(t: dt.datetime) -> dict[str, Any]:
    """Scans whose teardown is due at ``t`` (completed scans have no ``teardown_at``)."""
    return {"teardown_at": {"$gte": EPOCH, "$lte": t}}


class ManifestStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def insert(self, doc: dict[str, Any], session: AsyncClientSession | None = None) -> None:
        """Insert a new scan; IdempotencyKeyTaken when another scan already holds its Idempotency-Key."""
        try:
            await self.collection.insert_one(dict(doc), session=session)
        except DuplicateKeyError as exc:
            if duplicated_fields(exc) == {"idempotency_key"}:
                raise IdempotencyKeyTaken(doc["idempotency_key"]) from exc
            raise

    async def get(self, scan_id: str, include_deleted: bool = True) -> dict[str, Any]:
        # select on scan_id alone and check the flag here: the embedded database's planner leaves the unique index
        # for a collection scan when another field joins the filter
        doc = await self.collection.find_one({"scan_id": scan_id}, INTERNAL)
        if doc is None or (doc["is_deleted"] and not include_deleted):
            raise ScanNotFound(scan_id)
        return doc

    async def get_by_idempotency_key(self, key: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"idempotency_key": key}, INTERNAL)

    async def find_scan_ids(self, run_id: int, event_id: int, is_real_event: bool, include_deleted: bool) -> list[str]:
        cursor = self.collection.find(scans_of_event(run_id, event_id, is_real_event, include_deleted), {"_id": 0, "scan_id": 1})
        cursor = cursor.sort("created", 1)
        return [doc["scan_id"] async for doc in cursor]

    async def update(self, scan_id: str, fields: dict[str, Any], condition: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """``$set`` fields atomically (only where ``condition`` also holds); the updated document, or None."""
        selector = {"scan_id": scan_id, **(condition or {})}
        if not await self._updated(selector, {"$set": {**fields, "last_updated": now()}}):
            return None
        return await self.collection.find_one({"scan_id": scan_id}, INTERNAL)

    async def _updated(self, selector: dict[str, Any], update: dict[str, Any], **kwargs: Any) -> bool:
        return (await self.collection.update_one(selector, update, **kwargs)).matched_count > 0

    async def patch(
        self, scan_id: str, fields: dict[str, Any], cluster: dict[str, Any] | None, max_clusters: int
    ) -> dict[str, Any]:
        """Apply a scanner/starter report in one atomic update per step.

        A cluster report is matched on (collector, schedd, cluster_id): the first report appends it, later ones
        replace its ``jobs``/``states``. The guarded ``$push`` makes concurrent first reports append it only once,
        and only while the scan holds fewer than ``max_clusters`` (else ClusterLimitReached).
        """
        fields = {**fields, "last_updated": now()}
        if cluster is None:
            return await self._update_or_raise({"scan_id": scan_id}, {"$set": fields})
        key = {k: cluster[k] for k in ("collector", "schedd", "cluster_id")}
        for _ in range(3):
            if await self._updated(
                {"scan_id": scan_id, "condor_clusters": {"$elemMatch": key}},
                {"$set": {**fields, **{f"condor_clusters.$[c].{k}": v for k, v in cluster.items() if k not in key}}},
                array_filters=[{f"c.{k}": v for k, v in key.items()}],
            ) or await self._updated(
                {"scan_id": scan_id, "condor_clusters": {"$not": {"$elemMatch": key}},
                 f"condor_clusters.{max_clusters - 1}": {"$exists": False}},
                {"$set": fields, "$push": {"condor_clusters": cluster}},
            ):  # fmt: skip
                return await self.get(scan_id)
            # raises ScanNotFound; else the scan is full, or a concurrent first report won the race: go again
            if len((await self.get(scan_id))["condor_clusters"]) >= max_clusters:
                raise ClusterLimitReached(max_clusters)
        raise RuntimeError(f"scan {scan_id}: could not record cluster {key}")

    async def _update_or_raise(self, selector: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        if not await self._updated(selector, update):
            raise ScanNotFound(selector["scan_id"])
        return await self.get(selector["scan_id"])

    async def mark_deleted(self, scan_id: str) -> dict[str, Any]:
        """Mark deleted and, unless already done or scheduled, schedule its teardown for now. Idempotent."""
        await self.collection.update_one(
            {"scan_id": scan_id, "complete": False, "teardown_at": None}, {"$set": {"teardown_at": now()}}
        )
        return await self._update_or_raise({"scan_id": scan_id}, {"$set": {"is_deleted": True, "last_updated": now()}})

    async def schedule_teardown(self, scan_id: str, at: dt.datetime) -> None:
        """After a final result: tear down at ``at`` unless a teardown is already scheduled or done."""
        await self.collection.update_one(
            {"scan_id": scan_id, "complete": False, "teardown_at": None}, {"$set": {"teardown_at": at}}
        )

    async def claim_due_teardown(self, lease: dt.timedelta) -> dict[str, Any] | None:
        """Take one scan whose teardown is due, for ``lease``: two SkyDriver replicas never tear down the same one.

        The claim moves ``teardown_at`` to the lease's end (a claimer that dies leaves it due again then) with a
        compare-and-set on the value it read. The query is a closed range on the indexed field alone: the embedded
        database reads the whole collection for an open range (nulls sort first) or for any extra field.
        """
        t = now()
        due = self.collection.find(due_teardowns(t), {"_id": 0, "scan_id": 1, "teardown_at": 1})
        async for candidate in due.sort("teardown_at", 1).limit(5):
            seen = {"scan_id": candidate["scan_id"], "teardown_at": candidate["teardown_at"]}
            if await self._updated(seen, {"$set": {"teardown_at": t + lease}}):
                return await self.collection.find_one({"scan_id": candidate["scan_id"]}, INTERNAL)
        return None

    async def unfinished(self) -> list[dict[str, Any]]:
        """Scans launched and not yet torn down (for reconciliation after a restart)."""
        # one indexed field in the filter (see claim_due_teardown); the rest is checked here
        cursor = self.collection.find(UNFINISHED, INTERNAL)
        return [doc async for doc in cursor if not doc["complete"]]

    async def watched_fields(self, scan_ids: list[str]) -> list[dict[str, Any]]:
        """What progress streams follow, for many scans in one indexed read (never the event or the cluster list)."""
        cursor = self.collection.find({"scan_id": {"$in": scan_ids}}, WATCHED)
        return [doc async for doc in cursor]

    async def count_by_launch_status(self, statuses: tuple[str, ...]) -> dict[str, int]:
        """How many scans are in each launch status (one indexed count each; for metrics)."""
        counts = await asyncio.gather(*(self.collection.count_documents({"launch.status": s}) for s in statuses))
        return dict(zip(statuses, counts, strict=True))
