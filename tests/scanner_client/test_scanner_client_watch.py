"""Watching a cluster: job-state counts reported to a real HTTP server until every job is done."""

import threading

import pytest
from htcondor2 import JobStatus

from scanner_client.job_states import (
    MAX_HOLD_REASON_CHARS,
    MAX_HOLD_REASONS,
    NO_HOLD_REASON,
    OTHER_HOLD_REASONS,
    count_hold_reasons,
    count_states,
    hold_reason_key,
    is_finished,
)
from scanner_client.reporter import CondorCluster
from scanner_client.scan_routes import ScanRoutesClient
from scanner_client.schedd import Job
from scanner_client.watcher import watch_cluster
from tests.scanner_routes_recorder import SCAN_ID

IDLE, R, H, C, X = JobStatus.IDLE, JobStatus.RUNNING, JobStatus.HELD, JobStatus.COMPLETED, JobStatus.REMOVED


def states(idle=0, running=0, held=0, completed=0, removed=0):
    return {"idle": idle, "running": running, "held": held, "completed": completed, "removed": removed}


@pytest.fixture
def cluster(fake_schedd):
    return CondorCluster(fake_schedd.collector, fake_schedd.schedd, 4242, 3)


def reported_states(skydriver):
    assert skydriver.refusals == []  # every body is one SkyDriver's ManifestPatch accepts
    return [body["condor_cluster"]["states"] for body in skydriver.bodies()]


def test_every_status_is_counted_under_one_of_the_five_states():
    statuses = [IDLE, R, JobStatus.TRANSFERRING_OUTPUT, JobStatus.SUSPENDED, H, C, C, X]
    assert count_states(Job(s) for s in statuses) == states(idle=1, running=3, held=1, completed=2, removed=1)
    assert count_states([]) == states()


def test_held_jobs_are_counted_per_reason_most_common_first_without_the_machine_they_ran_on():
    jobs = [
        Job(H, "Error from slot1_3@e042.chtc.wisc.edu: Job has gone over memory limit of 8192 megabytes."),
        Job(H, "Error from glidein_7_123@node9.example.org: Job has gone over memory limit of 8192 megabytes."),
        Job(H, "Transfer input files failure at execution point\n  reading startup.json:\tno such file"),
        Job(H, ""),
        Job(H, "$x\0y"),
        Job(R), Job(X, None), Job(C),
    ]  # fmt: skip
    assert count_hold_reasons(jobs) == {
        "Job has gone over memory limit of 8192 megabytes.": 2,
        "Transfer input files failure at execution point reading startup.json: no such file": 1,
        NO_HOLD_REASON: 1,
        "x y": 1,
    }
    assert list(count_hold_reasons(jobs))[0] == "Job has gone over memory limit of 8192 megabytes."
    assert count_hold_reasons([Job(R), Job(C)]) == {}


def test_hold_reasons_fit_skydrivers_limits_and_still_add_up_to_the_held_jobs():
    jobs = [Job(H, f"reason {i}") for i in range(MAX_HOLD_REASONS + 5) for _ in range(i + 1)]
    jobs.append(Job(H, "y" * 5000))
    counted = count_hold_reasons(jobs)
    assert len(counted) == MAX_HOLD_REASONS and sum(counted.values()) == len(jobs)
    assert list(counted)[:2] == [f"reason {MAX_HOLD_REASONS + 4}", f"reason {MAX_HOLD_REASONS + 3}"]
    assert counted[OTHER_HOLD_REASONS] == sum(range(1, 7)) + 1  # the six rarest reasons, and the long one
    assert len(hold_reason_key("y" * 5000)) == MAX_HOLD_REASON_CHARS
    assert all(len(reason) <= MAX_HOLD_REASON_CHARS for reason in counted)


@pytest.mark.parametrize(
    "counts, finished",
    [(states(completed=2, removed=1), True), (states(), True), (states(held=1, completed=2), False),
     (states(idle=1), False), (states(running=1, completed=2), False)],
)  # fmt: skip
def test_finished_means_no_job_can_run_any_more(counts, finished):
    assert is_finished(counts) is finished


def test_counts_are_reported_each_round_until_all_jobs_are_done(fake_schedd, cluster, skydriver):
    fake_schedd.status_rounds = [[IDLE, IDLE, IDLE], [R, R, H], [C, C, X]]
    reporter = ScanRoutesClient(skydriver.address, SCAN_ID)

    last = watch_cluster(fake_schedd, cluster, reporter, interval=0, stop=threading.Event())

    assert last == states(completed=2, removed=1)
    assert reported_states(skydriver) == [states(idle=3), states(running=2, held=1), states(completed=2, removed=1)]
    for body in skydriver.bodies():
        assert body["condor_cluster"] | {"states": None, "hold_reasons": None} == {
            "collector": "glidein-cm.icecube.wisc.edu",
            "schedd": "sub-2.icecube.wisc.edu",
            "cluster_id": 4242,
            "jobs": 3,
            "states": None,
            "hold_reasons": None,
        }


def test_hold_reasons_are_reported_with_the_counts_and_cleared_once_no_job_is_held(fake_schedd, cluster, skydriver):
    memory = "Error from slot1_3@e042.chtc.wisc.edu: Job has gone over memory limit of 8192 megabytes."
    fake_schedd.status_rounds = [[Job(H, memory), Job(H, memory), Job(H, "Spooling input data files")], [C, C, X]]

    watch_cluster(fake_schedd, cluster, ScanRoutesClient(skydriver.address, SCAN_ID), 0, threading.Event())

    assert reported_states(skydriver) == [states(held=3), states(completed=2, removed=1)]
    assert [body["condor_cluster"]["hold_reasons"] for body in skydriver.bodies()] == [
        {"Job has gone over memory limit of 8192 megabytes.": 2, "Spooling input data files": 1},
        {},
    ]


def test_a_failing_report_does_not_end_the_watch(fake_schedd, cluster, skydriver):
    fake_schedd.status_rounds = [[R, R, R], [C, C, C]]
    skydriver.statuses = [500]
    reporter = ScanRoutesClient(skydriver.address, SCAN_ID, attempts=1)

    last = watch_cluster(fake_schedd, cluster, reporter, interval=0, stop=threading.Event())

    assert last == states(completed=3)
    assert reported_states(skydriver) == [states(running=3), states(completed=3)]


def test_an_unreachable_skydriver_does_not_end_the_watch(fake_schedd, cluster, skydriver):
    fake_schedd.status_rounds = [[R, R, R], [C, C, C]]
    url = skydriver.address
    skydriver.close()

    last = watch_cluster(fake_schedd, cluster, ScanRoutesClient(url, SCAN_ID, attempts=1), 0, threading.Event())

    assert last == states(completed=3)
    assert fake_schedd.queries == 2


def test_a_failing_schedd_query_is_retried_next_round(fake_schedd, cluster, skydriver):
    fake_schedd.status_rounds = [[C, C, C]]
    fake_schedd.fail_queries = 2

    last = watch_cluster(fake_schedd, cluster, ScanRoutesClient(skydriver.address, SCAN_ID), 0, threading.Event())

    assert last == states(completed=3)
    assert fake_schedd.queries == 3
    assert reported_states(skydriver) == [states(completed=3)]


def test_a_stop_request_ends_the_watch_of_a_running_cluster(fake_schedd, cluster, skydriver):
    fake_schedd.status_rounds = [[R, R, H]]
    stop = threading.Event()
    stop.set()

    last = watch_cluster(fake_schedd, cluster, ScanRoutesClient(skydriver.address, SCAN_ID), 3600, stop)

    assert last == states(running=2, held=1)
    assert reported_states(skydriver) == [states(running=2, held=1)]
