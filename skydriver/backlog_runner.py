"""The backlog runner: takes accepted scans from the backlog and launches each exactly once.

Claims are leases in the database, so two SkyDriver replicas never take the same entry and a SkyDriver killed
mid-launch leaves the entry to be taken again (by itself at once when it restarts); the launcher's ``start`` is
idempotent on the scan id, so taking it again does not launch twice.

New scans are found by polling the database every ``idle_sleep`` (scans POSTed to other replicas), and at once when
this process accepts one: ``wake`` (the scan service's ``scan_accepted``) ends the runner's idle sleep, so an alert
does not wait for the next poll.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from typing import Any

from .config import Settings
from .database import Database
from .database.backlog import LeaseOwner
from .errors import DatabaseUnavailable, ScanNotFound
from .launchers import Launcher, LaunchError
from .logs import about_scan
from .loop import run_steps
from .metrics import Metrics, seconds_since
from .scans import scan_request

LOGGER = logging.getLogger(__name__)

REALTIME_PRIORITY = 100  # alerts at or above this skip the rate limit


class BacklogRunner:
    def __init__(
        self, settings: Settings, database: Database, launcher: Launcher, skydriver_address: str, metrics: Metrics,
        wake: asyncio.Event | None = None, idle_sleep: float = 1.0,
    ):  # fmt: skip
        self.settings = settings
        self.metrics = metrics
        self.database = database
        self.launcher = launcher
        self.skydriver_address = skydriver_address
        self.owner = LeaseOwner.booting_now(settings.instance)
        self._last_launch = -float("inf")
        self._interrupted: str | None = None  # the entry whose step the database's loss cut short
        self.wake = wake
        self.idle_sleep = idle_sleep

    async def run_forever(self) -> None:
        await run_steps(self.step, "backlog runner", self.database.health, self.idle_sleep, self.wake)

    async def step(self) -> bool:
        """Claim and launch one entry; False when nothing was due."""
        if self._interrupted is not None:  # the database is back: let the entry be claimed again now
            await self.database.backlog.release(self._interrupted, self.owner)
            self._interrupted = None
        rate_limited = time.monotonic() - self._last_launch < self.settings.launch_interval
        lease = dt.timedelta(seconds=self.settings.launch_timeout + 30)
        # alerts first, in a claim that reads only them (however many scans wait below), then the rest if not rate-limited
        entry = await self.database.backlog.claim(self.owner, lease, REALTIME_PRIORITY)
        if entry is None and not rate_limited:
            entry = await self.database.backlog.claim(self.owner, lease)
        if entry is None:
            return False
        try:
            async with self.database.health.guard():
                with about_scan(entry["scan_id"]):
                    await self._launch(entry)
        except DatabaseUnavailable:
            self._interrupted = entry["scan_id"]
            raise
        return True

    async def _launch(self, entry: dict[str, Any]) -> None:
        scan_id = entry["scan_id"]
        try:
            manifest = await self.database.manifests.get(scan_id)
        except ScanNotFound:
            LOGGER.warning("backlog entry for unknown scan %s dropped", scan_id)
            await self.database.backlog.remove(scan_id)
            return
        attempt = entry["attempts"]
        if not await self.database.manifests.claim_for_launch(scan_id, attempt, self.launcher.name):
            LOGGER.info("scan %s is no longer waiting to be launched (deleted, or launched); dropped from the backlog", scan_id)
            await self.database.backlog.remove(scan_id)
            return
        scan = scan_request(manifest, self.skydriver_address)
        await self.database.manifests.record_launch_plan(scan_id, attempt, **dataclasses.asdict(self.launcher.plan(scan)))
        self._last_launch = time.monotonic()
        try:
            state = await asyncio.wait_for(self.launcher.start(scan), self.settings.launch_timeout)
        except Exception as exc:  # a launch failure of any kind is recorded, never lost
            await self._failed(scan_id, attempt, exc)
            return
        if not await self.database.manifests.mark_launched(scan_id, attempt, state):
            LOGGER.warning("scan %s: launch attempt %d was taken over (its lease ran out): left to that one", scan_id, attempt)
            return
        await self.database.backlog.remove(scan_id)
        self.metrics.launches.labels("launched").inc()
        if (waited := seconds_since(manifest.created)) is not None:
            self.metrics.launch_seconds.observe(waited)
        LOGGER.info("scan %s launched (%s, attempt %d)", scan_id, self.launcher.name, attempt)

    async def _failed(self, scan_id: str, attempts: int, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        retryable = exc.retryable if isinstance(exc, LaunchError) else True
        manifests = self.database.manifests
        if retryable and attempts < self.settings.launch_max_attempts:
            delay = self.settings.launch_retry_backoff * 2 ** (attempts - 1)
            LOGGER.warning("scan %s: launch attempt %d failed (%s); retrying in %.0fs", scan_id, attempts, reason, delay)
            if await manifests.schedule_retry(scan_id, attempts, reason):  # (else a later attempt holds the entry)
                await self.database.backlog.retry_later(scan_id, delay)
            self.metrics.launches.labels("retry").inc()
            return
        self.metrics.launches.labels("failed").inc()
        LOGGER.error("scan %s: launch failed after %d attempt(s): %s", scan_id, attempts, reason)
        # whatever part of it may have started is removed by the teardown loop
        if await manifests.mark_launch_failed(scan_id, attempts, f"launch failed after {attempts} attempt(s): {reason}"):
            await self.database.backlog.remove(scan_id)
