"""A launcher that starts nothing and notes when SkyDriver asked it to start and to stop each scan.

For tests and benchmarks of what SkyDriver itself does before a launch (claim order, rate limit, wake-up latency);
every scan it was asked to start reads as running.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from skydriver.launchers import LaunchedScan, Launcher, LaunchPlan, Observation, ScanRequest, ScanState, plan_for


class RecordingLauncher(Launcher):
    name = "recording"

    def __init__(self) -> None:
        self.started: list[str] = []  # scan ids, once per call (a scan started twice shows twice)
        self.started_at: dict[str, float] = {}  # scan_id -> time.perf_counter() of its first start
        self.stopped: list[str] = []  # scan ids, once per call

    def usable_clusters(self, registry: Mapping[str, Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
        return dict(registry)

    def plan(self, scan: ScanRequest) -> LaunchPlan:
        return plan_for(None, scan)

    async def start(self, scan: ScanRequest) -> dict[str, Any]:
        self.started.append(scan.scan_id)
        self.started_at.setdefault(scan.scan_id, time.perf_counter())
        return {}

    async def observe(self, scans: Sequence[LaunchedScan]) -> dict[str, Observation]:
        return {scan.scan_id: Observation(ScanState.RUNNING) for scan in scans}

    async def stop(self, scan: LaunchedScan) -> None:
        self.stopped.append(scan.scan_id)
