"""Reconciliation: observe every running scan through its launcher, on start and then every RECONCILE_INTERVAL.

One ``launcher.observe`` call per pass for all scans (for Kubernetes, two listings), whatever their number.

Live scans are left running (re-attached). A scan whose scanner failed, that cannot start (SCAN_START_TIMEOUT), or
that stopped reporting progress for SCAN_TIMEOUT is marked failed with the cause and torn down; one whose processes
or Job vanished is torn down and marked stopped. So no workers are left behind and nobody has to send DELETE. An
engine that cannot be reached says UNKNOWN, and UNKNOWN changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import Counter

from .config import Settings
from .database import Database
from .database.manifests import now
from .database.records import LaunchStatus, ScanRecord
from .launchers import LaunchedScan, Launcher, Observation, ScanFailure, ScanState
from .logs import about_scan
from .loop import run_steps
from .metrics import Metrics
from .readiness import LauncherReach
from .scan_status import silent_for

LOGGER = logging.getLogger(__name__)

MOST_COMMON_HOLD_REASONS = 3  # named in an ALL_WORKERS_HELD failure's message (all of them are in the manifest)


def overdue(scan: ScanRecord, t: dt.datetime, settings: Settings) -> ScanFailure | None:
    """The timeout a running scan has passed, if any: no first report within SCAN_START_TIMEOUT of its launch, or
    no report for SCAN_TIMEOUT."""
    launched = scan.times.launched
    if launched and not scan.times.first_progress and (t - launched).total_seconds() > settings.scan_start_timeout:
        return ScanFailure(
            "skydriver", "SCAN_START_TIMEOUT",
            f"the scanner server did not report within SCAN_START_TIMEOUT ({settings.scan_start_timeout:.0f} s) of its launch",
        )  # fmt: skip
    silent = silent_for(scan, t)
    if settings.scan_timeout and silent is not None and silent > settings.scan_timeout:
        return ScanFailure(
            "skydriver", "SCAN_TIMEOUT", f"no progress report for {silent:.0f} s (SCAN_TIMEOUT is {settings.scan_timeout:.0f} s)"
        )
    return None


def held_workers(scan: ScanRecord) -> ScanFailure | None:
    """HTCondor's verdict, once every reported cluster has job states: no job of any cluster is idle, running or
    completed, all are held or removed, so no worker will reconstruct a pixel (SkyDriver 2.x failed such scans too,
    as users asked, rather than leave them waiting for SCAN_TIMEOUT). The message names the most common hold reasons."""
    clusters = scan.condor_clusters
    if not clusters or any(c.get("states") is None for c in clusters):
        return None
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for cluster in clusters:
        states.update(cluster["states"])
        reasons.update(cluster.get("hold_reasons") or {})
    held, removed = states["held"], states["removed"]
    if held + removed <= 0 or any(n for state, n in states.items() if state not in ("held", "removed")):
        return None
    where = f"{len(clusters)} HTCondor cluster{'s' if len(clusters) > 1 else ''}"
    if not held:
        return ScanFailure("htcondor", "ALL_WORKERS_REMOVED", f"all {removed} workers of the scan's {where} were removed")
    common = ", ".join(f"{reason!r} ({n})" for reason, n in reasons.most_common(MOST_COMMON_HOLD_REASONS))
    return ScanFailure(
        "htcondor", "ALL_WORKERS_HELD",
        f"every worker of the scan's {where} is held or removed ({held} held, {removed} removed)"
        + (f"; most common hold reasons: {common}" if common else ""),
    )  # fmt: skip


async def fail(database: Database, scan_id: str, failure: ScanFailure) -> None:
    """Record the failure and tear the scan down now (compare-and-set: a scan that got its final result, or failed
    already, keeps what it has)."""
    if await database.manifests.mark_failed(scan_id, dataclasses.asdict(failure), now()):
        LOGGER.warning("scan %s failed (%s): %s", scan_id, failure.code, failure.message)


async def reconcile_once(settings: Settings, database: Database, launcher: Launcher) -> dict[str, int]:
    """Observe every launched, unfinished scan in one call to the launcher; return how many were in each state."""
    scans = [
        scan for scan in await database.manifests.unfinished()
        if scan.launch.launcher == launcher.name and scan.launch.status is LaunchStatus.LAUNCHED
    ]  # fmt: skip
    observed = await launcher.observe([LaunchedScan.from_manifest(scan) for scan in scans])
    seen: dict[str, int] = {}
    for scan in scans:
        with about_scan(scan.scan_id):
            state = await reconcile_scan(settings, database, launcher, scan, observed[scan.scan_id])
        seen[state.value] = seen.get(state.value, 0) + 1
    return seen


async def reconcile_scan(
    settings: Settings, database: Database, launcher: Launcher, scan: ScanRecord, observed: Observation
) -> ScanState:
    """Act on what was observed of one launched scan (gone, failed, finished without a result, overdue)."""
    scan_id, state = scan.scan_id, observed.state
    if scan.teardown_at is not None:
        return state  # being torn down already (final result or DELETE)
    if state is ScanState.GONE:
        # torn down, not just marked stopped: the HTCondor clusters its starters submitted outlive the Job
        LOGGER.warning("scan %s: its %s processes are gone; tearing down what is left", scan_id, launcher.name)
        await database.manifests.request_stop(
            scan_id, f"the scan's {launcher.name} processes vanished while SkyDriver was not watching", now()
        )
    elif state is ScanState.FAILED:
        await fail(database, scan_id, observed.failure or ScanFailure("scanner", "FAILED", "the scanner server failed"))
    elif state is ScanState.FINISHED:
        LOGGER.info("scan %s: scanner server finished without a final result; tearing down", scan_id)
        await fail(database, scan_id, ScanFailure("scanner", "NO_FINAL_RESULT", "the scanner server ended without storing a final result"))
    elif state is ScanState.RUNNING:
        if failure := observed.failure or held_workers(scan) or overdue(scan, now(), settings):
            await fail(database, scan_id, failure)
        elif (silent := silent_for(scan, now())) is not None and silent > settings.stall_after:
            LOGGER.warning("scan %s stalled: no progress report for %.0f s", scan_id, silent)
    return state


async def reconcile_forever(
    settings: Settings, database: Database, launcher: Launcher, metrics: Metrics, reach: LauncherReach
) -> None:
    async def step() -> bool:
        started = time.monotonic()
        seen = await reconcile_once(settings, database, launcher)
        reach.record(seen)
        metrics.reconcile_seconds.observe(time.monotonic() - started)
        metrics.reconcile_runs.inc()
        for state, count in seen.items():
            metrics.reconcile_found.labels(state).inc(count)
        if seen:
            LOGGER.info("reconciled running scans: %s", seen)
        return False  # then wait the interval

    await run_steps(step, "reconciliation", database.health, idle_sleep=settings.reconcile_interval)


async def mend_forever(settings: Settings, database: Database) -> None:
    """Without a launcher (launching paused) no reconcile pass runs, but its read of the launched scans still mends
    what other replicas left for lists (ManifestStore.unfinished): this loop does that read alone."""

    async def step() -> bool:
        await database.manifests.unfinished()
        return False  # then wait the interval

    await run_steps(step, "list upkeep", database.health, idle_sleep=settings.reconcile_interval)
