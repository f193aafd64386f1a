"""What a stored scan is: its launch lifecycle's states (moved only by ManifestStore's transition methods)."""

from __future__ import annotations

import enum


class LaunchStatus(enum.StrEnum):
    """Where SkyDriver is in launching and tearing down a scan: waiting -> launching -> launched -> stopping ->
    stopped; a failed launch attempt goes back to waiting; a failed launch or scan is failed (and still torn down);
    a scan deleted in the backlog goes from waiting to stopped. Failed and stopped never change any more."""

    WAITING = "waiting"  # in the backlog
    LAUNCHING = "launching"  # a backlog runner took it; the launcher's start is in flight
    LAUNCHED = "launched"  # running
    STOPPING = "stopping"  # the teardown is stopping its processes
    STOPPED = "stopped"  # torn down, or deleted before its launch
    FAILED = "failed"  # the launch or the scan failed (the teardown still stops whatever started)

    @property
    def is_terminal(self) -> bool:
        """The status will not change any more (a failed scan keeps "failed" through its teardown)."""
        return self in (LaunchStatus.STOPPED, LaunchStatus.FAILED)
