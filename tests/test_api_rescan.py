"""GET /scan/ID/request and POST /scan/ID/actions/rescan: a scan asked for again, and the two manifests linked."""

from __future__ import annotations

from tests.conftest import scan_body
from tests.http_client import HttpClient


async def test_a_rescan_repeats_the_request_with_overrides_and_links_both_scans(user: HttpClient, modern_event: dict) -> None:
    original = (await user.post("/scan", scan_body(modern_event, docker_tag="v3.1", cluster=[["sub-2", 5], ["local", 2]]))).json()
    asked = (await user.get(f"/scan/{original['scan_id']}/request")).json()
    assert asked == {
        "docker_tag": "v3.1", "cluster": [["sub-2", 5], ["local", 2]], "reco_algo": "millipede_wilks",
        "nsides": {"8": 0, "64": 12, "512": 24}, "real_or_simulated_event": "real", "memory": "8GB",
        "predictive_scanning_threshold": 1.0, "max_reco_time": None, "priority": 0,
    }  # fmt: skip

    response = await user.post(f"/scan/{original['scan_id']}/actions/rescan", {"nsides": {"8": 0, "64": 4}, "priority": 100})
    assert response.status == 200, response
    rescan = response.json()
    assert rescan["scan_id"] != original["scan_id"] and rescan["rescan_of"] == original["scan_id"]
    assert rescan["event_i3live_json_dict"] == modern_event and rescan["status"]["scan_state"] == "PENDING__PRESTARTUP"
    assert (await user.get(f"/scan/{rescan['scan_id']}/request")).json() == {**asked, "nsides": {"8": 0, "64": 4}, "priority": 100}
    replaced = (await user.get(f"/scan/manifest/{original['scan_id']}", query={"include_event": "false"})).json()
    assert replaced["replaced_by"] == rescan["scan_id"] and replaced["rescan_of"] is None

    same_again = (await user.post(f"/scan/{original['scan_id']}/actions/rescan")).json()  # no body: the same request
    assert (await user.get(f"/scan/{same_again['scan_id']}/request")).json() == asked


async def test_bad_rescans_and_requests_are_4xx(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    for body, named in [({"nsides": {"8": 0, "7": 1}}, "'nsides'"), ({"reco_algo": "x"}, "'reco_algo'"),
                        ({"cluster": {"nowhere": 1}}, "'cluster'"), ({"priority": "high"}, "'priority'")]:  # fmt: skip
        response = await user.post(f"/scan/{scan_id}/actions/rescan", body)
        assert response.status == 400 and named in response.json()["error"], (body, response)
    assert (await user.post(f"/scan/{'0' * 32}/actions/rescan")).status == 404
    assert (await user.get(f"/scan/{'0' * 32}/request")).status == 404


async def test_logs_need_a_launched_scan_and_a_known_container(user: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    response = await user.get(f"/scan/{scan_id}/logs")
    assert response.status == 404 and "not launched" in response.json()["error"]  # launching is paused here
    for query, named in [({"container": "web"}, "'container'"), ({"tail": 0}, "'tail'"), ({"tail": 10001}, "'tail'")]:
        response = await user.get(f"/scan/{scan_id}/logs", query=query)
        assert response.status == 400 and named in response.json()["error"], (query, response)
