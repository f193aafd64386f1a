"""The launch backlog on a real database: order, leases, rate-limit filter, retries; the runner woken by a POST."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from skydriver.backlog_runner import BacklogRunner
from skydriver.database.backlog import CLAIM_FIELDS, LAUNCH_ORDER, LeaseOwner, at_or_above
from skydriver.server import SkyDriver, stop_tasks
from tests.http_client import HttpClient
from tests.recording_launcher import RecordingLauncher
from tests.scan_api import post_scan

LEASE = dt.timedelta(seconds=60)
NEVER = 3600.0  # seconds: a poll or rate limit no test waits for


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


async def test_entries_that_cannot_be_claimed_never_hide_the_ones_behind_them(driver: SkyDriver) -> None:
    backlog, runner, other = driver.database.backlog, owner("r"), owner("other")
    for n in range(6):
        await backlog.insert(f"alert-held-{n}", 100)
        await backlog.claim(other, LEASE)
    await backlog.insert("alert-backing-off", 100)
    await backlog.retry_later("alert-backing-off", delay=3600)
    for scan_id in ("alert", "normal"):
        await backlog.insert(scan_id, 100 if scan_id == "alert" else 0)
    assert (await backlog.claim(runner, LEASE, min_priority=100))["scan_id"] == "alert"
    assert (await backlog.claim(runner, LEASE))["scan_id"] == "normal"
    assert await backlog.claim(runner, LEASE) is None


async def test_an_alerts_claim_reads_the_index_not_the_waiting_scans(driver: SkyDriver) -> None:
    """Polled every second while the rate limit holds: it must not read the thousands of scans waiting below."""
    backlog = driver.database.backlog
    for n in range(20):
        await backlog.insert(f"normal-{n}", 0)
    plan = await backlog.collection.find(at_or_above(100), CLAIM_FIELDS).sort(LAUNCH_ORDER).explain()
    winning = str(plan["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in winning and "COLLSCAN" not in winning, winning


class WatchedWake(asyncio.Event):
    """The runner's wake-up, telling the test each time the runner has gone idle (waits on it)."""

    def __init__(self) -> None:
        super().__init__()
        self.runner_idle = asyncio.Event()

    async def wait(self) -> bool:
        self.runner_idle.set()
        return await super().wait()

    async def until_runner_idle(self) -> None:
        await asyncio.wait_for(self.runner_idle.wait(), 30)  # (a hang guard: an hour is what a missed wake-up costs)
        self.runner_idle.clear()


@dataclasses.dataclass
class Runner:
    """A backlog runner on the driver's database that polls once an hour and launches at most once an hour (alerts
    aside), woken by the driver's POSTs."""

    driver: SkyDriver
    launcher: RecordingLauncher = dataclasses.field(default_factory=RecordingLauncher)
    wake: WatchedWake = dataclasses.field(default_factory=WatchedWake)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.driver.service.scan_accepted = self.wake
        settings, service = dataclasses.replace(self.driver.settings, launch_interval=NEVER), self.driver.service
        runner = BacklogRunner(settings, self.driver.database, self.launcher, service.skydriver_address, service.metrics, self.wake, NEVER)
        self.task = asyncio.create_task(runner.run_forever())


@pytest.fixture
async def runner(driver: SkyDriver) -> AsyncIterator[Runner]:
    running = Runner(driver)
    yield running
    if running.task:
        await stop_tasks([running.task])


async def post(user: HttpClient, event: dict[str, Any], priority: int) -> str:
    return str((await post_scan(user, event, priority=priority))["scan_id"])


async def test_an_alert_posted_here_is_launched_without_waiting_for_the_poll(
    runner: Runner, user: HttpClient, driver: SkyDriver, modern_event: dict
) -> None:
    runner.start()
    await runner.wake.until_runner_idle()  # found nothing; its next poll is an hour away
    alert = await post(user, modern_event, priority=100)
    await runner.wake.until_runner_idle()  # woken, launched it, idle again
    assert runner.launcher.started == [alert]
    launch = (await driver.database.manifests.get(alert)).launch
    assert (launch.status, launch.launcher) == ("launched", "recording")


async def test_waking_the_runner_keeps_the_launch_order_and_the_rate_limit(
    runner: Runner, user: HttpClient, driver: SkyDriver, modern_event: dict
) -> None:
    low, high = await post(user, modern_event, priority=0), await post(user, modern_event, priority=5)
    runner.start()
    await runner.wake.until_runner_idle()
    assert runner.launcher.started == [high]  # the first launch goes by priority; the next one is an hour away
    later = await post(user, modern_event, priority=0)
    await runner.wake.until_runner_idle()
    assert runner.launcher.started == [high]  # woken, yet the rate limit holds for normal scans
    alert = await post(user, modern_event, priority=100)
    await runner.wake.until_runner_idle()
    assert runner.launcher.started == [high, alert]  # an alert skips it
    assert [e["scan_id"] for e in await driver.database.backlog.in_launch_order(10)] == [low, later]
