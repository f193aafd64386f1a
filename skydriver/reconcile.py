"""Reconciliation: poll every running scan's launcher, on start and then periodically.

Live scans are left running (re-attached); scans whose processes or Job vanished, or whose server ended, are torn
down (their HTCondor clusters removed) and marked stopped with the reason, so no workers are left behind. An engine
that cannot be reached says UNKNOWN, and UNKNOWN changes nothing.
"""

from __future__ import annotations

import logging

from .config import Settings
from .database import Database
from .database.manifests import now
from .launchers import LaunchedScan, Launcher, ScanState
from .loop import run_steps

LOGGER = logging.getLogger(__name__)


async def reconcile_once(database: Database, launcher: Launcher) -> dict[str, int]:
    """Poll each launched, unfinished scan once; return how many were found in each state."""
    seen: dict[str, int] = {}
    for doc in await database.manifests.unfinished():
        launch = doc["launch"]
        if launch["launcher"] != launcher.name or launch["status"] != "launched":
            continue
        scan_id = doc["scan_id"]
        state = await launcher.poll(LaunchedScan.from_manifest(doc))
        seen[state.value] = seen.get(state.value, 0) + 1
        if state is ScanState.GONE:
            # torn down, not just marked stopped: the HTCondor clusters its starters submitted outlive the Job
            LOGGER.warning("scan %s: its %s processes are gone; tearing down what is left", scan_id, launcher.name)
            await database.manifests.update(
                scan_id,
                {"launch.reason": f"the scan's {launcher.name} processes vanished while SkyDriver was not watching"},
                condition={"complete": False, "teardown_at": None},
            )
            await database.manifests.schedule_teardown(scan_id, now())
        elif state in (ScanState.FINISHED, ScanState.FAILED) and doc.get("teardown_at") is None:
            LOGGER.info("scan %s: scanner server %s; scheduling teardown", scan_id, state.value)
            if state is ScanState.FAILED:
                await database.manifests.update(scan_id, {"launch.reason": "the scanner server failed"})
            await database.manifests.schedule_teardown(scan_id, now())
    return seen


async def reconcile_forever(settings: Settings, database: Database, launcher: Launcher) -> None:
    async def step() -> bool:
        seen = await reconcile_once(database, launcher)
        if seen:
            LOGGER.info("reconciled running scans: %s", seen)
        return False  # then wait the interval

    await run_steps(step, "reconciliation", database.health, idle_sleep=settings.reconcile_interval)
