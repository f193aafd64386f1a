"""Scans end to end on one machine: SkyDriver + local launcher + reference scanner processes + real event."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import uuid
from typing import Any

import healpy
import jwt
import psutil
import pytest
from skyreader import SkyScanResult

from skydriver.auth import SCAN_CLAIM
from skydriver.config import Settings
from skydriver.event_format.mjd import mjd_from_i3live_time
from skydriver.event_format.sky_coordinates import local_to_equatorial
from skydriver.launchers import LaunchedScan, ScanRequest, WorkerCluster
from skydriver.launchers.local import LocalLauncher
from skydriver.server import SkyDriver, start
from tests.conftest import AUTH_SECRET, free_port, scan_body, token
from tests.http_client import HttpClient
from tests.local_scan_processes import scan_processes
from tests.scan_api import wait_for_manifest

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

NSIDES = {"8": 0, "16": 4, "32": 4}


def event_direction(event: dict[str, Any]) -> tuple[float, float]:
    data = event["value"]["data"]
    reco = data["reco"]["splinempe"]
    return local_to_equatorial(reco["zen"], reco["azi"], mjd_from_i3live_time(data["eventtime"]))


async def test_a_real_event_is_scanned_end_to_end(
    local_driver: SkyDriver, local_settings: Settings, modern_event: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTH_SECRET", AUTH_SECRET)  # as SkyDriver's own environment holds it in deployment
    user, system = HttpClient(local_driver.address, token("user")), HttpClient(local_driver.address, token("system"))
    body = scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=NSIDES)
    response = await user.post("/scan", body)
    assert response.status == 200, response
    scan_id = response.json()["scan_id"]

    running = await wait_for_manifest(user, scan_id, lambda m: m["progress"] and m["condor_clusters"])
    assert running["launch"]["status"] == "launched"
    assert "skydriver.reference_scanner.server --reco-algo dummy" in running["scanner_server_args"]
    assert running["env_vars"]["scanner_server"]["SKYSCAN_SKYDRIVER_AUTH"] == {"redacted": "a SkyDriver system token for this scan only, minted at launch"}
    reported = running["condor_clusters"][0] | {"states": None, "hold_reasons": None}
    assert reported == {"collector": "localhost", "schedd": "localhost", "cluster_id": 1, "jobs": 2, "states": None, "hold_reasons": None}
    assert [" -m scanner_client " in args and " --local-jobs " in args and " start " in args for args in running["tms_args"]] == [True]
    processes = scan_processes(local_settings.data_dir, scan_id)
    (server,) = [p for p in processes if "skydriver.reference_scanner.server" in p.cmdline()]
    scanner_token = server.environ()["SKYSCAN_SKYDRIVER_AUTH"]
    assert jwt.decode(scanner_token, options={"verify_signature": False})[SCAN_CLAIM] == scan_id  # its own scan only
    assert "AUTH_SECRET" not in server.environ()  # else it could mint a token for any scan
    manifest_text = (await user.get(f"/scan/manifest/{scan_id}")).body.decode()
    assert all(scanner_token not in text for text in [manifest_text, *(" ".join(p.cmdline()) for p in processes)])

    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"])
    assert done["launch"] == {"launcher": "local", "status": "stopped", "reason": "finished", "attempts": 1}
    assert done["event_metadata"] == {**done["event_metadata"], "run_id": 138632, "event_id": 31747601, "is_real_event": True}
    assert done["progress"]["processing_stats"]["finished"] is True
    assert scan_processes(local_settings.data_dir, scan_id) == []
    status = done["status"]
    assert (status["scan_state"], status["is_terminal"], status["failure"]) == ("SCAN_HAS_FINAL_RESULT", True, None)
    times = status["timestamps"]
    assert times["created"] < times["launched"] < times["first_progress"] <= times["last_progress"] < times["ended"]
    assert times["final_result"] < times["ended"] and status["pixels_done"] == status["pixels_total"] > 0

    result = (await user.get(f"/scan/result/{scan_id}")).json()
    assert result["is_final"] is True
    sky = SkyScanResult.deserialize(result["skyscan_result"])
    assert sorted(sky.nsides) == [8, 16, 32]
    summary = (await system.get(f"/scan/{scan_id}/result/summary")).json()
    ra, dec = event_direction(modern_event)
    best = summary["best_fit"]
    separation = healpy.rotator.angdist([math.radians(best["ra_deg"]), math.radians(best["dec_deg"])], [ra, dec], lonlat=True)
    nside_32_pixel = healpy.nside2resol(32)
    assert float(separation[0]) < 2 * nside_32_pixel, (best, math.degrees(ra), math.degrees(dec))
    png = await user.get(f"/scan/{scan_id}/skymap.png")
    assert png.status == 200 and png.body.startswith(b"\x89PNG")
    assert (await user.get("/scans", query={"run_id": 138632, "event_id": 31747601, "is_real_event": "true"})).json()["scan_ids"] == [scan_id]


async def test_delete_mid_scan_stops_every_process(local_driver: SkyDriver, local_settings: Settings, modern_event: dict) -> None:
    user = HttpClient(local_driver.address, token("user"))
    body = scan_body(modern_event, cluster=[["local", 1], ["local", 1]], reco_algo="dummy", nsides={"8": 0, "64": 40})
    scan_id = (await user.post("/scan", body)).json()["scan_id"]
    await wait_for_manifest(user, scan_id, lambda m: len(m["condor_clusters"]) == 2)
    assert len(scan_processes(local_settings.data_dir, scan_id)) >= 5  # server, 2 scanner_client starters, 2 workers
    deleted = await user.delete(f"/scan/manifest/{scan_id}")
    assert deleted.status == 200 and deleted.json()["is_deleted"] is True
    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"])
    assert done["launch"]["status"] == "stopped" and done["launch"]["reason"] == "deleted"
    assert done["status"]["scan_state"].startswith("ABORTED__") and done["status"]["is_terminal"]
    assert scan_processes(local_settings.data_dir, scan_id) == []
    # teardown ran `scanner_client stop` for each reported cluster, and each found its worker running
    stopper_log = (local_settings.data_dir / "scans" / scan_id / "logs" / "stopper.log").read_text()
    assert "removed 1 jobs of local cluster 1" in stopper_log and "removed 1 jobs of local cluster 2" in stopper_log
    assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200  # idempotent, nothing harmful


async def test_skydriver_restart_mid_scan_keeps_the_scan(local_settings: Settings, modern_event: dict) -> None:
    first = await start(local_settings)
    user = HttpClient(first.address, token("user"))
    scan_id = (await user.post("/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=NSIDES))).json()["scan_id"]
    await wait_for_manifest(user, scan_id, lambda m: m["progress"])
    await first.stop()
    assert scan_processes(local_settings.data_dir, scan_id), "the scan must outlive SkyDriver"

    second = await start(local_settings)  # same port, database and data directory
    try:
        done = await wait_for_manifest(user, scan_id, lambda m: m["complete"])
        assert done["launch"]["status"] == "stopped" and done["launch"]["reason"] == "finished"
        assert (await user.get(f"/scan/result/{scan_id}")).json()["is_final"] is True
        assert scan_processes(local_settings.data_dir, scan_id) == []
    finally:
        await second.stop()


async def test_processes_that_vanished_while_skydriver_was_down_mark_the_scan_stopped(local_settings: Settings, modern_event: dict) -> None:
    first = await start(local_settings)
    user = HttpClient(first.address, token("user"))
    body = scan_body(modern_event, cluster={"local": 1}, reco_algo="dummy", nsides={"8": 0, "64": 40})
    scan_id = (await user.post("/scan", body)).json()["scan_id"]
    await wait_for_manifest(user, scan_id, lambda m: m["condor_clusters"])
    await first.stop()
    while procs := scan_processes(local_settings.data_dir, scan_id):  # until none is left (a starter may spawn more)
        for proc in procs:
            proc.kill()
        psutil.wait_procs(procs, timeout=5)
    second = await start(local_settings)
    try:
        done = await wait_for_manifest(user, scan_id, lambda m: m["complete"])
        assert done["launch"]["status"] == "stopped"
        assert "vanished while SkyDriver was not watching" in done["launch"]["reason"]
        assert done["status"]["scan_state"].startswith("STOPPED__") and done["status"]["reason"] == done["launch"]["reason"]
    finally:
        await second.stop()


async def test_local_launcher_refuses_real_algorithms_and_remote_clusters(local_driver: SkyDriver, modern_event: dict) -> None:
    user = HttpClient(local_driver.address, token("user"))
    response = await user.post("/scan", scan_body(modern_event, cluster={"local": 1}))
    assert response.status == 400 and "needs the production Skymap Scanner" in response.json()["error"]
    response = await user.post("/scan", scan_body(modern_event, reco_algo="dummy"))
    assert response.status == 400 and "known clusters: local" in response.json()["error"]
    assert json.loads((await user.get("/scans", query={"run_id": 138632, "event_id": 31747601, "is_real_event": "true"})).body)["scan_ids"] == []


async def test_a_killed_worker_does_not_stop_the_scan(local_driver: SkyDriver, local_settings: Settings, modern_event: dict) -> None:
    user = HttpClient(local_driver.address, token("user"))
    scan_id = (await user.post("/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=NSIDES))).json()["scan_id"]
    await wait_for_manifest(user, scan_id, lambda m: m["progress"] and m["condor_clusters"])
    workers = [p for p in scan_processes(local_settings.data_dir, scan_id) if p.cmdline()[1:3] == ["-m", "skydriver.reference_scanner.client"]]
    assert len(workers) == 2
    workers[0].kill()
    done = await wait_for_manifest(user, scan_id, lambda m: m["complete"])
    assert done["launch"]["reason"] == "finished"
    assert done["condor_clusters"][0]["states"]["removed"] == 1  # the starter saw its worker killed
    result = (await user.get(f"/scan/result/{scan_id}")).json()
    assert result["is_final"] and len(result["skyscan_result"]["nside-8"]["data"]) == 768


async def test_processes_of_an_unrecorded_launch_are_stopped_before_the_scan_is_launched_again(local_settings: Settings) -> None:
    launcher = LocalLauncher(local_settings)
    scan = ScanRequest(
        scan_id=uuid.uuid4().hex, docker_tag="3.5.2", reco_algo="dummy", nsides={8: 0}, is_real_event=True,
        predictive_scanning_threshold=1.0, memory="8GB", max_reco_time=None,
        clusters=(WorkerCluster("local", "localhost", "localhost", 1),), skydriver_address=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    work = launcher.scan_dir(scan.scan_id)
    work.mkdir(parents=True)
    # spawned by a launch whose SkyDriver was killed before it could write launch.json
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], cwd=work, start_new_session=True)
    state = await launcher.start(scan)
    try:
        assert stray.wait(timeout=30) == -signal.SIGTERM
        assert [p["role"] for p in state["processes"]] == ["server", "starter-0"]
        assert await launcher.start(scan) == state  # recorded now: launched once
    finally:
        await launcher.stop(LaunchedScan(scan.scan_id, state, []))
    assert scan_processes(local_settings.data_dir, scan.scan_id) == []
