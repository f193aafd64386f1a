"""Watching a cluster: job-state counts reported to a real HTTP server until every job is done."""

import threading

import pytest
from htcondor2 import JobStatus

from scanner_client.job_states import count_states, is_finished
from scanner_client.reporter import CondorCluster
from scanner_client.scan_routes import ScanRoutesClient
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
    assert count_states(statuses) == states(idle=1, running=3, held=1, completed=2, removed=1)
    assert count_states([]) == states()


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
        assert body["condor_cluster"] | {"states": None} == {
            "collector": "glidein-cm.icecube.wisc.edu",
            "schedd": "sub-2.icecube.wisc.edu",
            "cluster_id": 4242,
            "jobs": 3,
            "states": None,
        }


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
