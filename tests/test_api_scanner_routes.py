"""PATCH manifest and PUT result: what the scanner and the starters send, with real results, over HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import math
from typing import Any

import pytest
from astropy.io import fits
from skyreader import SkyScanResult

from examples.sample_data import RESULTS_DIR as RESULTS
from skydriver.models import ResultSummary
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient

PROGRESS = {
    "summary": "Scanned 400 of 3590 pixels",
    "epilogue": "predicted end: 2023-12-02 18:40:00",
    "tallies": {"nside-8": {"done": 400, "total": 768}},
    "processing_stats": {
        "start": {"scan": "2023-12-02 17:20:00"},
        "runtime": {"total": "0:10:00"},
        "rate": {"per_pixel": "1.5 s"},
        "end": "",
        "finished": False,
        "predictions": {"end": "2023-12-02 18:40:00"},
    },
    "predictive_scanning_threshold": 1.0,
    "last_updated": "2023-12-02 17:30:00",
}
EVENT_METADATA = {"run_id": 138632, "event_id": 31747601, "event_type": "neutrino", "mjd": 60280.71, "is_real_event": True}


@pytest.fixture
async def scan_id(user: HttpClient, modern_event: dict) -> str:
    response = await user.post("/scan", scan_body(modern_event))
    assert response.status == 200, response
    return response.json()["scan_id"]


async def test_progress_and_metadata_patches_show_in_the_manifest(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    response = await system.patch(f"/scan/manifest/{scan_id}", {"progress": PROGRESS, "event_metadata": EVENT_METADATA})
    assert response.status == 200, response
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["progress"] == PROGRESS
    assert manifest["event_metadata"] == EVENT_METADATA
    response = await system.patch(f"/scan/{scan_id}/manifest", {"scan_metadata": {"reco_algo": "millipede_wilks"}})
    assert response.json()["scan_metadata"] == {"reco_algo": "millipede_wilks"}
    assert response.json()["progress"] == PROGRESS


async def test_concurrent_cluster_reports_lose_nothing(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    clusters = [{"collector": "c", "schedd": f"s{i}", "cluster_id": 100 + i, "jobs": 10 * i + 1} for i in range(12)]
    responses = await asyncio.gather(
        *(system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": c}) for c in clusters),
        *(system.patch(f"/scan/manifest/{scan_id}", {"progress": {**PROGRESS, "summary": f"p{i}"}}) for i in range(12)),
    )
    assert all(r.status == 200 for r in responses), [r for r in responses if r.status != 200]
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert sorted(manifest["condor_clusters"], key=lambda c: c["cluster_id"]) == clusters
    assert manifest["progress"]["summary"].startswith("p")


async def test_cluster_state_reports_update_the_same_entry(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    cluster = {"collector": "glidein-cm.icecube.wisc.edu", "schedd": "sub-2.icecube.wisc.edu", "cluster_id": 7, "jobs": 5}
    await asyncio.gather(*(system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": cluster}) for _ in range(5)))
    states = {"idle": 1, "running": 3, "held": 0, "completed": 1, "removed": 0}
    response = await system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": {**cluster, "states": states}})
    assert response.status == 200, response
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["condor_clusters"] == [{**cluster, "states": states}]

    held = {"Job has gone over memory limit of 8192 megabytes.": 2, "Transfer input files failure": 1}
    report = {**cluster, "states": {**states, "held": 3, "running": 0}, "hold_reasons": held}
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": report})).status == 200
    assert (await user.get(f"/scan/manifest/{scan_id}")).json()["condor_clusters"] == [report]
    released = {**cluster, "states": states, "hold_reasons": {}}  # a report with no held job clears the reasons
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"condor_cluster": released})).status == 200
    assert (await user.get(f"/scan/manifest/{scan_id}")).json()["condor_clusters"] == [released]


def load_result(name: str) -> tuple[str, dict[str, Any]]:
    text = (RESULTS / name).read_text()
    return text, json.loads(text)


@pytest.mark.parametrize("name", sorted(p.name for p in RESULTS.glob("*.json")))
async def test_real_results_round_trip_unchanged(user: HttpClient, system: HttpClient, scan_id: str, name: str) -> None:
    text, result = load_result(name)
    raw = b'{"skyscan_result":' + text.encode() + b',"is_final":false}'  # as the scanner sends it: bare NaN tokens
    response = await system.put(f"/scan/result/{scan_id}", raw=raw)
    assert response.status == 200, response
    for route in (f"/scan/result/{scan_id}", f"/scan/{scan_id}/result"):
        got = (await user.get(route)).json()
        assert set(got) == {"scan_id", "is_deleted", "skyscan_result", "is_final"}
        assert json.dumps(got["skyscan_result"], sort_keys=True) == json.dumps(result, sort_keys=True)
        assert got["is_final"] is False
    returned = (await user.get(f"/scan/result/{scan_id}")).json()["skyscan_result"]
    first_row = returned[next(iter(returned))]["data"][0]
    assert isinstance(first_row[0], int)  # pixel index stays an integer
    if "splinempe" in name:
        assert any(isinstance(v, float) and math.isnan(v) for v in first_row)
    SkyScanResult.deserialize(returned)


async def test_final_result_is_never_replaced_by_a_later_partial(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    _, partial = load_result("millipede_wilks__run00136766.evt000007637140.neutrino_1.json")
    assert (await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})).status == 200
    assert (await system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True})).status == 200
    late = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})
    assert late.status == 200 and late.json()["is_final"] is True
    got = (await user.get(f"/scan/result/{scan_id}")).json()
    assert got["is_final"] is True and got["skyscan_result"] == final
    manifest = (await user.get(f"/scan/manifest/{scan_id}")).json()
    assert manifest["complete"] is False  # teardown is scheduled, done by the teardown loop


async def test_concurrent_partials_and_final_end_final(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    _, partial = load_result("millipede_wilks__run00136766.evt000007637140.neutrino_1.json")
    puts = [system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False}) for _ in range(8)]
    puts.insert(4, system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True}))
    assert all(r.status == 200 for r in await asyncio.gather(*puts))
    got = (await user.get(f"/scan/result/{scan_id}")).json()
    assert got["is_final"] is True and got["skyscan_result"] == final


async def test_result_reads_as_empty_until_written_and_delete_hides_it(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    assert (await user.get(f"/scan/result/{scan_id}")).json() == {}
    _, partial = load_result("millipede_wilks__run00136766.evt000007637140.neutrino_1.json")
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})
    deleted = await user.delete(f"/scan/result/{scan_id}")
    assert deleted.status == 200 and deleted.json()["is_deleted"] is True
    assert (await user.delete(f"/scan/result/{scan_id}")).status == 200
    assert (await user.get(f"/scan/result/{scan_id}")).status == 404
    assert (await user.get(f"/scan/result/{scan_id}", query={"include_deleted": "true"})).json()["skyscan_result"] == partial
    # the scanner goes on reporting: stored, and the result stays deleted
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    stored = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True})
    assert stored.status == 200 and stored.json()["is_deleted"] is True
    assert (await user.get(f"/scan/result/{scan_id}")).status == 404
    assert (await user.get(f"/scan/result/{scan_id}", query={"include_deleted": "true"})).json()["skyscan_result"] == final


async def test_deleting_the_scan_hides_its_result_whichever_came_first(user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    _, partial = load_result("millipede_wilks__run00136766.evt000007637140.neutrino_1.json")
    for result_first in (True, False):
        scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
        if result_first:
            await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})
        assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
        if not result_first:  # the scanner's first result arrives after the DELETE
            assert (await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})).status == 200
        assert (await user.get(f"/scan/result/{scan_id}")).status == 404
        shown = await user.get(f"/scan/result/{scan_id}", query={"include_deleted": "true"})
        assert shown.json()["skyscan_result"] == partial and shown.json()["is_deleted"] is False  # the result itself was not deleted


async def test_result_reads_fall_back_to_the_manifest_without_the_mirror(driver: SkyDriver, user: HttpClient, system: HttpClient, scan_id: str) -> None:
    """Result documents of earlier versions, and a final result whose teardown was never scheduled (SkyDriver
    stopped in between): GET reads the manifest, hides a deleted scan and schedules the teardown."""
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True})
    results, manifests = driver.database.results.collection, driver.database.manifests.collection
    await results.update_one({"scan_id": scan_id}, {"$unset": {"teardown_handled": 1}})
    await manifests.update_one({"scan_id": scan_id}, {"$set": {"teardown_at": None}})
    assert (await user.get(f"/scan/result/{scan_id}")).json()["is_final"] is True
    assert (await manifests.find_one({"scan_id": scan_id}))["teardown_at"] is not None  # scheduled by the GET
    assert (await results.find_one({"scan_id": scan_id}))["teardown_handled"] is True

    await manifests.update_one({"scan_id": scan_id}, {"$set": {"is_deleted": True}})  # deleted before the mirror existed
    await results.update_one({"scan_id": scan_id}, {"$unset": {"scan_deleted": 1}})
    assert (await user.get(f"/scan/result/{scan_id}")).status == 404


async def test_summary_and_skymap_png(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    partial = {"nside-8": final["nside-8"]}
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})
    assert (await user.get(f"/scan/{scan_id}/result/summary")).json()["pixel_counts"] == {"nside-8": 768}
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True})
    response = await user.get(f"/scan/{scan_id}/result/summary")
    assert response.headers["Content-Type"] == "application/json"
    summary = response.json()
    ResultSummary.model_validate(summary)  # the response model the route declares (and schemas/ documents)
    assert summary["pixel_counts"] == {"nside-8": 768, "nside-64": 896, "nside-512": 1926}  # the new version, not the cached one
    assert 0 < summary["contour_areas_deg2"]["50%"] < summary["contour_areas_deg2"]["90%"]
    assert -90 <= summary["best_fit"]["dec_deg"] <= 90
    for zoom in ("false", "true"):
        png = await user.get(f"/scan/{scan_id}/skymap.png", query={"zoom": zoom})
        assert png.status == 200 and png.headers["Content-Type"] == "image/png"
        assert png.body.startswith(b"\x89PNG\r\n\x1a\n") and len(png.body) > 10_000


async def test_science_routes_before_the_first_result_say_so(user: HttpClient, scan_id: str) -> None:
    """409, not 404: the scan exists, its result has not arrived; 404 stays for unknown and deleted scans."""
    for path in ("result/summary", "skymap.png", "skymap.fits"):
        waiting = await user.get(f"/scan/{scan_id}/{path}")
        assert waiting.status == 409 and waiting.headers["Content-Type"] == "application/json"
        assert "has no result yet" in waiting.json()["error"]
        assert (await user.get(f"/scan/{'0' * 32}/{path}")).status == 404
    await user.delete(f"/scan/manifest/{scan_id}")
    for path in ("result/summary", "skymap.png", "skymap.fits"):
        assert (await user.get(f"/scan/{scan_id}/{path}")).status == 404


async def test_science_routes_of_a_deleted_result_are_gone(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    """A deleted result is a 404 (not a 409: it came, and was deleted), unless include_deleted asks for it."""
    _, partial = load_result("millipede_wilks__run00136766.evt000007637140.neutrino_1.json")
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": partial, "is_final": False})
    assert (await user.delete(f"/scan/result/{scan_id}")).status == 200
    for path in ("result/summary", "skymap.png", "skymap.fits"):
        gone = await user.get(f"/scan/{scan_id}/{path}")
        assert gone.status == 404 and gone.headers["Content-Type"] == "application/json", (path, gone)
        assert (await user.get(f"/scan/{scan_id}/{path}", query={"include_deleted": "true"})).status == 200


async def test_skymap_fits(user: HttpClient, system: HttpClient, scan_id: str) -> None:
    """Route-level: content type, file name, provenance from the scan's manifest, and the flat argument checked."""
    _, final = load_result("run00136766.evt000007637140.nsides_8_64_512.json")
    await system.put(f"/scan/result/{scan_id}", {"skyscan_result": final, "is_final": True})
    multi_order = await user.get(f"/scan/{scan_id}/skymap.fits")
    assert multi_order.status == 200 and multi_order.headers["Content-Type"] == "application/fits"
    assert f'filename="{scan_id}.multiorder.fits"' in multi_order.headers["Content-Disposition"]
    with fits.open(io.BytesIO(multi_order.body)) as hdus:
        header = hdus[1].header
        assert (header["ORDERING"], header["SCAN_ID"], header["RECOALGO"]) == ("NUNIQ", scan_id, "millipede_wilks")
        assert header["SCANNER"] == (await user.get(f"/scan/{scan_id}/manifest")).json()["docker_tag"]
        assert len(hdus[1].data) > 3590 - 768  # coarse pixels under finer ones are left out
    flat = await user.get(f"/scan/{scan_id}/skymap.fits", query={"flat": "8"})
    assert flat.status == 200 and f'filename="{scan_id}.nside_8.fits"' in flat.headers["Content-Disposition"]
    with fits.open(io.BytesIO(flat.body)) as hdus:
        assert (hdus[1].header["ORDERING"], hdus[1].header["NSIDE"], len(hdus[1].data)) == ("RING", 8, 768)
    for bad in ("3", "1024", "0", "x"):
        refused = await user.get(f"/scan/{scan_id}/skymap.fits", query={"flat": bad})
        assert refused.status == 400 and "argument 'flat'" in refused.json()["error"]
