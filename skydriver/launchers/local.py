"""The local launcher: a scan's scanner server and its worker starters as child processes of this machine.

The embedded default: it runs the reference scanner (``skydriver.reference_scanner``) through the same launcher
interface, manifest fields and teardown as Kubernetes. The starters are the production ``scanner_client start``
with ``--local-jobs`` (its local schedd runs the reference scanner's workers as its child processes), and teardown
runs ``scanner_client stop`` for every cluster they reported, as the Kubernetes stopper Job does. Each scan gets a
directory under the data directory with its logs and a ``launch.json`` that records its processes (pid + start
time, so a reused pid is never mistaken for ours); it is written before ``start`` returns, so a restarted
SkyDriver finds, re-attaches and stops them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from ..auth import scan_token
from ..config import Settings, secret_variables
from .base import LOCAL_CLUSTER, LaunchedScan, Launcher, LaunchError, LaunchPlan, Observation, ScanRequest, ScanState
from .process_logs import exit_failure, log_path
from .process_logs import tail as log_tail
from .scanner_command import scanner_env, scanner_server_argv

LOGGER = logging.getLogger(__name__)

SERVER_MODULE = "skydriver.reference_scanner.server"
CLIENT_MODULE = "skydriver.reference_scanner.client"
STARTER_MODULE = "scanner_client"
# the reference scanner's stand-in reco must never carry a real algorithm's name
RECO_ALGOS = ("dummy",)
STOP_GRACE_SECONDS = 10.0
REDACTED_TOKEN = {"redacted": "a SkyDriver system token for this scan only, minted at launch"}


class LocalLauncher(Launcher):
    name = "local"

    def __init__(self, settings: Settings):
        self.settings = settings
        self.scans_dir = settings.data_dir / "scans"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def scan_dir(self, scan_id: str) -> Path:
        return self.scans_dir / scan_id

    def usable_clusters(self, registry: Mapping[str, Mapping[str, str]]) -> dict[str, Mapping[str, str]]:
        """Only this machine: the registry's ``local`` entry (or localhost when the registry leaves it out)."""
        return {LOCAL_CLUSTER: registry.get(LOCAL_CLUSTER, {"collector": "localhost", "schedd": "localhost"})}

    def refusal_of_reco_algo(self, reco_algo: str) -> str | None:
        if reco_algo in RECO_ALGOS:
            return None
        return (
            f"{reco_algo!r} needs the production Skymap Scanner (SKYDRIVER_LAUNCHER=kubernetes); the local "
            f"reference scanner runs only: {', '.join(RECO_ALGOS)}"
        )

    def _scanner_client(self, work: Path, collector: str, schedd: str) -> list[str]:
        """``python -m scanner_client`` and its options that put the jobs on this machine."""
        return [
            sys.executable, "-m", STARTER_MODULE, "--collector", collector, "--schedd", schedd,
            "--local-jobs", str(work / "jobs"), "--local-client-module", CLIENT_MODULE,
        ]  # fmt: skip

    def _commands(self, scan: ScanRequest) -> tuple[list[str], list[list[str]]]:
        work = self.scan_dir(scan.scan_id)
        server = [sys.executable, "-m", SERVER_MODULE, *scanner_server_argv(scan, common_space=str(work))]
        starters = [
            [
                *self._scanner_client(work, cluster.collector, cluster.schedd),
                "start", "--n-jobs", str(cluster.n_workers), "--memory", scan.memory,
                "--client-startup-json", str(work / "startup.json"), "--logs-directory", str(work / "logs"),
                "--report-interval", str(self.settings.scanner.progress_interval),
            ]  # fmt: skip
            for cluster in scan.clusters
        ]
        return server, starters

    def stopper_commands(self, scan: LaunchedScan) -> list[list[str]]:
        """One ``scanner_client ... stop`` per cluster the starters reported."""
        work = self.scan_dir(scan.scan_id)
        return [
            [
                *self._scanner_client(work, str(cluster["collector"]), str(cluster["schedd"])),
                "stop", "--cluster-id", str(cluster["cluster_id"]),
            ]  # fmt: skip
            for cluster in scan.condor_clusters
        ]

    def _env(self, scan: ScanRequest) -> dict[str, str]:
        return scanner_env(scan, self.settings.scanner)

    def plan(self, scan: ScanRequest) -> LaunchPlan:
        server, starters = self._commands(scan)
        env: dict[str, Any] = {**self._env(scan), "SKYSCAN_SKYDRIVER_AUTH": REDACTED_TOKEN}
        return LaunchPlan(
            scanner_server_args=shlex.join(server),
            tms_args=[shlex.join(s) for s in starters],
            env_vars={"scanner_server": env, "tms_starters": env},
        )

    async def start(self, scan: ScanRequest) -> dict[str, Any]:
        return await asyncio.to_thread(self._start, scan)

    def _start(self, scan: ScanRequest) -> dict[str, Any]:
        work = self.scan_dir(scan.scan_id)
        record = work / "launch.json"
        if record.exists():
            LOGGER.info("scan %s already launched locally (%s)", scan.scan_id, record)
            return json.loads(record.read_text())
        (work / "logs").mkdir(parents=True, exist_ok=True)
        if strays := _strays(work):
            # a SkyDriver killed between spawning and recording: stop what it spawned, so the scan runs once
            LOGGER.warning("scan %s: stopping %d unrecorded processes of an interrupted launch", scan.scan_id, len(strays))
            self._kill(strays)
        # SkyDriver's own secrets stay with it: a scanner holding AUTH_SECRET could mint tokens for any scan
        inherited = {k: v for k, v in os.environ.items() if k not in secret_variables()}
        env = {**inherited, **self._env(scan), "SKYSCAN_SKYDRIVER_AUTH": scan_token(self.settings, scan.scan_id)}
        server, starters = self._commands(scan)
        processes = []
        try:
            for role, argv in [("server", server), *((f"starter-{i}", s) for i, s in enumerate(starters))]:
                processes.append(self._spawn(role, argv, env, work))
        except OSError as exc:
            self._kill(processes)
            raise LaunchError(f"could not start local process: {exc}") from exc
        state = {"scan_dir": str(work), "processes": processes}
        tmp = record.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(record)
        return state

    def _spawn(self, role: str, argv: list[str], env: dict[str, str], work: Path) -> dict[str, Any]:
        with open(log_path(work, role), "ab") as log:
            # own session: the process group is the unit that stop() signals (a starter's workers included)
            child = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._children[child.pid] = child
        LOGGER.info("started %s (pid %d): %s", role, child.pid, shlex.join(argv))
        return {"role": role, "pid": child.pid, "create_time": psutil.Process(child.pid).create_time()}

    def _alive(self, process: dict[str, Any], table: ProcessTable | None = None) -> bool:
        """Running and really ours (same start time). Our own children are asked directly (which reaps one that
        exited); others, a restarted SkyDriver's orphans, are looked up in ``table`` (or in /proc without one)."""
        child = self._children.get(process["pid"])
        if child is not None:
            return child.poll() is None
        started = table.start_time(process["pid"]) if table is not None else _start_time(process["pid"])
        return started is not None and abs(started - process["create_time"]) < 0.01

    def _state(self, scan_id: str, state: dict[str, Any]) -> dict[str, Any]:
        if state.get("processes"):
            return state
        record = self.scan_dir(scan_id) / "launch.json"
        return json.loads(record.read_text()) if record.exists() else {"processes": []}

    async def observe(self, scans: Sequence[LaunchedScan]) -> dict[str, Observation]:
        """Every scan's server process, our children asked directly, the others found in one read of the process
        table; a server that exited non-zero fails with its exit code and the end of its log."""
        return await asyncio.to_thread(self._observe, scans)

    def _observe(self, scans: Sequence[LaunchedScan]) -> dict[str, Observation]:
        table = ProcessTable()
        return {scan.scan_id: self._observe_one(scan, table) for scan in scans}

    def _observe_one(self, scan: LaunchedScan, table: ProcessTable) -> Observation:
        processes = self._state(scan.scan_id, scan.state)["processes"]
        server = next((p for p in processes if p["role"] == "server"), None)
        if server is None:
            return Observation(ScanState.GONE)
        if self._alive(server, table):
            return Observation(ScanState.RUNNING)
        log = log_path(self.scan_dir(scan.scan_id), "server")
        child = self._children.get(server["pid"])
        if child is None:
            # not our child (SkyDriver restarted): its exit status is lost with the process
            if not any(self._alive(p, table) for p in processes):
                return Observation(ScanState.GONE)
            return Observation(ScanState.FAILED, exit_failure(None, log))
        if child.returncode == 0:
            return Observation(ScanState.FINISHED)
        return Observation(ScanState.FAILED, exit_failure(child.returncode, log))

    async def logs(self, scan: LaunchedScan, container: str, tail: int) -> list[str] | None:
        if not any(p["role"] == container for p in self._state(scan.scan_id, scan.state)["processes"]):
            return None
        return await asyncio.to_thread(log_tail, log_path(self.scan_dir(scan.scan_id), container), tail)

    async def stop(self, scan: LaunchedScan) -> None:
        processes = self._state(scan.scan_id, scan.state)["processes"]
        try:
            await asyncio.to_thread(self._stop_clusters, scan)
        finally:  # a failed `scanner_client stop` is retried by teardown; the processes go now regardless
            await asyncio.to_thread(self._kill, processes)

    def _stop_clusters(self, scan: LaunchedScan) -> None:
        """``scanner_client stop`` for each reported cluster: what removes the workers, as on HTCondor."""
        logs = self.scan_dir(scan.scan_id) / "logs"
        for argv in self.stopper_commands(scan):
            logs.mkdir(parents=True, exist_ok=True)
            with open(logs / "stopper.log", "ab") as log:
                try:
                    done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=2 * STOP_GRACE_SECONDS + 10)
                except subprocess.TimeoutExpired as exc:
                    raise LaunchError(f"{shlex.join(argv)} did not finish in {exc.timeout}s") from exc
            if done.returncode != 0:
                raise LaunchError(f"{shlex.join(argv)} exited {done.returncode} (see {log.name})")

    def _kill(self, processes: list[dict[str, Any]]) -> None:
        """SIGTERM each process group (a starter's group holds its workers), then SIGKILL what is left."""
        for p in processes:
            self._signal_group(p["pid"], signal.SIGTERM)  # the group too, even if its leader already exited
            # a stopped process (SIGSTOP, Ctrl-Z) gets its SIGTERM only once continued: else it waits out the grace
            self._signal_group(p["pid"], signal.SIGCONT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while any(self._alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p in processes:
            self._signal_group(p["pid"], signal.SIGKILL)  # whatever the group left behind
            child = self._children.pop(p["pid"], None)
            if child is not None:
                child.wait()

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def close(self) -> None:
        """Leave scans running across a SkyDriver restart; only forget the process handles."""
        self._children.clear()


def _start_time(pid: int) -> float | None:
    """When a live process started; None if there is none with that pid (or only its zombie)."""
    try:
        found = psutil.Process(pid)
        return None if found.status() == psutil.STATUS_ZOMBIE else found.create_time()
    except psutil.NoSuchProcess:
        return None


class ProcessTable:
    """Start times of this machine's live processes (zombies excluded), read from /proc at most once."""

    def __init__(self) -> None:
        self._started: dict[int, float] | None = None

    def start_time(self, pid: int) -> float | None:
        if self._started is None:
            self._started = {
                proc.pid: proc.info["create_time"]
                for proc in psutil.process_iter(["create_time", "status"])
                if proc.info["status"] != psutil.STATUS_ZOMBIE and proc.info["create_time"] is not None
            }
        return self._started.get(pid)


def _strays(work: Path) -> list[dict[str, Any]]:
    """Processes working in a scan's directory (every process a launch spawns starts there)."""
    found = []
    for proc in psutil.process_iter(["cwd", "create_time"]):
        if proc.info["cwd"] == str(work):
            found.append({"role": "unrecorded", "pid": proc.pid, "create_time": proc.info["create_time"]})
    return found
