"""POST /scan, GET/DELETE manifest, GET /scans: the public routes over HTTP on a real database."""

from __future__ import annotations

import asyncio
import json

from rest_tools.server import RestHandler

import skydriver
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient
from tests.scan_api import post_scan

MANIFEST_KEYS = {
    "scan_id", "is_deleted", "event_i3live_json_dict", "scanner_server_args", "tms_args", "env_vars",
    "condor_clusters", "event_metadata", "scan_metadata", "progress", "complete", "docker_tag", "launch", "skydriver_version",
    "status", "rescan_of", "replaced_by",
}  # fmt: skip


async def test_post_scan_returns_the_manifest_with_provenance(user: HttpClient, modern_event: dict) -> None:
    manifest = await post_scan(user, modern_event, docker_tag="v3.1")
    assert set(manifest) == MANIFEST_KEYS
    assert len(manifest["scan_id"]) == 32 and int(manifest["scan_id"], 16) >= 0
    assert manifest["event_i3live_json_dict"] == modern_event
    assert manifest["docker_tag"] == "3.1.4"
    assert manifest["skydriver_version"] == skydriver.__version__
    assert manifest["scanner_server_args"].startswith("python -m skymap_scanner.server --reco-algo millipede_wilks")
    assert "--nsides 8:0 64:12 512:24 --real-event --predictive-scanning-threshold 1.0" in manifest["scanner_server_args"]
    assert manifest["condor_clusters"] == [] and manifest["progress"] is None and manifest["complete"] is False
    assert manifest["launch"] == {"launcher": "none", "status": "waiting", "reason": None, "attempts": 0}
    assert (manifest["status"]["scan_state"], manifest["status"]["is_terminal"]) == ("PENDING__PRESTARTUP", False)


async def test_each_post_is_a_new_scan_and_get_reads_it_back(user: HttpClient, modern_event: dict) -> None:
    first, second = await asyncio.gather(post_scan(user, modern_event), post_scan(user, modern_event))
    assert first["scan_id"] != second["scan_id"]
    for route in (f"/scan/manifest/{first['scan_id']}", f"/scan/{first['scan_id']}/manifest"):
        response = await user.get(route)
        assert response.status == 200
        assert response.json() == first


async def test_event_may_be_sent_as_json_text(user: HttpClient, modern_event: dict) -> None:
    manifest = await post_scan(user, json.dumps(modern_event))
    assert manifest["event_i3live_json_dict"] == modern_event


async def test_manifest_without_event_on_request(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await post_scan(user, modern_event))["scan_id"]
    response = await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false"})
    assert response.status == 200 and response.json()["event_i3live_json_dict"] is None


async def test_cluster_as_list_of_pairs_repeats_a_cluster(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await post_scan(user, modern_event, cluster=[["sub-2", 56], ["sub-2", 1234]]))["scan_id"]
    whole = (await user.get(f"/scan/{scan_id}")).json()
    assert whole["result"] == {}
    assert whole["manifest"]["scan_id"] == scan_id


async def test_find_scans_by_run_and_event(user: HttpClient, modern_event: dict) -> None:
    ids = [(await post_scan(user, modern_event))["scan_id"] for _ in range(2)]
    query = {"run_id": 138632, "event_id": 31747601, "is_real_event": "true"}
    response = await user.get("/scans", query=query)
    assert response.json() == {"event_id": 31747601, "scan_ids": ids}
    # rest_tools clients send GET arguments as a JSON body
    assert (await user.get("/scans", body={**query, "is_real_event": True})).json()["scan_ids"] == ids
    assert (await user.get("/scans", query={**query, "is_real_event": "false"})).json()["scan_ids"] == []

    await user.delete(f"/scan/manifest/{ids[0]}")
    assert (await user.get("/scans", query=query)).json()["scan_ids"] == ids[1:]
    assert (await user.get("/scans", query={**query, "include_deleted": "true"})).json()["scan_ids"] == ids


async def test_delete_is_idempotent_and_hides_the_scan(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await post_scan(user, modern_event))["scan_id"]
    first = await user.delete(f"/scan/manifest/{scan_id}")
    second = await user.delete(f"/scan/manifest/{scan_id}")
    assert first.status == second.status == 200
    assert first.json()["is_deleted"] and second.json()["is_deleted"]
    # never launched: nothing to tear down, so it is complete at once
    assert second.json()["complete"] is True and second.json()["launch"]["status"] == "stopped"
    assert (await user.get(f"/scan/manifest/{scan_id}")).status == 404
    assert (await user.get(f"/scan/manifest/{scan_id}", query={"include_deleted": "true"})).json()["is_deleted"]


async def test_idempotency_key_makes_a_retried_post_return_the_same_scan(user: HttpClient, modern_event: dict) -> None:
    headers = {"Idempotency-Key": "alert-2023-12-02T17:08:24-138632-31747601"}
    body = scan_body(modern_event)
    first, second = await asyncio.gather(
        user.post("/scan", body, headers=headers), user.post("/scan", body, headers=headers)
    )
    assert first.status == second.status == 200
    assert first.json()["scan_id"] == second.json()["scan_id"]
    different = await user.post("/scan", scan_body(modern_event, priority=5), headers=headers)
    assert different.status == 409 and "Idempotency-Key" in different.json()["error"]


async def test_unknown_scan_is_404_and_bad_id_is_400(user: HttpClient) -> None:
    missing = await user.get(f"/scan/manifest/{'0' * 32}")
    assert missing.status == 404 and "0" * 32 in missing.json()["error"]
    bad = await user.get("/scan/manifest/not-a-scan-id")
    assert bad.status == 400 and "scan_id" in bad.json()["error"]


async def test_no_latency_stats_are_kept_per_url_path(driver: SkyDriver) -> None:
    """rest_tools' route stats keep an entry per URL path (one per scan id, never freed) and answer 503 at random
    when requests are slow; SkyDriver turns them off."""
    handler_kwargs = [route[2] for route in driver.rest.routes if issubclass(route[1], RestHandler)]
    assert handler_kwargs and all(kwargs.get("route_stats", "unset") is None for kwargs in handler_kwargs)
