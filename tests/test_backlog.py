"""The launch backlog on a real database: order, leases, rate-limit filter, retries."""

from __future__ import annotations

import asyncio
import datetime as dt

from skydriver.server import SkyDriver

LEASE = dt.timedelta(seconds=60)


async def test_claims_go_by_priority_then_age_and_never_twice(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    for scan_id, priority in [("old-normal", 0), ("alert", 100), ("new-normal", 0), ("important", 5)]:
        await backlog.insert(scan_id, priority)
        await asyncio.sleep(0.01)
    claims = await asyncio.gather(*(backlog.claim(f"runner-{i}", LEASE) for i in range(6)))
    taken = [c["scan_id"] for c in claims if c]
    assert sorted(taken) == sorted(["alert", "important", "old-normal", "new-normal"])  # each exactly once
    assert claims.count(None) == 2


async def test_claim_order_and_rate_limit_filter(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    for scan_id, priority in [("a", 0), ("b", 100), ("c", 0), ("d", 5)]:
        await backlog.insert(scan_id, priority)
        await asyncio.sleep(0.01)
    assert (await backlog.claim("r", LEASE, min_priority=100))["scan_id"] == "b"
    assert await backlog.claim("r", LEASE, min_priority=100) is None  # rate-limited: only alerts may go
    assert [(await backlog.claim("r", LEASE))["scan_id"] for _ in range(3)] == ["d", "a", "c"]


async def test_an_expired_lease_is_claimed_again_and_retry_later_waits(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    await backlog.insert("s", 0)
    first = await backlog.claim("crashed-runner", dt.timedelta(seconds=-1))  # its lease is already over
    second = await backlog.claim("next-runner", LEASE)
    assert first["attempts"] == 1 and second["attempts"] == 2 and second["lease"]["owner"] == "next-runner"
    await backlog.retry_later("s", delay=3600)
    assert await backlog.claim("next-runner", LEASE) is None
    assert await backlog.remove("s") and not await backlog.remove("s")
