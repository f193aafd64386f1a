"""The launcher interface: how a scan becomes running processes, and how they are found and removed again.

Modelled on JupyterHub's Spawner: ``start``, ``poll``, ``stop``, with the launcher's state saved in the database
(the manifest's ``launch.state``) so that a restarted SkyDriver can pick every scan up again. Polling is done for the whole fleet
at once (``observe``), as KubeSpawner reads every pod from one listing: the engine's load stays flat as scans add up.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import LaunchError, LogsUnavailable

if TYPE_CHECKING:
    from ..database.records import ScanRecord

__all__ = [
    "LOCAL_CLUSTER", "LaunchError", "LaunchPlan", "LaunchedScan", "Launcher", "Observation", "ScanFailure", "ScanRequest",
    "ScanState", "WorkerCluster",
]  # fmt: skip

# the cluster registry's name for this machine, whose workers only the local launcher starts
LOCAL_CLUSTER = "local"


class ScanState(enum.StrEnum):
    """What ``observe`` saw of a scan. UNKNOWN means "could not ask": never a reason to relaunch or abandon a scan."""

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
class LaunchedScan:
    """A launched scan as its manifest records it: what ``observe``, ``stop`` and ``logs`` work from."""

    scan_id: str
    state: dict[str, Any]  # what ``start`` returned
    condor_clusters: list[dict[str, Any]]  # the HTCondor (or local) clusters its starters reported

    @classmethod
    def from_manifest(cls, scan: ScanRecord) -> LaunchedScan:
        return cls(scan.scan_id, scan.launch.state or {}, list(scan.condor_clusters))


@dataclasses.dataclass(frozen=True)
class LaunchPlan:
    """The provenance recorded in the manifest: exactly what is (or will be) launched, secrets as references."""

    scanner_server_args: str
    tms_args: list[str]
    env_vars: dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True)
class ScanFailure:
    """Why a scan failed or cannot start, as the part that failed tells it (stored in the manifest's ``failure``)."""

    source: str  # scanner | kubernetes | htcondor | skydriver
    code: str  # EXIT_CODE_1, KILLED_BY_SIGNAL_9, ImagePullBackOff, SCAN_START_TIMEOUT, ...
    message: str  # one sentence naming the cause
    exit_code: int | None = None
    log_tail: list[str] | None = None


@dataclasses.dataclass(frozen=True)
class Observation:
    """What one look at the engine saw of a scan: its state, and why it failed or cannot start (None: nothing wrong)."""

    state: ScanState
    failure: ScanFailure | None = None


UNKNOWN = Observation(ScanState.UNKNOWN)


class Launcher(abc.ABC):
    """One way of running scans. Every method is idempotent on the scan id."""

    name: str

    @abc.abstractmethod
    def usable_clusters(self, registry: Mapping[str, Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
        """The clusters (name -> collector and schedd) this launcher can start workers on, out of the registry."""

    def refusal_of_reco_algo(self, reco_algo: str) -> str | None:
        """Why this launcher cannot run ``reco_algo``; None when it can (the production scanner runs every one)."""
        return None

    @abc.abstractmethod
    def plan(self, scan: ScanRequest) -> LaunchPlan:
        """What would be launched for this scan (pure; stored in the manifest)."""

    @abc.abstractmethod
    async def start(self, scan: ScanRequest) -> dict[str, Any]:
        """Launch the scan; return the JSON-able state ``observe``/``stop`` need. Already launched = success."""

    @abc.abstractmethod
    async def observe(self, scans: Sequence[LaunchedScan]) -> dict[str, Observation]:
        """Every scan's state and failure (scan_id -> Observation, one per scan given), from one look at the engine
        for the whole fleet, so a poll costs the same few engine calls however many scans run. UNKNOWN for every
        scan the engine could not be asked about."""

    @abc.abstractmethod
    async def stop(self, scan: LaunchedScan) -> None:
        """Remove everything the scan started (server, workers, their clusters). Safe to call twice."""

    async def logs(self, scan: LaunchedScan, container: str, tail: int) -> list[str] | None:
        """The last ``tail`` lines a container (``server``, ``starter-N``) wrote; None if the scan has no such one."""
        raise LogsUnavailable(f"the {self.name} launcher cannot read scan logs")

    async def close(self) -> None:  # noqa: B027 (optional hook: most launchers hold nothing to release)
        """Release clients and background tasks at shutdown."""
