"""The manifest's ``state_key``: how a scan ended, or that it has not, stored and indexed so that GET /scans/list reads
only the scans of a rare state (10 failed among 100k) instead of deriving every scan's state.

It is the coarse group of the derived state (scan_status.scan_state), never the state: PENDING, IN_PROGRESS and
STALLED are all ACTIVE, as what tells them apart is written by progress reports, which must not touch an index. Each
group is decided by stored fields that only ever turn on (a final result, a delete, a failure, a teardown), and the
groups are ranked in scan_state's order of precedence, so a transition raises the key with ``$max`` to its own group's
rank: writers never read the key, concurrent ones commute, and a retried one changes nothing.

Only the lifecycle transitions and the record of the final result write it. Scans stored before the key existed are
keyed once (``key_earlier_scans``, in the background after start-up: until it is done, lists read every scan as
before) except those with a final result: a list that may show SCAN_HAS_FINAL_RESULT, the common state, reads every
scan through the (created, scan_id) index anyway, so that group alone may lack the key (a priority's list reads the
scans without a key of that priority, through its own index). A scan that a replica of an earlier version stores
after that, during a rolling upgrade, gets its key from the next reconcile pass once launched
(``ManifestStore.unfinished``), or from the first transition of this version that moves it.
"""

from __future__ import annotations

import enum
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from .batched import IN_BATCH
from .records import LaunchStatus, ScanRecord

FIELD = "state_key"
MIGRATION = {"_id": FIELD}  # in ``migrations``: scans stored before the key have it (or a final result)


class StateKey(enum.IntEnum):
    """A scan's group, ranked as scan_state ranks what it derives the state from (the highest that holds wins)."""

    ACTIVE = 0  # PENDING__*, IN_PROGRESS__*, STALLED__*
    STOPPED = 1  # torn down or to be, no failure: STOPPED__*
    FAILED = 2  # FAILED__*
    ABORTED = 3  # deleted by a user: ABORTED__*
    FINAL = 4  # SCAN_HAS_FINAL_RESULT


def state_key(scan: ScanRecord) -> StateKey:
    """The group of a stored scan, from the fields its transitions set."""
    if scan.times.final_result:
        return StateKey.FINAL
    if scan.is_deleted:
        return StateKey.ABORTED
    if scan.failure or scan.launch.status is LaunchStatus.FAILED:
        return StateKey.FAILED
    if scan.complete or scan.teardown_at is not None:
        return StateKey.STOPPED
    return StateKey.ACTIVE


def raise_to(key: StateKey) -> dict[str, Any]:
    """The update that moves a scan's key up to ``key`` (never down: a higher group already reached wins)."""
    return {"$max": {FIELD: int(key)}}


KEYED_FIELDS = {  # what ``state_key`` reads
    "_id": 0, "scan_id": 1, "times.final_result": 1, "is_deleted": 1, "failure": 1, "launch.status": 1, "complete": 1,
    "teardown_at": 1,
}  # fmt: skip


async def keys_complete(db: AsyncDatabase) -> bool:
    """Whether every scan that needs a key has it: the marker says so, or no scan lacks it (a new database: marked)."""
    if await db.migrations.find_one(MIGRATION) is not None:
        return True
    if await db.manifests.find_one({FIELD: None}, {"_id": 1}) is not None:  # (through the key's index)
        return False
    await db.migrations.update_one(MIGRATION, {"$set": {"done": True}}, upsert=True)
    return True


async def key_earlier_scans(db: AsyncDatabase) -> int | None:
    """Key the scans stored before the key existed, once per database; how many were keyed (None: done before).

    One collection scan finds the unkeyed scans without a final result (the running ones and those that ended
    otherwise: few); each group is then raised in one ``update_many`` by scan_id. Safe beside other replicas doing
    the same and beside live transitions: every write is a ``$max``, and the fields a group is decided by only turn
    on, so a scan's key ends as the highest group any writer saw. The marker is written last: a start-up killed
    midway does it again.
    """
    if await db.migrations.find_one(MIGRATION) is not None:
        return None
    unkeyed = db.manifests.find({FIELD: {"$exists": False}, "times.final_result": None}, KEYED_FIELDS)
    groups: dict[StateKey, list[str]] = {}
    async for doc in unkeyed:
        groups.setdefault(state_key(ScanRecord.from_doc(doc)), []).append(doc["scan_id"])
    for key, scan_ids in groups.items():
        # a batch of ids per update: the embedded database holds other writes to the collection meanwhile, and its
        # ``$in`` costs grow with the square of its values (batched.py)
        for first in range(0, len(scan_ids), IN_BATCH):
            await db.manifests.update_many({"scan_id": {"$in": scan_ids[first : first + IN_BATCH]}}, raise_to(key))
    await db.migrations.update_one(MIGRATION, {"$set": {"done": True}}, upsert=True)
    return sum(len(ids) for ids in groups.values())
