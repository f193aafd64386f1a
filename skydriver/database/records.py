"""What a stored scan is: ``ScanRecord``, and its launch lifecycle's states (``LaunchStatus``), which only
ManifestStore's transition methods move."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping
from typing import Any


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


@dataclasses.dataclass(frozen=True, slots=True)
class LaunchRecord:
    """``launch``: who launches the scan, where that stands, and what the launcher needs to find it again."""

    launcher: str = "none"
    status: LaunchStatus = LaunchStatus.WAITING
    reason: str | None = None  # why it is where it is: a failed attempt, a failure, how it ended
    attempts: int = 0  # the backlog attempt that claimed it last (the launch's fencing token)
    state: dict[str, Any] | None = None  # what the launcher's ``start`` returned

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LaunchRecord:
        return cls(**{name: doc[name] for name in _LAUNCH_FIELDS if name in doc}, status=LaunchStatus(doc["status"]))


@dataclasses.dataclass(frozen=True, slots=True)
class ScanTimes:
    """``times``: when the scan reached each step (None until it did)."""

    launched: dt.datetime | None = None
    first_progress: dt.datetime | None = None
    last_progress: dt.datetime | None = None
    final_result: dt.datetime | None = None
    ended: dt.datetime | None = None  # its processes were stopped

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ScanTimes:
        return cls(**{name: doc[name] for name in _TIMES_FIELDS if name in doc})


@dataclasses.dataclass(frozen=True, slots=True)
class ScanRecord:
    """A stored scan (a ``manifests`` document). Read, not validated: SkyDriver wrote it, and GET manifest is a hot
    path. A projection reads into the same type, fields it left out keeping their defaults."""

    scan_id: str
    is_deleted: bool = False
    created: dt.datetime | None = None
    skydriver_version: str | None = None  # the SkyDriver that accepted the scan
    docker_tag: str = ""  # the scanner image's tag, resolved
    request: dict[str, Any] = dataclasses.field(default_factory=dict)  # what POST asked for, resolved (clusters...)
    lookup: dict[str, Any] = dataclasses.field(default_factory=dict)  # run_id, event_id, is_real_event (GET /scans)
    request_hash: str | None = None  # the parsed request's, for Idempotency-Key retries
    idempotency_key: str | None = None
    scanner_server_args: str = ""  # what was (or will be) launched, secrets as references
    tms_args: list[str] = dataclasses.field(default_factory=list)
    env_vars: dict[str, Any] = dataclasses.field(default_factory=dict)
    launch: LaunchRecord = LaunchRecord()
    condor_clusters: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # as the starters reported them
    event_metadata: dict[str, Any] | None = None  # the scanner's reports, stored as sent
    scan_metadata: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    times: ScanTimes = ScanTimes()
    failure: dict[str, Any] | None = None  # why it failed, as the part that failed told it
    teardown_at: dt.datetime | None = None  # when the teardown is due (or its claim's lease ends); None: not scheduled
    complete: bool = False  # torn down: its processes are stopped
    rescan_of: str | None = None
    replaced_by: str | None = None
    last_updated: dt.datetime | None = None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ScanRecord:
        launch, times = doc.get("launch"), doc.get("times")
        return cls(
            **{name: doc[name] for name in _PLAIN_FIELDS if name in doc},
            launch=LaunchRecord.from_doc(launch) if launch else LaunchRecord(),
            times=ScanTimes.from_doc(times) if times else ScanTimes(),
        )


_LAUNCH_FIELDS = tuple(f.name for f in dataclasses.fields(LaunchRecord) if f.name != "status")
_TIMES_FIELDS = tuple(f.name for f in dataclasses.fields(ScanTimes))
_PLAIN_FIELDS = tuple(f.name for f in dataclasses.fields(ScanRecord) if f.name not in ("launch", "times"))
