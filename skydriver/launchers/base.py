"""The launcher interface: how a scan becomes running processes, and how they are found and removed again.

Modelled on JupyterHub's Spawner: ``start``, ``poll``, ``stop``, with the launcher's state saved in the database
(``LaunchState``) so that a restarted SkyDriver can pick every scan up again.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from typing import Any

from ..errors import LaunchError

__all__ = ["LaunchError", "LaunchPlan", "Launcher", "ScanRequest", "ScanState", "WorkerCluster"]


class ScanState(enum.StrEnum):
    """What ``poll`` saw. UNKNOWN means "could not ask": never a reason to relaunch or abandon a scan."""

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    GONE = "gone"  # the engine answered and the scan's processes/Job do not exist
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class WorkerCluster:
    """One requested cluster of workers, its name already resolved through the registry."""

    name: str
    collector: str
    schedd: str
    n_workers: int


@dataclasses.dataclass(frozen=True)
class ScanRequest:
    """Everything a launcher needs to know about one scan (built from the manifest)."""

    scan_id: str
    docker_tag: str  # resolved, e.g. "3.5.2"
    reco_algo: str
    nsides: dict[int, int]  # nside -> pixel extension, ascending
    is_real_event: bool
    predictive_scanning_threshold: float
    memory: str  # e.g. "8GB"
    max_reco_time: int | None
    clusters: tuple[WorkerCluster, ...]
    skydriver_address: str  # where the scanner reports back


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """The provenance recorded in the manifest: exactly what is (or will be) launched, secrets as references."""

    scanner_server_args: str
    tms_args: list[str]
    env_vars: dict[str, dict[str, Any]]


class Launcher(abc.ABC):
    """One way of running scans. Every method is idempotent on the scan id."""

    name: str

    @abc.abstractmethod
    def plan(self, scan: ScanRequest) -> LaunchPlan:
        """What would be launched for this scan (pure; stored in the manifest)."""

    @abc.abstractmethod
    async def start(self, scan: ScanRequest, plan: LaunchPlan) -> dict[str, Any]:
        """Launch the scan; return the JSON-able state ``poll``/``stop`` need. Already launched = success."""

    @abc.abstractmethod
    async def poll(self, scan_id: str, state: dict[str, Any]) -> ScanState:
        """Is the scan still running? UNKNOWN when the engine cannot be reached."""

    @abc.abstractmethod
    async def stop(self, scan_id: str, state: dict[str, Any], condor_clusters: list[dict[str, Any]]) -> None:
        """Remove everything the scan started (server, workers, HTCondor clusters). Safe to call twice."""

    async def close(self) -> None:  # noqa: B027 (optional hook: most launchers hold nothing to release)
        """Release clients and background tasks at shutdown."""
