"""Teardown claims on a real database: each due scan is taken once, a dead claimer's scan comes back, the poll is indexed."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from skydriver.database.manifests import UNFINISHED, ManifestStore, due_teardowns, now
from skydriver.server import SkyDriver

LEASE = dt.timedelta(seconds=60)


def manifest(scan_id: str, teardown_at: dt.datetime | None, complete: bool = False) -> dict[str, Any]:
    return {"scan_id": scan_id, "is_deleted": False, "complete": complete, "teardown_at": teardown_at, "launch": {"status": "launched"}}


async def test_each_due_scan_is_claimed_once_and_its_schedule_moves_to_the_lease_end(driver: SkyDriver) -> None:
    store = ManifestStore(driver.database.db[f"claims_{uuid.uuid4().hex[:8]}"])
    past = now() - dt.timedelta(seconds=5)
    for doc in [manifest("due-1", past), manifest("due-2", past), manifest("later", now() + LEASE), manifest("idle", None)]:
        await store.insert(doc)
    claims = await asyncio.gather(*(store.claim_due_teardown(LEASE) for _ in range(5)))
    taken = sorted(c["scan_id"] for c in claims if c)
    assert taken == ["due-1", "due-2"]
    claimed = await store.get("due-1")
    assert claimed["teardown_at"] > now() + LEASE - dt.timedelta(seconds=5)  # not due again while the lease runs


async def test_a_claimers_expired_lease_makes_the_scan_due_again(driver: SkyDriver) -> None:
    store = ManifestStore(driver.database.db[f"claims_{uuid.uuid4().hex[:8]}"])
    await store.insert(manifest("s", now() - dt.timedelta(seconds=1)))
    assert (await store.claim_due_teardown(dt.timedelta(seconds=-1)))["scan_id"] == "s"  # claimer died at once
    assert (await store.claim_due_teardown(LEASE))["scan_id"] == "s"
    assert await store.claim_due_teardown(LEASE) is None


async def test_the_teardown_poll_and_the_reconcile_query_use_indexes(driver: SkyDriver) -> None:
    """They run every second / minute against every scan ever made: a collection scan would grow with history."""
    manifests = driver.database.manifests.collection
    await manifests.insert_many([manifest(f"old-{n}", None, complete=True) for n in range(50)])
    polls = [
        manifests.find(due_teardowns(now())).sort("teardown_at", 1).limit(5),
        manifests.find(UNFINISHED),
    ]
    for cursor in polls:
        plan = str((await cursor.explain())["queryPlanner"]["winningPlan"])
        assert "IXSCAN" in plan and "COLLSCAN" not in plan, plan
