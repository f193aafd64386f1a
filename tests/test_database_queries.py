"""Teardown claims on a real database (each due scan taken once, a dead claimer's scan comes back, at once to its own
restarted instance); hot queries read an index; indexes of earlier versions are replaced."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from skydriver.database.backlog import LeaseOwner
from skydriver.database.batched import IN_BATCH, find_in
from skydriver.database.connection import OBSOLETE_INDEXES, open_database
from skydriver.database.manifests import (
    EPOCH,
    UNFINISHED,
    ManifestStore,
    due_teardowns,
    now,
    scans_of_event,
    scheduled_teardowns,
)
from skydriver.database.progress import WATCH
from skydriver.server import SkyDriver
from tests.conftest import make_settings

LEASE = dt.timedelta(seconds=60)
OWNER = LeaseOwner("here", now() - dt.timedelta(hours=1))


def manifest(scan_id: str, teardown_at: dt.datetime | None, complete: bool = False) -> dict[str, Any]:
    return {"scan_id": scan_id, "is_deleted": False, "complete": complete, "teardown_at": teardown_at, "launch": {"status": "launched"}}


async def test_each_due_scan_is_claimed_once_and_its_schedule_moves_to_the_lease_end(driver: SkyDriver) -> None:
    store = ManifestStore(driver.database.db[f"claims_{uuid.uuid4().hex[:8]}"], driver.database.db.progress)
    past = now() - dt.timedelta(seconds=5)
    for doc in [manifest("due-1", past), manifest("due-2", past), manifest("later", now() + LEASE), manifest("idle", None)]:
        await store.insert(doc)
    claims = await asyncio.gather(*(store.claim_due_teardown(OWNER, LEASE) for _ in range(5)))
    taken = sorted(c["scan_id"] for c in claims if c)
    assert taken == ["due-1", "due-2"]
    claimed = await store.get("due-1")
    assert claimed.teardown_at is not None and claimed.teardown_at > now() + LEASE - dt.timedelta(seconds=5)  # not due again while the lease runs


async def test_a_claimers_expired_lease_makes_the_scan_due_again(driver: SkyDriver) -> None:
    store = ManifestStore(driver.database.db[f"claims_{uuid.uuid4().hex[:8]}"], driver.database.db.progress)
    await store.insert(manifest("s", now() - dt.timedelta(seconds=1)))
    assert (await store.claim_due_teardown(OWNER, dt.timedelta(seconds=-1)))["scan_id"] == "s"  # claimer died at once
    assert (await store.claim_due_teardown(OWNER, LEASE))["scan_id"] == "s"
    assert await store.claim_due_teardown(OWNER, LEASE) is None


async def test_a_restarted_instance_takes_back_its_own_interrupted_teardowns_at_once_and_only_those(driver: SkyDriver) -> None:
    store = ManifestStore(driver.database.db[f"claims_{uuid.uuid4().hex[:8]}"], driver.database.db.progress)
    for scan_id in ("mine", "other-instance"):
        await store.insert(manifest(scan_id, now() - dt.timedelta(seconds=1)))
    await store.insert(manifest("waiting", now() + LEASE))  # WAIT_BEFORE_TEARDOWN: scheduled, never claimed
    assert (await store.claim_due_teardown(OWNER, LEASE))["scan_id"] == "mine"
    other = LeaseOwner("there", OWNER.boot)
    assert (await store.claim_due_teardown(other, LEASE))["scan_id"] == "other-instance"
    assert await store.release_earlier_teardowns(OWNER) == []  # the same boot: its claims are alive
    assert await store.claim_due_teardown(OWNER, LEASE) is None

    restarted = LeaseOwner.booting_now(OWNER.instance)
    assert await store.release_earlier_teardowns(restarted) == ["mine"]
    retaken = await store.claim_due_teardown(restarted, LEASE)
    assert retaken["scan_id"] == "mine" and retaken["teardown_lease"] == {"instance": "here", "boot": restarted.boot}
    assert await store.claim_due_teardown(restarted, LEASE) is None  # the other instance's lease still runs


async def test_polls_and_lookups_by_key_use_indexes(driver: SkyDriver) -> None:
    """The loops poll every second / minute, POST looks up its Idempotency-Key, GET /scans its run and event, all
    against every scan ever made: a collection scan would make each cost grow with history."""
    manifests = driver.database.manifests.collection
    await manifests.insert_many([manifest(f"old-{n}", None, complete=True) for n in range(50)])
    polls = [
        manifests.find(due_teardowns(now())).sort("teardown_at", 1).limit(5),
        manifests.find(scheduled_teardowns(now())),
        manifests.find(UNFINISHED),
        manifests.find({"idempotency_key": "some-key"}).limit(1),
        manifests.find({"scan_id": "old-7"}).limit(1),
        *(manifests.find(scans_of_event(1, 2, True, deleted)).sort("created", 1) for deleted in (False, True)),
        driver.database.manifests.progress.collection.find({"_id": {"$in": ["old-7", "old-8"]}}),  # lists, streams, reconcile
        driver.database.manifests.progress.collection.find({WATCH: {"$gte": EPOCH, "$lt": now()}}),  # STALLED lists
    ]
    for cursor in polls:
        plan = str((await cursor.explain())["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, plan


async def test_indexes_of_earlier_versions_are_replaced(mongo_uri: str, tmp_path: Path) -> None:
    settings = make_settings(mongo_uri, tmp_path)
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
    manifests = client[settings.mongodb_database].manifests
    await manifests.create_index("idempotency_key", unique=True, partialFilterExpression={"idempotency_key": {"$type": "string"}})
    await manifests.create_index("complete")
    database = await open_database(settings)
    try:
        names = set(await manifests.index_information())
        assert not names & set(OBSOLETE_INDEXES) and "idempotency_key_unique" in names
    finally:
        await database.close()
        await client.close()


async def test_reads_by_many_ids_come_back_whole_across_batches(driver: SkyDriver) -> None:
    """find_in splits long `$in` lists (the embedded database's cost grows with their square); none is lost or doubled."""
    collection = driver.database.db[f"batched_{uuid.uuid4().hex[:8]}"]
    ids = [f"scan-{n}" for n in range(2 * IN_BATCH + 7)]
    await collection.insert_many([{"_id": i, "n": n} for n, i in enumerate(ids)] + [{"_id": "other", "n": -1}])
    found = await find_in(collection, "_id", ids, {"n": 1})
    assert sorted(doc["_id"] for doc in found) == sorted(ids)
    assert await find_in(collection, "_id", [], {"n": 1}) == []
