"""The launch backlog: scans accepted and not yet launched, claimed atomically by the backlog runner.

A claim is a lease (owner + expiry), not a deletion, so a SkyDriver killed mid-launch leaves the entry to be taken
again: by itself as soon as it is back (the lease names its instance and boot time, and a later boot of the same
instance knows the earlier one is dead), by any other replica when the lease runs out. The launcher's idempotent
``start`` makes the second attempt harmless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from .manifests import now

LAUNCH_ORDER = [("priority", -1), ("created", 1)]  # the backlog's index
# what a claim judges an entry by, and then compares-and-sets on (looked up through the scan_id index)
CLAIM_FIELDS = {"_id": 0, "scan_id": 1, "attempts": 1, "next_attempt_at": 1, "lease": 1}


@dataclasses.dataclass(frozen=True)
class LeaseOwner:
    """Who holds a lease: a SkyDriver instance (the same name across its restarts) and when this run of it began."""

    instance: str
    boot: dt.datetime

    @classmethod
    def booting_now(cls, instance: str) -> LeaseOwner:
        t = now()  # to the millisecond, as stored: a lease of this boot must compare equal to it, not earlier
        return cls(instance, t.replace(microsecond=t.microsecond // 1000 * 1000))

    def lease(self, until: dt.datetime) -> dict[str, Any]:
        return {"instance": self.instance, "boot": self.boot, "until": until}


def is_free_for(entry: dict[str, Any], owner: LeaseOwner, t: dt.datetime) -> bool:
    """Whether ``owner`` may claim the entry at ``t``: not leased, lease run out, or leased by an earlier run of itself."""
    lease = entry["lease"]
    return lease is None or lease["until"] < t or (lease["instance"] == owner.instance and lease["boot"] < owner.boot)


def at_or_above(min_priority: int | None) -> dict[str, Any]:
    """A claim's query: the entries at or above a priority (all of them for None), on the indexed field alone."""
    return {} if min_priority is None else {"priority": {"$gte": min_priority}}


class BacklogStore:
    def __init__(self, collection: AsyncCollection):
        self.collection = collection

    async def insert(self, scan_id: str, priority: int, session: AsyncClientSession | None = None) -> None:
        t = now()
        entry = {"scan_id": scan_id, "priority": priority, "created": t, "next_attempt_at": t, "attempts": 0, "lease": None}
        await self.collection.insert_one(entry, session=session)

    async def claim(self, owner: LeaseOwner, lease: dt.timedelta, min_priority: int | None = None) -> dict[str, Any] | None:
        """The highest-priority, oldest entry that is due and free for ``owner``; None if there is none.

        The query selects on priority alone (an alert's claim, ``min_priority``, reads only the entries at or above it
        through the index, however many wait below) and whether an entry is due and free is judged here: the embedded
        database's planner reads the whole collection for a filter holding ``$or`` or fields its index lacks (~0.1 s
        per claim at 1,000 entries waiting, ~1 s at 10,000). A claim of any priority walks the index in launch order
        to the first claimable entry (the embedded database still decodes every entry first: ~0.1 s at 1,000).
        """
        t = now()
        cursor = self.collection.find(at_or_above(min_priority), CLAIM_FIELDS).sort(LAUNCH_ORDER)
        try:
            async for candidate in cursor:
                if candidate["next_attempt_at"] > t or not is_free_for(candidate, owner, t):
                    continue
                # compare-and-set on what the entry was judged by: of two runners racing for it, exactly one matches
                claimed = await self.collection.update_one(
                    candidate, {"$set": {"lease": owner.lease(t + lease)}, "$inc": {"attempts": 1}}
                )
                if claimed.modified_count:
                    return await self.collection.find_one({"scan_id": candidate["scan_id"]}, {"_id": 0})
        finally:
            await cursor.close()
        return None

    async def release(self, scan_id: str, owner: LeaseOwner) -> None:
        """Give back a lease ``owner`` holds (its step was cut short) so it can be claimed again at once."""
        await self.collection.update_one(
            {"scan_id": scan_id, "lease.instance": owner.instance, "lease.boot": owner.boot}, {"$set": {"lease": None}}
        )

    async def retry_later(self, scan_id: str, delay: float) -> None:
        await self.collection.update_one(
            {"scan_id": scan_id}, {"$set": {"lease": None, "next_attempt_at": now() + dt.timedelta(seconds=delay)}}
        )

    async def remove(self, scan_id: str) -> bool:
        return (await self.collection.delete_one({"scan_id": scan_id})).deleted_count > 0

    async def in_launch_order(self, n: int) -> list[dict[str, Any]]:
        """The first ``n`` entries in the order the runner takes them: priority, then age (an entry waiting to retry a
        failed launch is passed over until its ``next_attempt_at``)."""
        cursor = self.collection.find({}, {"_id": 0, "lease": 0}).sort(LAUNCH_ORDER).limit(n)
        return [doc async for doc in cursor]

    async def count(self) -> int:
        return await self.collection.count_documents({})

    async def oldest_created(self) -> dt.datetime | None:
        """When the longest-waiting scan was accepted (None with an empty backlog; for metrics)."""
        oldest = await self.collection.find_one({}, {"_id": 0, "created": 1}, sort=[("created", 1)])
        return oldest["created"] if oldest else None
