"""The local schedd: a cluster's jobs as real child processes, removable from another process as on HTCondor."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from htcondor2 import JobStatus

from scanner_client.__main__ import main
from scanner_client.commands import cluster_constraint
from scanner_client.local_schedd import LocalSchedd
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

    assert local.job_statuses(cluster_id, 2) == [JobStatus.COMPLETED] * 2
    for proc_id in (0, 1):
        assert (logs / f"client-{cluster_id}.{proc_id}.out").read_text() == "job started with ['exit']\n"
    assert schedd(tmp_path).submit(build_submit(ClientJobSpec(None, "1GB", startup)), 1, False) == cluster_id + 1


def test_any_exit_code_is_completed_as_on_htcondor(tmp_path):
    local = schedd(tmp_path)
    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", write_startup(tmp_path / "s.json", exit=3))), 1, False)
    wait_all(local, cluster_id)
    assert local.job_statuses(cluster_id, 1) == [JobStatus.COMPLETED]


def test_remove_from_another_process_stops_the_jobs_it_records(tmp_path):
    local = schedd(tmp_path)
    startup = write_startup(tmp_path / "s.json", sleep=600)
    cluster_id = local.submit(build_submit(ClientJobSpec(None, "1GB", startup)), 2, False)
    assert local.job_statuses(cluster_id, 2) == [JobStatus.RUNNING] * 2

    stop = [sys.executable, "-m", "scanner_client", "--collector", "localhost", "--schedd", "localhost",
            "--local-jobs", str(tmp_path / "jobs"), "stop", "--cluster-id", str(cluster_id)]  # fmt: skip
    stopped = subprocess.run(stop, capture_output=True, text=True, timeout=60)
    wait_all(local, cluster_id)

    assert stopped.returncode == 0 and "removed 2 jobs of local cluster 1" in stopped.stderr, stopped.stderr
    assert local.job_statuses(cluster_id, 2) == [JobStatus.REMOVED] * 2
    stopper = schedd(tmp_path)
    assert stopper.remove(cluster_constraint(cluster_id), "again") == 0
    assert stopper.remove(cluster_constraint(cluster_id + 1), "never submitted") == 0


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
