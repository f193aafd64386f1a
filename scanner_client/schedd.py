"""The only code that talks to an HTCondor collector or schedd: locate, submit, query jobs, remove.

Every call goes through ``_ask``, which turns whatever the bindings raise into a ``ScheddError`` naming what
was asked of which daemon, so a failure in a Kubernetes log says what to look at.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

import classad2
import htcondor2

LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

_STATUS_PROJECTION = ["ProcId", "JobStatus", "HoldReason"]


@dataclasses.dataclass(frozen=True)
class Job:
    """One job as the schedd sees it: its status and, while it is held, why (the job ad's ``HoldReason``)."""

    status: htcondor2.JobStatus
    hold_reason: str | None = None


def job_of_ad(ad: classad2.ClassAd) -> Job:
    """A job from its ad as ``query`` and ``history`` answer (``_STATUS_PROJECTION``)."""
    status = htcondor2.JobStatus(int(ad["JobStatus"]))
    # a job keeps its last HoldReason after it is released or removed: only a held job's is why it waits
    return Job(status, str(ad.get("HoldReason", "")) if status is htcondor2.JobStatus.HELD else None)


class ScheddError(RuntimeError):
    """A collector or schedd call failed; the message holds the request and the bindings' error."""


class ScheddClient(Protocol):
    """What the rest of scanner_client needs from a schedd (tests provide an in-memory one)."""

    collector: str
    schedd: str

    def submit(self, description: htcondor2.Submit, count: int, spool: bool) -> int:
        """Queue ``count`` jobs; return the new cluster id."""

    def jobs(self, cluster_id: int, n_jobs: int) -> list[Job]:
        """Each job of the cluster still known to the schedd (queue, then history)."""

    def remove(self, constraint: str, reason: str) -> int:
        """Remove the jobs matching ``constraint``; return how many were removed."""


def _ask(what: str, call: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run one bindings call; any failure becomes a ``ScheddError`` saying ``what`` was asked."""
    try:
        return call(*args, **kwargs)
    # the bindings raise HTCondorException, but also RuntimeError/ValueError/OSError from their C++ layer
    except Exception as e:
        raise ScheddError(f"{what} failed: {type(e).__name__}: {e}") from e


class HTCondorSchedd:
    """A schedd reached through the bindings (and the IDTOKEN the process is configured with)."""

    def __init__(self, collector: str, schedd: str, location: classad2.ClassAd):
        self.collector = collector
        self.schedd = schedd
        self._where = f"schedd {schedd!r} (collector {collector!r})"
        self._schedd = _ask(f"opening {self._where}", htcondor2.Schedd, location)

    @classmethod
    def connect(cls, collector: str, schedd: str) -> HTCondorSchedd:
        """Find ``schedd`` through ``collector``."""
        what = f"locating schedd {schedd!r} through collector {collector!r}"
        location = _ask(what, lambda: htcondor2.Collector(collector).locate(htcondor2.DaemonType.Schedd, schedd))
        if location is None:
            raise ScheddError(f"{what} failed: the collector knows no schedd of that name")
        return cls(collector, schedd, location)

    def submit(self, description: htcondor2.Submit, count: int, spool: bool) -> int:
        what = f"submitting {count} jobs (spool={spool}) to {self._where}"
        result = _ask(what, self._schedd.submit, description, count=count, spool=spool)
        if spool:
            # spooled jobs wait on hold until their input files are uploaded
            _ask(f"spooling input files of cluster {result.cluster()} to {self._where}", self._schedd.spool, result)
        LOGGER.info("submitted cluster %s (%s jobs) to %s", result.cluster(), count, self._where)
        return int(result.cluster())

    def jobs(self, cluster_id: int, n_jobs: int) -> list[Job]:
        constraint = f"ClusterId == {cluster_id}"
        queued = _ask(f"querying {constraint} in {self._where}", self._schedd.query, constraint, _STATUS_PROJECTION)
        by_proc = {int(ad["ProcId"]): job_of_ad(ad) for ad in queued}
        if len(by_proc) < n_jobs:
            # completed and removed jobs leave the queue; their last status is in the history
            history = _ask(
                f"querying the history of {constraint} in {self._where}",
                self._schedd.history, constraint, _STATUS_PROJECTION, match=n_jobs - len(by_proc),
            )  # fmt: skip
            for ad in history:
                by_proc.setdefault(int(ad["ProcId"]), job_of_ad(ad))
        return list(by_proc.values())

    def remove(self, constraint: str, reason: str) -> int:
        # htcondor2 forwards only a (reason, code) tuple; a plain str reason is silently dropped
        result = _ask(
            f"removing {constraint} from {self._where}",
            self._schedd.act, htcondor2.JobAction.Remove, constraint, reason=(reason, None),
        )  # fmt: skip
        removed = int(result["TotalSuccess"]) if result is not None else 0
        LOGGER.info("removed %s jobs (%s) from %s", removed, constraint, self._where)
        return removed
