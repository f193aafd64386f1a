"""HTCondor's verdict on a running scan, from its starters' cluster reports: every worker held or removed fails it."""

from __future__ import annotations

from typing import Any

import pytest

from skydriver.database.records import ScanRecord
from skydriver.launchers import ScanFailure
from skydriver.reconcile import held_workers

MEMORY = "Job has gone over memory limit of 8192 megabytes."
TRANSFER = "Transfer input files failure at execution point: startup.json not found"


def cluster(cluster_id: int, hold_reasons: dict[str, int] | None = None, **states: int) -> dict[str, Any]:
    """A cluster entry as stored from a starter's report (``states=None`` when only its submission was reported)."""
    entry: dict[str, Any] = {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu",
                             "cluster_id": cluster_id, "jobs": sum(states.values())}  # fmt: skip
    if states:
        entry["states"] = {"idle": 0, "running": 0, "held": 0, "completed": 0, "removed": 0, **states}
    if hold_reasons is not None:
        entry["hold_reasons"] = hold_reasons
    return entry


def scan(*clusters: dict[str, Any]) -> ScanRecord:
    return ScanRecord.from_doc({"scan_id": "0" * 32, "condor_clusters": list(clusters)})


@pytest.mark.parametrize(
    "clusters",
    [
        [],  # no starter reported yet
        [cluster(1)],  # submitted, no job states yet
        [cluster(1, {MEMORY: 3}, held=3), cluster(2)],  # another cluster has not reported its states yet
        [cluster(1, idle=3)],
        [cluster(1, {MEMORY: 2}, held=2, running=1)],
        [cluster(1, {MEMORY: 2}, held=2, completed=1)],  # a worker that finished its work: the scan went on
        [cluster(1, {MEMORY: 3}, held=3), cluster(2, idle=1)],  # one cluster's workers can still run
        [cluster(1, held=0, removed=0)],  # a report of no jobs at all
        [{**cluster(1, held=2), "states": {"held": 2, "suspended": 1}}],  # any other state counts as alive
    ],
    ids=["no-clusters", "no-states", "one-cluster-unreported", "idle", "running", "completed", "other-cluster-idle",
         "no-jobs", "unknown-state"],  # fmt: skip
)
def test_a_scan_with_a_worker_that_may_still_run_is_left_alone(clusters: list[dict[str, Any]]) -> None:
    assert held_workers(scan(*clusters)) is None


def test_every_worker_held_or_removed_fails_the_scan_naming_the_counts_and_most_common_reasons() -> None:
    doc = scan(
        cluster(4242, {MEMORY: 1000, TRANSFER: 30}, held=1030, removed=4),
        cluster(4243, {MEMORY: 40, "Spooling input data files": 10, "(other hold reasons)": 6}, held=56),
    )

    failure = held_workers(doc)

    assert failure == ScanFailure(
        "htcondor", "ALL_WORKERS_HELD",
        "every worker of the scan's 2 HTCondor clusters is held or removed (1086 held, 4 removed); most common hold "
        f"reasons: {MEMORY!r} (1040), {TRANSFER!r} (30), 'Spooling input data files' (10)",
    )  # fmt: skip


def test_held_workers_reported_without_reasons_still_fail_the_scan() -> None:
    """A starter older than hold reasons reports only the counts."""
    failure = held_workers(scan(cluster(1, held=2)))
    assert failure is not None and failure.code == "ALL_WORKERS_HELD"
    assert failure.message == "every worker of the scan's 1 HTCondor cluster is held or removed (2 held, 0 removed)"


def test_every_worker_removed_fails_the_scan_as_removed() -> None:
    failure = held_workers(scan(cluster(1, removed=3), cluster(2, {}, removed=1)))
    assert failure == ScanFailure("htcondor", "ALL_WORKERS_REMOVED", "all 4 workers of the scan's 2 HTCondor clusters were removed")
