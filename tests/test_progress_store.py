"""Progress reports live in their own collection: a report does not rewrite the manifest, and every reader of scans
(GET manifest, status, list, progress streams, reconcile, metrics) still sees the latest one; manifests of earlier versions,
which hold their progress themselves, read as before."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from skydriver.database.manifests import now
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient

EVENT_METADATA = {"run_id": 138632, "event_id": 31747601, "event_type": "neutrino", "mjd": 60280.71, "is_real_event": True}
SCAN_METADATA = {"scan_id": "x", "nside_progression": [[8, 0], [64, 12]], "position_variations": 1}


def report(done: int) -> dict[str, Any]:
    """A Skymap Scanner progress report with ``done`` pixels of 3590."""
    return {
        "summary": f"{done} pixels done",
        "epilogue": "",
        "tallies": {"est. scan percent": f"{done}/3590 ({done / 3590:.4f})"},
        "processing_stats": {"rate": {"per_pixel": "1.5 s"}, "finished": False, "predictions": {"end": "soon"}},
        "predictive_scanning_threshold": 1.0,
        "last_updated": f"2026-11-28 10:{done % 60:02d}:00",
    }


def as_the_scanner_sends(done: int) -> dict[str, Any]:
    """Every progress PATCH of the Skymap Scanner repeats its event and scan metadata."""
    return {"progress": report(done), "event_metadata": EVENT_METADATA, "scan_metadata": SCAN_METADATA}


@pytest.fixture
async def scan_id(user: HttpClient, modern_event: dict) -> str:
    response = await user.post("/scan", scan_body(modern_event))
    assert response.status == 200, response
    return response.json()["scan_id"]


async def stored_manifest(driver: SkyDriver, scan_id: str) -> dict[str, Any]:
    doc = await driver.database.db.manifests.find_one({"scan_id": scan_id})
    assert doc is not None
    return doc


async def test_a_progress_report_does_not_rewrite_the_manifest(driver: SkyDriver, system: HttpClient, scan_id: str) -> None:
    first = await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(10))
    assert first.status == 200, first
    before = await stored_manifest(driver, scan_id)
    assert before["times"]["first_progress"] is not None  # the first report's time, written once

    later = await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(20))
    assert later.status == 200, later
    assert await stored_manifest(driver, scan_id) == before  # not one field rewritten
    answer = later.json()
    assert answer["progress"] == report(20)
    assert answer["status"]["pixels_done"] == 20
    timestamps = answer["status"]["timestamps"]
    assert timestamps["first_progress"] == first.json()["status"]["timestamps"]["first_progress"]
    assert timestamps["last_progress"] > timestamps["first_progress"]


async def test_changed_metadata_in_a_report_is_still_written_to_the_manifest(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(10))
    changed = {**as_the_scanner_sends(11), "scan_metadata": {**SCAN_METADATA, "position_variations": 3}}
    assert (await system.patch(f"/scan/{scan_id}/manifest", changed)).json()["scan_metadata"]["position_variations"] == 3
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["scan_metadata"]["position_variations"] == 3 and manifest["progress"] == report(11)


async def test_status_list_stream_reconcile_and_metrics_see_the_latest_report(driver: SkyDriver, user: HttpClient, system: HttpClient, scan_id: str) -> None:
    for done in (5, 42):
        await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(done))
    assert (await user.get(f"/scan/{scan_id}/status")).json()["pixels_done"] == 42
    listed = (await user.get("/scans/list")).json()["scans"]
    assert [entry["status"]["pixels_done"] for entry in listed if entry["scan_id"] == scan_id] == [42]
    snapshot = await driver.service.watch_snapshot(scan_id, include_deleted=False)
    assert snapshot.pixels_done == 42 and snapshot.progress_updated == report(42)["last_updated"]

    # reconcile judges stalls by the last report's time, read for every running scan in one query
    manifests = driver.database.manifests
    await driver.database.db.manifests.update_one({"scan_id": scan_id}, {"$set": {"launch.status": "launched"}})
    [running] = [scan for scan in await manifests.unfinished() if scan.scan_id == scan_id]
    stored = await driver.database.db.progress.find_one({"_id": scan_id})
    assert running.times.last_progress == stored["last_progress"]
    assert running.times.first_progress is not None and running.times.first_progress < running.times.last_progress
    [counted] = [scan for scan in await manifests.not_ended() if scan.scan_id == scan_id]  # the metrics' scan states
    assert counted.progress == report(42) and counted.times.last_progress == stored["last_progress"]


async def test_a_manifest_holding_its_progress_reads_as_before_and_its_next_report_wins(
    driver: SkyDriver, user: HttpClient, system: HttpClient, scan_id: str
) -> None:
    # a manifest written by an earlier version: the report and both timestamps in the manifest itself
    earlier = now() - dt.timedelta(minutes=5)
    await driver.database.db.manifests.update_one(
        {"scan_id": scan_id}, {"$set": {"progress": report(7), "times.first_progress": earlier, "times.last_progress": earlier}}
    )
    assert await driver.database.db.progress.find_one({"_id": scan_id}) is None
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["progress"] == report(7)
    assert manifest["status"]["timestamps"]["last_progress"] == earlier.isoformat()
    assert (await user.get(f"/scan/{scan_id}/status")).json()["pixels_done"] == 7
    assert (await driver.database.manifests.watched_fields([scan_id]))[0].progress["tallies"] == report(7)["tallies"]

    await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(8))
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["progress"] == report(8)
    timestamps = manifest["status"]["timestamps"]
    assert timestamps["first_progress"] == earlier.isoformat() and timestamps["last_progress"] > earlier.isoformat()


async def test_a_report_for_an_unknown_scan_is_refused_and_leaves_nothing(driver: SkyDriver, system: HttpClient) -> None:
    unknown = "0" * 32
    response = await system.patch(f"/scan/{unknown}/manifest", as_the_scanner_sends(1))
    assert response.status == 404, response
    assert await driver.database.db.progress.find_one({"_id": unknown}) is None


async def test_a_deleted_scan_keeps_its_progress_as_long_as_its_manifest(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    await system.patch(f"/scan/{scan_id}/manifest", as_the_scanner_sends(3))
    assert (await user.delete(f"/scan/{scan_id}/manifest")).status == 200
    assert (await user.get(f"/scan/{scan_id}/manifest")).status == 404
    deleted = (await user.get(f"/scan/{scan_id}/manifest", query={"include_deleted": "true"})).json()
    assert deleted["progress"] == report(3)
