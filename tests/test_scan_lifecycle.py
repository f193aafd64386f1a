"""Failures seen without anyone sending DELETE, through the public API: a scanner that exits 1, one that is killed,
one that stops reporting (stalled, then failed), and DELETE before launch. Real local scans (reference scanner)."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
from typing import Any

import psutil
import pytest

from scanner_client.local_schedd import LocalSchedd
from skydriver.config import Settings
from skydriver.server import SkyDriver, start
from tests.conftest import free_port, scan_body, token
from tests.http_client import HttpClient
from tests.local_scan_processes import scan_processes
from tests.scan_api import post_scan, wait_for_manifest, wait_for_status

LONG_SCAN = {"8": 0, "64": 40}


async def post(client: HttpClient, event: dict[str, Any], nsides: dict[str, int]) -> str:
    return str((await post_scan(client, event, cluster={"local": 1}, reco_algo="dummy", nsides=nsides))["scan_id"])


def scanner_server(settings: Settings, scan_id: str) -> psutil.Process:
    (server,) = [p for p in scan_processes(settings.data_dir, scan_id) if "reference_scanner.server" in " ".join(p.cmdline())]
    return server


@pytest.mark.slow  # real processes end to end
async def test_a_scanner_that_exits_1_fails_the_scan_with_its_exit_code_and_log(local_settings: Settings, modern_event: dict) -> None:
    # the scanner is told a SkyDriver address where nothing listens: it cannot read its event and exits 1
    unreachable = dataclasses.replace(local_settings, skydriver_address=f"http://127.0.0.1:{free_port()}")
    driver = await start(unreachable)
    try:
        user = HttpClient(driver.address, token("user"))
        scan_id = await post(user, modern_event, LONG_SCAN)
        status = await wait_for_status(user, scan_id, lambda s: s["is_terminal"], timeout=120)
        assert status["scan_state"] == "FAILED__WAITING_ON_SCANNER_SERVER_STARTUP"
        failure = status["failure"]
        assert (failure["source"], failure["code"], failure["exit_code"]) == ("scanner", "EXIT_CODE_1", 1)
        assert "cannot get the event from SkyDriver's manifest" in status["reason"]  # the cause, without server files
        assert any("cannot get the event" in line for line in failure["log_tail"])
        logs = (await user.get(f"/scan/{scan_id}/logs", query={"container": "server", "tail": 3})).json()
        assert len(logs["lines"]) == 3 and logs["lines"] == failure["log_tail"][-3:]  # the same file, through the API
        assert (await user.get(f"/scan/{scan_id}/logs", query={"container": "starter-0"})).json()["lines"]
        assert (await user.get(f"/scan/{scan_id}/logs", query={"container": "starter-1"})).status == 400  # one cluster only
        done = await wait_for_status(user, scan_id, lambda s: s["complete"])
        assert done["scan_state"] == status["scan_state"] and done["timestamps"]["ended"]
        manifest = (await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false"})).json()
        assert manifest["status"] == done and manifest["launch"]["status"] == "failed"
        assert scan_processes(unreachable.data_dir, scan_id) == []
    finally:
        await driver.stop()


@pytest.mark.slow  # real processes end to end
async def test_a_killed_scanner_is_seen_within_a_reconcile_interval(local_driver: SkyDriver, local_settings: Settings, modern_event: dict) -> None:
    user = HttpClient(local_driver.address, token("user"))
    scan_id = await post(user, modern_event, LONG_SCAN)
    running = await wait_for_status(user, scan_id, lambda s: s["scan_state"].startswith("IN_PROGRESS") and s["timestamps"]["first_progress"])
    assert running["timestamps"]["launched"] < running["timestamps"]["first_progress"]
    scanner_server(local_settings, scan_id).kill()
    status = await wait_for_status(user, scan_id, lambda s: s["is_terminal"], timeout=3 * local_settings.reconcile_interval + 5)
    assert status["scan_state"].startswith("FAILED__") and status["failure"]["code"] == "KILLED_BY_SIGNAL_9"
    assert status["reason"].startswith("the scanner server was killed by signal 9 (SIGKILL)")
    await wait_for_status(user, scan_id, lambda s: s["complete"])
    assert scan_processes(local_settings.data_dir, scan_id) == []


@pytest.mark.slow  # real processes end to end
async def test_a_silent_scanner_is_reported_stalled_then_failed(local_settings: Settings, modern_event: dict) -> None:
    driver = await start(dataclasses.replace(local_settings, stall_after=2.0, scan_timeout=6.0))
    try:
        user = HttpClient(driver.address, token("user"))
        scan_id = await post(user, modern_event, LONG_SCAN)
        await wait_for_status(user, scan_id, lambda s: s["timestamps"]["first_progress"] is not None)
        scanner_server(local_settings, scan_id).send_signal(signal.SIGSTOP)  # alive, but reports nothing any more
        stalled = await wait_for_status(user, scan_id, lambda s: s["scan_state"].startswith("STALLED__"))
        assert stalled["is_terminal"] is False and "no progress report for" in stalled["reason"]
        failed = await wait_for_status(user, scan_id, lambda s: s["is_terminal"])
        assert failed["scan_state"] == stalled["scan_state"].replace("STALLED", "FAILED")
        assert (failed["failure"]["source"], failed["failure"]["code"]) == ("skydriver", "SCAN_TIMEOUT")
        await wait_for_status(user, scan_id, lambda s: s["complete"])
        assert scan_processes(local_settings.data_dir, scan_id) == []
    finally:
        await driver.stop()


@pytest.mark.slow  # real processes end to end
async def test_workers_all_held_fail_the_scan_with_their_hold_reason(local_driver: SkyDriver, local_settings: Settings, modern_event: dict) -> None:
    """HTCondor holds every worker (here the local schedd, from outside, as a memory policy would): the starter
    reports the reason, reconcile fails the scan with it, and the teardown removes the held jobs."""
    user = HttpClient(local_driver.address, token("user"))
    response = await user.post("/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides=LONG_SCAN))
    scan_id = response.json()["scan_id"]
    manifest = await wait_for_manifest(user, scan_id, lambda m: any((c.get("states") or {}).get("running") == 2 for c in m["condor_clusters"]))
    [cluster] = manifest["condor_clusters"]
    schedd = LocalSchedd("localhost", "localhost", local_settings.data_dir / "scans" / scan_id / "jobs", "unused")
    reason = "Error from slot1_1@e042.chtc.wisc.edu: Job has gone over memory limit of 8192 megabytes."
    for proc_id in (0, 1):
        await asyncio.to_thread(schedd.hold, cluster["cluster_id"], proc_id, reason)

    status = await wait_for_status(user, scan_id, lambda s: s["is_terminal"])

    assert status["scan_state"].startswith("FAILED__") and status["failure"]["source"] == "htcondor"
    assert status["failure"]["code"] == "ALL_WORKERS_HELD"
    assert status["reason"] == (
        "every worker of the scan's 1 HTCondor cluster is held or removed (2 held, 0 removed); most common hold reasons: "
        "'Job has gone over memory limit of 8192 megabytes.' (2)"
    )
    await wait_for_status(user, scan_id, lambda s: s["complete"])
    assert scan_processes(local_settings.data_dir, scan_id) == []


async def test_delete_before_launch_aborts_the_scan(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    assert (await user.get(f"/scan/{scan_id}/status")).json()["scan_state"] == "PENDING__PRESTARTUP"
    assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
    assert (await user.get(f"/scan/{scan_id}/status")).status == 404  # deleted scans need include_deleted, as elsewhere
    status = (await user.get(f"/scan/{scan_id}/status", query={"include_deleted": "true"})).json()
    assert (status["scan_state"], status["is_terminal"], status["complete"]) == ("ABORTED__PRESTARTUP", True, True)
    assert status["reason"] == "deleted by a user while waiting in the backlog to be launched"
