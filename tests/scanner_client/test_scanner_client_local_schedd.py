"""The local schedd: a cluster's jobs as real child processes, removable from another process as on HTCondor."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from htcondor2 import JobStatus

from scanner_client.__main__ import main
from scanner_client.commands import cluster_constraint
from scanner_client.local_schedd import LocalSchedd
from scanner_client.schedd import Job, ScheddError
from scanner_client.submit_description import ClientJobSpec, build_submit

REPO = Path(__file__).resolve().parents[2]
JOB_MODULE = "tests.scanner_client.local_job"


@pytest.fixture(autouse=True)
def importable_job_module(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))


def write_startup(path: Path, **behaviour) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(behaviour))
    return path


def schedd(tmp_path: Path) -> LocalSchedd:
    return LocalSchedd("localhost", "localhost", tmp_path / "jobs", JOB_MODULE)


def wait_all(local: LocalSchedd, cluster_id: int) -> None:
    for job in local._jobs[cluster_id]:
        job.wait(timeout=60)


def test_jobs_run_the_client_module_with_the_startup_file_and_their_own_logs(tmp_path):
    startup = write_startup(tmp_path / "common" / "startup.json", exit=0)
    logs = tmp_path / "logs"
    logs.mkdir()
    local = schedd(tmp_path)

    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", startup, logs)), 2, spool=True)
    wait_all(local, cluster_id)

    assert local.jobs(cluster_id, 2) == [Job(JobStatus.COMPLETED)] * 2
    for proc_id in (0, 1):
        assert (logs / f"client-{cluster_id}.{proc_id}.out").read_text() == "job started with ['exit']\n"
    assert schedd(tmp_path).submit(build_submit(ClientJobSpec(None, "1GB", startup)), 1, False) == cluster_id + 1


def test_any_exit_code_is_completed_as_on_htcondor(tmp_path):
    local = schedd(tmp_path)
    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", write_startup(tmp_path / "s.json", exit=3))), 1, False)
    wait_all(local, cluster_id)
    assert local.jobs(cluster_id, 1) == [Job(JobStatus.COMPLETED)]


def test_remove_from_another_process_stops_the_jobs_it_records(tmp_path):
    local = schedd(tmp_path)
    startup = write_startup(tmp_path / "s.json", sleep=600)
    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", startup)), 2, False)
    assert local.jobs(cluster_id, 2) == [Job(JobStatus.RUNNING)] * 2

    stop = [sys.executable, "-m", "scanner_client", "--collector", "localhost", "--schedd", "localhost",
            "--local-jobs", str(tmp_path / "jobs"), "stop", "--cluster-id", str(cluster_id)]  # fmt: skip
    stopped = subprocess.run(stop, capture_output=True, text=True, timeout=60)
    wait_all(local, cluster_id)

    assert stopped.returncode == 0 and "removed 2 jobs of local cluster 1" in stopped.stderr, stopped.stderr
    assert local.jobs(cluster_id, 2) == [Job(JobStatus.REMOVED)] * 2
    stopper = schedd(tmp_path)
    assert stopper.remove(cluster_constraint(cluster_id), "again") == 0
    assert stopper.remove(cluster_constraint(cluster_id + 1), "never submitted") == 0


def test_a_job_held_from_another_process_stops_and_stays_held_with_its_reason_until_removed(tmp_path):
    local = schedd(tmp_path)
    startup = write_startup(tmp_path / "s.json", sleep=600)
    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", startup)), 3, False)
    pids = [job.pid for job in local._jobs[cluster_id]]
    reason = "Error from slot1_3@e042.chtc.wisc.edu: Job has gone over memory limit of 1024 megabytes."

    schedd(tmp_path).hold(cluster_id, 1, reason)  # as condor_hold, or the memory policy, does from outside

    local._jobs[cluster_id][1].wait(timeout=60)  # the held job's process was stopped
    assert local.jobs(cluster_id, 3) == [Job(JobStatus.RUNNING), Job(JobStatus.HELD, reason), Job(JobStatus.RUNNING)]
    assert [job.pid for job in local._jobs[cluster_id]] == pids
    with pytest.raises(ScheddError, match="no job 1.3"):
        local.hold(cluster_id, 3, "no such job")

    assert schedd(tmp_path).remove(cluster_constraint(cluster_id), "done") == 2  # the two still running
    wait_all(local, cluster_id)
    assert local.jobs(cluster_id, 3) == [Job(JobStatus.REMOVED)] * 3  # held jobs are removed too
    with pytest.raises(ScheddError, match="left the queue"):
        local.hold(cluster_id, 0, "too late")


def test_a_local_jobs_hold_reason_reaches_the_starters_report(tmp_path, skydriver, monkeypatch):
    """The starter run as in a local scan: both of its jobs held from outside; it reports them with their reason."""
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_ADDRESS", skydriver.address)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_SCAN_ID", "0123456789abcdef0123456789abcdef")
    startup = write_startup(tmp_path / "common" / "startup.json", sleep=600)
    backend = ["--collector", "localhost", "--schedd", "localhost", "--local-jobs", str(tmp_path / "jobs"),
               "--local-client-module", JOB_MODULE]  # fmt: skip
    start = [sys.executable, "-m", "scanner_client", *backend, "start", "--n-jobs", "2", "--memory", "1GB",
             "--client-startup-json", str(startup), "--report-interval", "0.1"]  # fmt: skip
    starter = subprocess.Popen(start, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reports = wait_for_report(skydriver, lambda r: r.get("states", {}).get("running") == 2)
        for proc_id in (0, 1):
            schedd(tmp_path).hold(reports["cluster_id"], proc_id, "Job has gone over memory limit of 1024 megabytes.")
        held = wait_for_report(skydriver, lambda r: r.get("states", {}).get("held") == 2)
    finally:
        assert main([*backend, "stop", "--cluster-id", "1"]) == 0
        starter.wait(timeout=60)

    assert skydriver.refusals == []  # SkyDriver's own model accepts the report
    assert held["states"] == {"idle": 0, "running": 0, "held": 2, "completed": 0, "removed": 0}
    assert held["hold_reasons"] == {"Job has gone over memory limit of 1024 megabytes.": 2}
    assert starter.returncode == 0  # the removed jobs are finished: the watch ended


def wait_for_report(skydriver, predicate, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := [r for body in skydriver.bodies() if predicate(r := body["condor_cluster"])]:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no such report in {timeout}s: {[b['condor_cluster'] for b in skydriver.bodies()]}")


def test_start_then_stop_on_the_command_line(tmp_path, skydriver, monkeypatch):
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_ADDRESS", skydriver.address)
    monkeypatch.setenv("SKYSCAN_SKYDRIVER_SCAN_ID", "0123456789abcdef0123456789abcdef")
    startup = write_startup(tmp_path / "common" / "startup.json", sleep=0.2)
    backend = ["--collector", "localhost", "--schedd", "localhost", "--local-jobs", str(tmp_path / "jobs"),
               "--local-client-module", JOB_MODULE]  # fmt: skip

    start = [*backend, "start", "--n-jobs", "2", "--memory", "1GB", "--client-startup-json", str(startup),
             "--report-interval", "0.05"]  # fmt: skip
    assert main(start) == 0
    assert main([*backend, "stop", "--cluster-id", "1"]) == 0

    assert skydriver.refusals == []
    reports = [body["condor_cluster"] for body in skydriver.bodies()]
    assert reports[0] == {"collector": "localhost", "schedd": "localhost", "cluster_id": 1, "jobs": 2}
    assert reports[-1]["states"] == {"idle": 0, "running": 0, "held": 0, "completed": 2, "removed": 0}
