"""A schedd of this machine's processes: runs a cluster's client jobs as child processes, for SkyDriver's local launcher.

It takes the place of ``HTCondorSchedd`` behind the same ``ScheddClient`` calls, so a local scan runs the production
``scanner_client start`` (submit, report, watch) and ``stop``. A job is ``python -m CLIENT_MODULE`` with the client
arguments HTCondor jobs get, in the startup file's directory; each cluster is recorded in ``directory`` (pids with
start times, so a reused pid is never taken for a job, and the hold reasons of held jobs) so that ``scanner_client
stop`` run later, from another process, removes it, and ``hold`` from any process holds a job as HTCondor would.
Memory and the singularity image are not applied: the jobs are plain local processes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import htcondor2
import psutil

from .schedd import Job, ScheddError
from .submit_description import client_argv

LOGGER = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
_CLUSTER_CONSTRAINT = re.compile(r"^ClusterId == (?P<cluster_id>[0-9]+)$")


def _job_status(returncode: int | None) -> htcondor2.JobStatus:
    """Alive = running; exited = completed (HTCondor's view of any exit code); killed by a signal = removed."""
    if returncode is None:
        return htcondor2.JobStatus.RUNNING
    return htcondor2.JobStatus.COMPLETED if returncode >= 0 else htcondor2.JobStatus.REMOVED


class LocalSchedd:
    """Implements ``ScheddClient`` with child processes; ``directory`` holds one ``cluster-N.json`` per cluster."""

    def __init__(self, collector: str, schedd: str, directory: Path, client_module: str):
        self.collector = collector
        self.schedd = schedd
        self.directory = directory
        self.client_module = client_module
        self._jobs: dict[int, list[subprocess.Popen[bytes]]] = {}

    def _record(self, cluster_id: int) -> Path:
        return self.directory / f"cluster-{cluster_id}.json"

    def _new_cluster_id(self) -> int:
        """The next free id; creating its record exclusively keeps two starters of one scan apart."""
        self.directory.mkdir(parents=True, exist_ok=True)
        cluster_id = 1
        while True:
            try:
                os.close(os.open(self._record(cluster_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                return cluster_id
            except FileExistsError:
                cluster_id += 1

    def submit(self, description: htcondor2.Submit, count: int, spool: bool) -> int:
        startup_json = Path(description["transfer_input_files"])
        argv = [sys.executable, "-m", self.client_module, *client_argv(startup_json)[3:]]
        cluster_id = self._new_cluster_id()
        jobs = []
        try:
            for proc_id in range(count):
                jobs.append(self._start_job(argv, startup_json.parent, description, cluster_id, proc_id))
        except OSError as e:
            for job in jobs:
                job.kill()
            raise ScheddError(f"starting job {cluster_id}.{len(jobs)} ({' '.join(argv)}) failed: {e}") from e
        self._jobs[cluster_id] = jobs
        self._write_record(cluster_id, [{"pid": job.pid, "create_time": psutil.Process(job.pid).create_time()} for job in jobs])
        LOGGER.info("started cluster %s: %s jobs %s", cluster_id, count, [job.pid for job in jobs])
        return cluster_id

    @staticmethod
    def _start_job(
        argv: list[str], cwd: Path, description: htcondor2.Submit, cluster_id: int, proc_id: int
    ) -> subprocess.Popen[bytes]:
        def output(key: str) -> int:  # a file descriptor, or DEVNULL
            if not (path := description.get(key)):
                return subprocess.DEVNULL
            path = path.replace("$(ClusterId)", str(cluster_id)).replace("$(ProcId)", str(proc_id))
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

        stdout, stderr = output("output"), output("error")
        try:
            return subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
        finally:
            for fd in (stdout, stderr):
                if fd != subprocess.DEVNULL:
                    os.close(fd)

    def _read_record(self, cluster_id: int) -> list[dict[str, Any]] | None:
        """The cluster's recorded jobs; None if there is no such cluster (or it is being submitted)."""
        try:
            return list(json.loads(self._record(cluster_id).read_text())["jobs"])
        except (OSError, ValueError, KeyError):
            return None

    def _write_record(self, cluster_id: int, jobs: list[dict[str, Any]]) -> None:
        """Replaced whole, so that another process never reads half of it."""
        tmp = self._record(cluster_id).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"jobs": jobs}))
        tmp.replace(self._record(cluster_id))

    def jobs(self, cluster_id: int, n_jobs: int) -> list[Job]:
        if cluster_id not in self._jobs:
            raise ScheddError(f"cluster {cluster_id} was not started by this process (pid {os.getpid()})")
        recorded = self._read_record(cluster_id) or []
        held = {proc_id: job["hold_reason"] for proc_id, job in enumerate(recorded) if "hold_reason" in job}
        return [
            Job(htcondor2.JobStatus.HELD, held[proc_id]) if proc_id in held else Job(_job_status(job.poll()))
            for proc_id, job in enumerate(self._jobs[cluster_id])
        ]

    def hold(self, cluster_id: int, proc_id: int, reason: str) -> None:
        """Hold one job as HTCondor does (``condor_hold``, or a policy such as a memory limit): its process is stopped
        and the job stays, held with ``reason``, until it is removed. Any process may hold any recorded job."""
        recorded = self._read_record(cluster_id)
        if recorded is None or not 0 <= proc_id < len(recorded):
            raise ScheddError(f"no job {cluster_id}.{proc_id} in {self.directory}")
        if (process := _recorded_process(recorded[proc_id])) is None:
            raise ScheddError(f"job {cluster_id}.{proc_id} has left the queue (it ended): it cannot be held")
        recorded[proc_id]["hold_reason"] = reason  # recorded first: the job is never seen exited in between
        self._write_record(cluster_id, recorded)
        _stop([process])
        LOGGER.info("held job %s.%s: %s", cluster_id, proc_id, reason)

    def remove(self, constraint: str, reason: str) -> int:
        match = _CLUSTER_CONSTRAINT.match(constraint)
        if not match:
            raise ScheddError(f"the local schedd removes whole clusters only ('ClusterId == N'), not {constraint!r}")
        cluster_id = int(match["cluster_id"])
        recorded = self._read_record(cluster_id)
        if recorded is None:
            LOGGER.info("no local cluster %s in %s: nothing to remove", cluster_id, self.directory)
            return 0
        if any("hold_reason" in job for job in recorded):  # held jobs are removed too: no longer held
            self._write_record(cluster_id, [{k: v for k, v in job.items() if k != "hold_reason"} for job in recorded])
        alive = [p for job in recorded if (p := _recorded_process(job)) is not None]
        _stop(alive)
        for job in self._jobs.pop(cluster_id, []):
            job.wait()
        LOGGER.info("removed %s jobs of local cluster %s (%s)", len(alive), cluster_id, reason)
        return len(alive)


def _stop(processes: list[psutil.Process]) -> None:
    """SIGTERM, and SIGKILL what still runs after STOP_GRACE_SECONDS (HTCondor's way of ending a job)."""
    for process in processes:
        try:
            process.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    for process in _still_running(processes, STOP_GRACE_SECONDS):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def _still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` s for the processes to end; a zombie has ended (its parent, the starter, reaps it)."""
    deadline = time.monotonic() + timeout
    while True:
        running = [p for p in processes if _is_running(p)]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def _is_running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _recorded_process(job: dict[str, float]) -> psutil.Process | None:
    """The job's process if it still runs (same pid and start time), else None."""
    try:
        process = psutil.Process(int(job["pid"]))
        same = abs(process.create_time() - job["create_time"]) < 0.01
    except psutil.NoSuchProcess:
        return None
    return process if same and _is_running(process) else None
