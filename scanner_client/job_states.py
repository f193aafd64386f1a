"""How HTCondor job statuses are counted in the states SkyDriver's manifest shows."""

from __future__ import annotations

from collections.abc import Iterable

from htcondor2 import JobStatus

STATES = ("idle", "running", "held", "completed", "removed")
ACTIVE_STATES = ("idle", "running", "held")

_STATE_OF_STATUS = {
    JobStatus.IDLE: "idle",
    JobStatus.RUNNING: "running",
    JobStatus.TRANSFERRING_OUTPUT: "running",
    JobStatus.SUSPENDED: "running",  # still holds its slot
    JobStatus.HELD: "held",
    JobStatus.COMPLETED: "completed",
    JobStatus.REMOVED: "removed",
}


def count_states(statuses: Iterable[JobStatus]) -> dict[str, int]:
    """Every state in ``STATES`` with its number of jobs (zero included, so a report replaces the last one)."""
    counts = dict.fromkeys(STATES, 0)
    for status in statuses:
        counts[_STATE_OF_STATUS[status]] += 1
    return counts


def is_finished(counts: dict[str, int]) -> bool:
    """No job can run any more: none is idle, running or held (a held job may still be released)."""
    return not any(counts[state] for state in ACTIVE_STATES)
