"""The teardown loop: stops a scan's server, workers and HTCondor clusters when it is due, then marks it complete.

Teardowns are scheduled in the database (``teardown_at``: after the final result plus WAIT_BEFORE_TEARDOWN, or now
on DELETE), never as a sleep in a request handler, so a SkyDriver restarted during the delay still tears down. A
claim is a lease naming this instance and boot (as the backlog's), so a SkyDriver killed mid-teardown takes its
teardowns back as soon as it is up again, not when their lease runs out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from .config import Settings
from .database import Database
from .database.backlog import LeaseOwner
from .database.manifests import now
from .database.records import LaunchStatus, ScanRecord
from .launchers import LaunchedScan, Launcher
from .logs import about_scan
from .loop import run_steps
from .metrics import Metrics, seconds_since

LOGGER = logging.getLogger(__name__)


class TeardownLoop:
    def __init__(self, settings: Settings, database: Database, launcher: Launcher | None, metrics: Metrics):
        self.settings = settings
        self.metrics = metrics
        self.database = database
        self.launcher = launcher
        self.owner = LeaseOwner.booting_now(settings.instance)
        self._released_earlier_boots = False

    async def run_forever(self) -> None:
        await run_steps(self.step, "teardown", self.database.health)

    async def step(self) -> bool:
        """Tear down one due scan; False when none was due."""
        if not self._released_earlier_boots:  # once per boot: what a killed earlier run of this instance was doing
            if released := await self.database.manifests.release_earlier_teardowns(self.owner):
                LOGGER.warning("taking back %d teardowns interrupted by a restart: %s", len(released), ", ".join(released))
            self._released_earlier_boots = True
        lease = dt.timedelta(seconds=self.settings.launch_timeout + 30)
        doc = await self.database.manifests.claim_due_teardown(self.owner, lease)
        if doc is None:
            return False
        with about_scan(doc["scan_id"]):
            await self._tear_down(doc)
        return True

    async def _tear_down(self, doc: dict[str, Any]) -> None:
        scan = ScanRecord.from_doc(doc)
        scan_id, launch = scan.scan_id, scan.launch
        if scan.complete:  # torn down already (a leftover schedule): just take it off the index
            await self.database.manifests.clear_teardown(scan_id)
            return
        if launch.status is LaunchStatus.LAUNCHING:
            await self._later(scan_id, 2.0, "launch still in flight")
            return
        if launch.status in (LaunchStatus.LAUNCHED, LaunchStatus.STOPPING, LaunchStatus.FAILED) and launch.launcher != "none":
            if self.launcher is None or self.launcher.name != launch.launcher:
                await self._later(scan_id, 60.0, f"launcher {launch.launcher!r} is not configured here")
                return
            await self.database.manifests.mark_stopping(scan_id)  # a failed scan stays failed: its reason is what users need
            try:
                await asyncio.wait_for(
                    self.launcher.stop(LaunchedScan.from_manifest(scan)),
                    self.settings.launch_timeout,
                )
            except Exception as exc:
                await self._later(scan_id, self.settings.launch_retry_backoff, f"stop failed: {type(exc).__name__}: {exc}")
                return
        await self.database.backlog.remove(scan_id)
        if not await self.database.manifests.mark_stopped(scan_id, "deleted" if scan.is_deleted else launch.reason or "finished"):
            LOGGER.info("scan %s was torn down meanwhile", scan_id)
            return
        self.metrics.teardowns.labels("done").inc()
        if (since_final := seconds_since(scan.times.final_result)) is not None:
            self.metrics.teardown_seconds.observe(since_final)
        LOGGER.info("scan %s torn down", scan_id)

    async def _later(self, scan_id: str, delay: float, why: str) -> None:
        LOGGER.warning("scan %s: teardown postponed %.0fs: %s", scan_id, delay, why)
        self.metrics.teardowns.labels("postponed").inc()
        await self.database.manifests.postpone_teardown(scan_id, now() + dt.timedelta(seconds=delay))
