"""Server + ``scanner_client start`` (local jobs) + 2 workers, real processes, against SkyDriver's validating routes."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import healpy
import psutil
import pytest
from conftest import MODERN_EVENT, REPO, TOKEN
from skyreader import SkyScanResult

from skydriver.event_format import load_event_file, read_event
from tests.scanner_routes_recorder import SCAN_ID, ValidatingSkyDriver

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

NSIDES = ["8:0", "16:4", "32:4"]
HANG_GUARD = 120  # seconds: only stops a hung test, never decides pass/fail


def _env(skydriver: ValidatingSkyDriver) -> dict[str, str]:
    return os.environ | {
        "PYTHONPATH": str(REPO),
        "SKYSCAN_SKYDRIVER_ADDRESS": skydriver.address,
        "SKYSCAN_SKYDRIVER_SCAN_ID": SCAN_ID,
        "SKYSCAN_SKYDRIVER_AUTH": TOKEN,
        "SKYSCAN_PROGRESS_INTERVAL_SEC": "1",
        "SKYSCAN_RESULT_INTERVAL_SEC": "1",
    }


def _scanner_client(tmp_path: Path, *command: str) -> list[str]:
    return [sys.executable, "-m", "scanner_client", "--collector", "localhost", "--schedd", "localhost",
            "--local-jobs", str(tmp_path / "jobs"), "--local-client-module", "skydriver.reference_scanner.client",
            *command]  # fmt: skip


def _start(tmp_path: Path, skydriver: ValidatingSkyDriver, reco_seconds: float) -> tuple[subprocess.Popen, subprocess.Popen]:
    startup = tmp_path / "common" / "startup.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "skydriver.reference_scanner.server", "--reco-algo", "dummy",
         "--cache-dir", str(tmp_path / "common"), "--client-startup-json", str(startup), "--nsides", *NSIDES,
         "--real-event", "--predictive-scanning-threshold", "1.0", "--reco-seconds", str(reco_seconds)],
        cwd=tmp_path, env=_env(skydriver), stdout=open(tmp_path / "server.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    (tmp_path / "logs").mkdir()
    starter = subprocess.Popen(
        _scanner_client(tmp_path, "start", "--n-jobs", "2", "--memory", "1GB", "--client-startup-json", str(startup),
                        "--logs-directory", str(tmp_path / "logs"), "--report-interval", "1"),
        cwd=tmp_path, env=_env(skydriver), stdout=open(tmp_path / "starter.log", "wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    return server, starter


def _wait_for(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hung waiting for {what}")
        time.sleep(0.05)


def _progress_reports(skydriver: ValidatingSkyDriver) -> list[dict]:
    return [body["progress"] for body in skydriver.bodies("PATCH") if "progress" in body]


def _cluster_reports(skydriver: ValidatingSkyDriver) -> list[dict]:
    return [body["condor_cluster"] for body in skydriver.bodies("PATCH") if "condor_cluster" in body]


def test_a_whole_scan_reports_like_the_skymap_scanner(tmp_path: Path, skydriver: ValidatingSkyDriver) -> None:
    server, starter = _start(tmp_path, skydriver, reco_seconds=0.002)
    assert server.wait(HANG_GUARD) == 0, (tmp_path / "server.log").read_text()[-3000:]
    assert starter.wait(HANG_GUARD) == 0, (tmp_path / "starter.log").read_text()[-3000:]

    assert skydriver.refusals == []  # every request had the token and a body SkyDriver's models accept
    assert (skydriver.requests[0].method, skydriver.requests[0].path) == ("GET", f"/scan/manifest/{SCAN_ID}")
    metadata = next(body for body in skydriver.bodies("PATCH") if "event_metadata" in body)
    assert metadata["event_metadata"] == {
        "run_id": 138632, "event_id": 31747601, "event_type": "neutrino",
        "mjd": pytest.approx(60280.71416774572), "is_real_event": True,
    }  # fmt: skip
    assert metadata["scan_metadata"]["nside_progression"] == [[8, 0], [16, 4], [32, 4]]

    progress = _progress_reports(skydriver)
    keys = {"summary", "epilogue", "tallies", "processing_stats", "predictive_scanning_threshold", "last_updated"}
    assert all(set(p) == keys for p in progress)
    assert progress[0]["summary"] == "The Skymap Scanner has started up."
    assert any("predictions" in p["processing_stats"] for p in progress)
    last = progress[-1]
    assert last["summary"] == "The Skymap Scanner has finished."
    assert last["processing_stats"]["finished"] is True and "end" in last["processing_stats"]
    assert set(last["tallies"]["nsides"]) == {"8", "16", "32"}
    assert last["tallies"]["nsides"]["8"]["done"] == 768

    puts = skydriver.of("PUT")
    assert all(put.path == f"/scan/result/{SCAN_ID}" for put in puts)
    assert [put.body["is_final"] for put in puts[:-1]] == [False] * (len(puts) - 1) and len(puts) >= 2
    assert puts[-1].body["is_final"] is True
    result = SkyScanResult.deserialize(puts[-1].body["skyscan_result"])
    assert result.nsides == [8, 16, 32]
    assert len(result.result["nside-8"]) == 768
    assert result.get_event_metadata().run_id == 138632

    # the best pixel of the finest nside is where the event points
    ra, dec = read_event(load_event_file(MODERN_EVENT), True).direction  # type: ignore[misc]
    finest = result.result["nside-32"]
    best = int(finest["index"][finest["llh"].argmin()])
    distance = healpy.rotator.angdist(healpy.pix2ang(32, best), (math.pi / 2 - dec, ra))
    assert distance < healpy.nside2resol(32)

    clusters = _cluster_reports(skydriver)
    assert clusters[0] == {"collector": "localhost", "schedd": "localhost", "cluster_id": 1, "jobs": 2}
    assert clusters[-1]["states"] == {"idle": 0, "running": 0, "held": 0, "completed": 2, "removed": 0}


def test_a_killed_worker_pixels_are_redone(tmp_path: Path, skydriver: ValidatingSkyDriver) -> None:
    server, starter = _start(tmp_path, skydriver, reco_seconds=0.003)
    _wait_for(lambda: any(p["tallies"]["total recos"] > 20 for p in _progress_reports(skydriver)), "first recos")
    workers = psutil.Process(starter.pid).children()
    assert len(workers) == 2
    workers[0].send_signal(signal.SIGKILL)

    assert server.wait(HANG_GUARD) == 0, (tmp_path / "server.log").read_text()[-3000:]
    assert starter.wait(HANG_GUARD) == 0
    final = skydriver.of("PUT")[-1].body
    assert final["is_final"] is True
    result = SkyScanResult.deserialize(final["skyscan_result"])
    assert sorted(result.result["nside-8"]["index"]) == list(range(768))
    # whether the killed worker held a lease at that instant is up to timing; the re-handing itself is tested
    # deterministically in test_refscan_work_queue.py
    assert "handed out again after lost workers" in (tmp_path / "server.log").read_text()
    assert _cluster_reports(skydriver)[-1]["states"]["removed"] == 1


def test_scanner_client_stop_removes_the_workers_of_a_running_scan(tmp_path: Path, skydriver: ValidatingSkyDriver) -> None:
    server, starter = _start(tmp_path, skydriver, reco_seconds=0.05)
    try:
        _wait_for(lambda: any(c.get("states", {}).get("running") == 2 for c in _cluster_reports(skydriver)), "2 running")
        workers = psutil.Process(starter.pid).children()
        stop = subprocess.run(_scanner_client(tmp_path, "stop", "--cluster-id", "1"), env=_env(skydriver), timeout=HANG_GUARD)
        assert stop.returncode == 0
        gone, alive = psutil.wait_procs(workers, timeout=HANG_GUARD)
        assert not alive and len(gone) == 2
        assert starter.wait(HANG_GUARD) == 0  # its watch saw every job removed
        assert _cluster_reports(skydriver)[-1]["states"]["removed"] == 2
    finally:
        server.kill()
        server.wait()


def test_only_the_dummy_reco_is_accepted(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "skydriver.reference_scanner.server", "--reco-algo", "millipede_wilks",
         "--cache-dir", str(tmp_path), "--client-startup-json", str(tmp_path / "s.json"), "--nsides", "8:0",
         "--real-event", "--event-file", str(MODERN_EVENT)],
        env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 2
    assert "only runs --reco-algo dummy" in run.stderr and "millipede_wilks" in run.stderr
