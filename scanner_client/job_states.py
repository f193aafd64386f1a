"""How HTCondor jobs are counted in the states and hold reasons SkyDriver's manifest shows."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from htcondor2 import JobStatus

from .schedd import Job

STATES = ("idle", "running", "held", "completed", "removed")
ACTIVE_STATES = ("idle", "running", "held")
# a cluster report's hold reasons, SkyDriver's limits too (skydriver/models.py): a manifest of 1000 clusters stays small
MAX_HOLD_REASONS, MAX_HOLD_REASON_CHARS = 8, 300
OTHER_HOLD_REASONS = "(other hold reasons)"
NO_HOLD_REASON = "(the job ad has no HoldReason)"
# "Error from slot1_3@e042.chtc.wisc.edu: Job has gone over memory limit..." names the machine, not the cause
_MACHINE_PREFIX = re.compile(r"^Error from \S+@\S+: ")

_STATE_OF_STATUS = {
    JobStatus.IDLE: "idle",
    JobStatus.RUNNING: "running",
    JobStatus.TRANSFERRING_OUTPUT: "running",
    JobStatus.SUSPENDED: "running",  # still holds its slot
    JobStatus.HELD: "held",
    JobStatus.COMPLETED: "completed",
    JobStatus.REMOVED: "removed",
}


def count_states(jobs: Iterable[Job]) -> dict[str, int]:
    """Every state in ``STATES`` with its number of jobs (zero included, so a report replaces the last one)."""
    counts = dict.fromkeys(STATES, 0)
    for job in jobs:
        counts[_STATE_OF_STATUS[job.status]] += 1
    return counts


def hold_reason_key(reason: str | None) -> str:
    """A hold reason as it is counted: one line, without the machine it happened on, at most MAX_HOLD_REASON_CHARS
    characters, and a key MongoDB can hold (no NUL, no leading ``$``)."""
    text = _MACHINE_PREFIX.sub("", " ".join((reason or "").replace("\0", " ").split())).lstrip("$ ")
    if len(text) > MAX_HOLD_REASON_CHARS:
        text = text[: MAX_HOLD_REASON_CHARS - 1] + "…"
    return text or NO_HOLD_REASON


def count_hold_reasons(jobs: Iterable[Job]) -> dict[str, int]:
    """Held jobs per hold reason, most common first; past MAX_HOLD_REASONS the rarest are counted together under
    OTHER_HOLD_REASONS, so the counts always add up to the held jobs."""
    counts = Counter(hold_reason_key(job.hold_reason) for job in jobs if job.status is JobStatus.HELD)
    if len(counts) <= MAX_HOLD_REASONS:
        return dict(counts.most_common())
    kept = dict(counts.most_common(MAX_HOLD_REASONS - 1))
    return {**kept, OTHER_HOLD_REASONS: sum(counts.values()) - sum(kept.values())}


def is_finished(counts: dict[str, int]) -> bool:
    """No job can run any more: none is idle, running or held (a held job may still be released)."""
    return not any(counts[state] for state in ACTIVE_STATES)
