"""The launch backlog on a real database: order, leases, rate-limit filter, retries."""

from __future__ import annotations

import asyncio
import datetime as dt

from skydriver.database.backlog import LeaseOwner
from skydriver.server import SkyDriver

LEASE = dt.timedelta(seconds=60)


def owner(instance: str) -> LeaseOwner:
    return LeaseOwner.booting_now(instance)


async def test_claims_go_by_priority_then_age_and_never_twice(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    for scan_id, priority in [("old-normal", 0), ("alert", 100), ("new-normal", 0), ("important", 5)]:
        await backlog.insert(scan_id, priority)
        await asyncio.sleep(0.01)
    claims = await asyncio.gather(*(backlog.claim(owner(f"runner-{i}"), LEASE) for i in range(6)))
    taken = [c["scan_id"] for c in claims if c]
    assert sorted(taken) == sorted(["alert", "important", "old-normal", "new-normal"])  # each exactly once
    assert claims.count(None) == 2


async def test_claim_order_and_rate_limit_filter(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    for scan_id, priority in [("a", 0), ("b", 100), ("c", 0), ("d", 5)]:
        await backlog.insert(scan_id, priority)
        await asyncio.sleep(0.01)
    runner = owner("r")
    assert (await backlog.claim(runner, LEASE, min_priority=100))["scan_id"] == "b"
    assert await backlog.claim(runner, LEASE, min_priority=100) is None  # rate-limited: only alerts may go
    assert [(await backlog.claim(runner, LEASE))["scan_id"] for _ in range(3)] == ["d", "a", "c"]


async def test_an_expired_lease_is_claimed_again_and_retry_later_waits(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    await backlog.insert("s", 0)
    first = await backlog.claim(owner("crashed-runner"), dt.timedelta(seconds=-1))  # its lease is already over
    second = await backlog.claim(next_runner := owner("next-runner"), LEASE)
    assert first["attempts"] == 1 and second["attempts"] == 2 and second["lease"]["instance"] == "next-runner"
    await backlog.retry_later("s", delay=3600)
    assert await backlog.claim(next_runner, LEASE) is None
    assert await backlog.remove("s") and not await backlog.remove("s")


async def test_a_restarted_instance_takes_back_its_own_leases_at_once_and_only_those(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    for scan_id in ("held-by-a", "held-by-b"):
        await backlog.insert(scan_id, 100)
    crashed_a, live_b = owner("skydriver-a"), owner("skydriver-b")
    assert (await backlog.claim(crashed_a, LEASE))["scan_id"] == "held-by-a"
    assert (await backlog.claim(live_b, LEASE))["scan_id"] == "held-by-b"
    await asyncio.sleep(0.01)

    restarted_a, other = owner("skydriver-a"), owner("skydriver-c")
    assert restarted_a.boot > crashed_a.boot
    assert await backlog.claim(other, LEASE) is None  # another instance waits for the leases to run out
    retaken = await backlog.claim(restarted_a, LEASE)
    assert retaken["scan_id"] == "held-by-a" and retaken["attempts"] == 2 and retaken["lease"]["boot"] == restarted_a.boot
    assert await backlog.claim(restarted_a, LEASE) is None  # not its live lease, nor another instance's
    assert await backlog.claim(crashed_a, LEASE) is None  # an earlier boot never takes a later one's lease


async def test_a_released_lease_is_free_again_and_release_touches_only_its_own(driver: SkyDriver) -> None:
    backlog = driver.database.backlog
    await backlog.insert("s", 0)
    first, second = owner("a"), owner("b")
    await backlog.claim(first, LEASE)
    await backlog.release("s", second)  # not its lease: nothing happens
    assert await backlog.claim(second, LEASE) is None
    await backlog.release("s", first)
    assert (await backlog.claim(second, LEASE))["lease"]["instance"] == "b"
