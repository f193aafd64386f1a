"""SIGKILL of SkyDriver at each step of a scan's life, then a restart: the scan ends exactly once, nothing is left.

SkyDriver runs as users run it (`python -m skydriver`: embedded database, local launcher, reference scanner), and is
killed without warning, as the OOM killer does. To be killed at a precise step, a test puts a named pipe (FIFO) where
the local launcher opens a log file at that step: SkyDriver's own unchanged code blocks there, in the middle of the step,
until it is killed. Every lease is 630 s long (LAUNCH_TIMEOUT): a restarted SkyDriver must take its work back at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from examples.sample_data import MODERN_EVENT
from tests.conftest import free_port, scan_body
from tests.skydriver_process import run_skydriver, stop

pytestmark = pytest.mark.slow

LOCAL_SCANS = {
    "SKYDRIVER_LAUNCHER": "local", "LAUNCH_INTERVAL": "0", "LAUNCH_RETRY_BACKOFF": "1", "RECONCILE_INTERVAL": "1",
    "SKYSCAN_PROGRESS_INTERVAL_SEC": "1", "SKYSCAN_RESULT_INTERVAL_SEC": "2",
    # a launch lease far longer than any wait here: a restarted SkyDriver must take its launches back at once
    "LAUNCH_TIMEOUT": "600",
}  # fmt: skip
MANIFEST = {"include_event": "false", "include_deleted": "true"}


class Service:
    """One data directory and port; SkyDriver started, SIGKILLed and started again on them."""

    def __init__(self, data_dir: Path, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**LOCAL_SCANS, **env}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> None:
        self.process = run_skydriver(self.data_dir, self.port, **{**self.env, **env})

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def post(self, nsides: dict[str, int] | None = None, **overrides: Any) -> str:
        """A scan of the real event; by default the smallest one (nside 8: seconds)."""
        body = scan_body(MODERN_EVENT.read_text(), cluster={"local": 2}, reco_algo="dummy", nsides=nsides or {"8": 0})
        response = requests.post(f"{self.url}/scan", json={**body, **overrides}, timeout=30)
        assert response.status_code == 200, response.text
        return str(response.json()["scan_id"])

    def manifest(self, scan_id: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/scan/manifest/{scan_id}", params=MANIFEST, timeout=30).json()

    def result(self, scan_id: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/scan/result/{scan_id}", timeout=30).json()

    def wait(self, what: str, condition: Callable[[], Any], timeout: float = 120.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (found := condition()):
            assert time.monotonic() < deadline, f"not reached in {timeout:.0f}s: {what}"
            time.sleep(0.2)
        return found

    def launches(self, scan_id: str) -> list[dict[str, Any]]:
        """The local launcher's record of the scan's processes (one record per launch)."""
        record = self.data_dir / "scans" / scan_id / "launch.json"
        return json.loads(record.read_text())["processes"] if record.exists() else []

    def servers_started(self, scan_id: str) -> int:
        """How many scanner servers were ever started for the scan (each writes its own log header)."""
        log = self.data_dir / "scans" / scan_id / "logs" / "server.log"
        return log.read_text().count("work queue on 127.0.0.1") if log.exists() else 0

    def block_at(self, scan_id: str, log_name: str) -> Path:
        """A FIFO as the scan's log ``log_name``: the launcher's step that opens it hangs there (nobody reads it)."""
        fifo = self.data_dir / "scans" / scan_id / "logs" / log_name
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
        return fifo

    def processes(self, scan_id: str) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            if str(self.data_dir / "scans" / scan_id) in " ".join(proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
        return found

    def assert_finished_exactly_once(self, scan_id: str) -> dict[str, Any]:
        done = self.wait("scan complete", lambda: (m := self.manifest(scan_id))["complete"] and m)
        assert done["launch"]["status"] == "stopped" and done["launch"]["reason"] == "finished", done["launch"]
        result = self.result(scan_id)
        assert result["is_final"] is True and len(result["skyscan_result"]["nside-8"]["data"]) == 768
        assert len([p for p in self.launches(scan_id) if p["role"] == "server"]) == 1
        assert self.servers_started(scan_id) == 1  # launched once, whatever the kill interrupted
        assert self.processes(scan_id) == []  # and torn down
        return done


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    running = Service(tmp_path / "data", WAIT_BEFORE_TEARDOWN="1")
    yield running
    if running.process is not None and running.process.poll() is None:
        assert stop(running.process) == 0


def test_killed_right_after_a_realtime_alert_is_accepted_then_between_its_final_result_and_teardown(service: Service) -> None:
    service.env["WAIT_BEFORE_TEARDOWN"] = "4"  # room for a kill before the teardown
    service.start()
    scan_id = service.post(priority=100)
    service.kill()

    service.start()
    service.wait("final result", lambda: service.result(scan_id).get("is_final"))
    assert not service.manifest(scan_id)["complete"], "torn down before the kill: make WAIT_BEFORE_TEARDOWN longer"
    service.kill()

    service.start()
    service.assert_finished_exactly_once(scan_id)


def test_killed_mid_scan_the_running_scan_is_reattached(service: Service) -> None:
    service.start()
    scan_id = service.post(nsides={"8": 0, "16": 4, "32": 4})  # long enough to be killed in the middle
    service.wait("progress reported", lambda: service.manifest(scan_id)["progress"])
    (server_before,) = [p for p in service.launches(scan_id) if p["role"] == "server"]
    service.kill()
    assert psutil.pid_exists(server_before["pid"]), "the scan keeps running while SkyDriver is down"
    service.start()
    service.assert_finished_exactly_once(scan_id)
    (server_after,) = [p for p in service.launches(scan_id) if p["role"] == "server"]
    assert server_after == server_before  # re-attached, not relaunched


def test_killed_while_launching_after_spawning_the_server_the_scan_is_launched_once(service: Service) -> None:
    service.start(SKYDRIVER_LAUNCHER="none")  # launching paused: the scan id is known before its launch begins
    scan_id = service.post()
    assert stop(service.process) == 0  # type: ignore[arg-type]
    fifo = service.block_at(scan_id, "starter-0.log")  # the server is spawned, then the launch hangs on its starter

    service.start()
    service.wait("launch hanging after the server was spawned", lambda: service.processes(scan_id))
    (stray,) = service.processes(scan_id)
    assert service.manifest(scan_id)["launch"]["status"] == "launching" and service.launches(scan_id) == []
    service.kill()
    assert stray.is_running(), "the unrecorded server outlives SkyDriver"
    fifo.unlink()

    service.start()
    launched = service.wait("relaunched", lambda: (m := service.manifest(scan_id))["launch"]["status"] != "launching" and m)
    assert launched["launch"]["attempts"] == 2, launched["launch"]  # the interrupted attempt, then this one
    assert not stray.is_running() or stray.status() == psutil.STATUS_ZOMBIE, "the interrupted launch's server is stopped"
    (server,) = [p for p in service.launches(scan_id) if p["role"] == "server"]
    assert server["pid"] != stray.pid
    done = service.wait("scan complete", lambda: (m := service.manifest(scan_id))["complete"] and m)
    assert done["launch"]["status"] == "stopped" and done["launch"]["reason"] == "finished", done["launch"]
    assert service.result(scan_id)["is_final"] is True
    assert service.processes(scan_id) == []


def test_killed_during_teardown_the_restarted_skydriver_finishes_it_at_once(service: Service) -> None:
    service.start()
    scan_id = service.post()
    service.wait("the starter's cluster reported", lambda: service.manifest(scan_id)["condor_clusters"])
    fifo = service.block_at(scan_id, "stopper.log")  # teardown hangs before its `scanner_client stop`
    service.wait("teardown under way", lambda: service.manifest(scan_id)["launch"]["status"] == "stopping")
    service.kill()
    fifo.unlink()

    service.start()
    done = service.assert_finished_exactly_once(scan_id)  # well within the 630 s lease the kill left behind
    assert done["status"]["timestamps"]["ended"]
    stopper_log = (service.data_dir / "scans" / scan_id / "logs" / "stopper.log").read_text()
    assert stopper_log.count("local cluster") == len(done["condor_clusters"]), stopper_log  # each stopped once
