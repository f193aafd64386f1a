"""Bad input gets a 4xx naming the argument and the reason, and nothing is written; auth roles with real tokens."""

from __future__ import annotations

from typing import Any

import pytest

from skydriver.server import SkyDriver
from tests.conftest import scan_body, token
from tests.http_client import HttpClient


@pytest.mark.parametrize(
    ("overrides", "argument", "reason"),
    [
        ({"cluster": {"nowhere": 5}}, "cluster", "known clusters: local, sub-2"),
        ({"cluster": {"sub-2": 0}}, "cluster", "must be positive"),
        ({"cluster": {"sub-2": "5"}}, "cluster", "must be an integer"),
        ({"cluster": [["sub-2", 5, 6]]}, "cluster", "not a [name, number of workers] pair"),
        ({"cluster": {}}, "cluster", "at least one cluster"),
        ({"nsides": {"8": 0, "60": 12}}, "nsides", "power of two"),
        ({"nsides": {"64": 0, "8": 12}}, "nsides", "ascending"),
        ({"nsides": {"8": -1}}, "nsides", "pixel extension must be 0"),
        ({"nsides": {"8": 1.5}}, "nsides", "valid integer"),
        ({"real_or_simulated_event": "maybe"}, "real_or_simulated_event", "must be one of"),
        ({"memory": "lots"}, "memory", "not a positive memory size"),
        ({"memory": "0GB"}, "memory", "not a positive memory size"),
        ({"predictive_scanning_threshold": 0.05}, "predictive_scanning_threshold", "greater than or equal to 0.1"),
        ({"predictive_scanning_threshold": 1.5}, "predictive_scanning_threshold", "less than or equal to 1"),
        ({"max_reco_time": 0}, "max_reco_time", "greater than 0"),
        ({"max_reco_time": "600"}, "max_reco_time", "valid integer"),
        ({"docker_tag": "v9.9"}, "docker_tag", "no Skymap Scanner image matches"),
        ({"docker_tag": ""}, "docker_tag", "at least 1 character"),
        ({"reco_algo": "../etc"}, "reco_algo", "should match pattern"),
        ({"event_i3live_json": "{not json"}, "event_i3live_json", "not valid JSON"),
        ({"event_i3live_json": "[1, 2]"}, "event_i3live_json", "must hold an object"),
        ({"event_i3live_json": {}}, "event_i3live_json", "empty"),
        ({"event_i3live_json": 5}, "event_i3live_json", "valid"),
        ({"colour": "blue"}, "colour", "unknown argument"),
    ],
)
async def test_bad_scan_arguments_are_400_naming_the_argument(
    driver: SkyDriver, user: HttpClient, modern_event: dict, overrides: dict[str, Any], argument: str, reason: str
) -> None:
    response = await user.post("/scan", scan_body(modern_event, **overrides))
    assert response.status == 400, response
    error = response.json()["error"]
    assert f"argument '{argument}'" in error and reason in error, error
    assert await driver.database.manifests.collection.count_documents({}) == 0
    assert await driver.database.backlog.count() == 0


@pytest.mark.parametrize("missing", ["docker_tag", "cluster", "reco_algo", "event_i3live_json", "nsides", "real_or_simulated_event"])
async def test_missing_required_argument(user: HttpClient, modern_event: dict, missing: str) -> None:
    body = scan_body(modern_event)
    del body[missing]
    response = await user.post("/scan", body)
    assert response.status == 400 and f"argument '{missing}': required argument is missing" in response.json()["error"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b'"text"', "must be a JSON object")],
)
async def test_malformed_bodies(user: HttpClient, raw: bytes, reason: str) -> None:
    response = await user.request("POST", "/scan", raw=raw)
    assert response.status == 400 and reason in response.json()["error"]


async def test_oversized_body_is_413(mongo_uri: str, tmp_path: Any, modern_event: dict) -> None:
    from skydriver.server import start
    from tests.conftest import make_settings

    driver = await start(make_settings(mongo_uri, tmp_path, max_body_bytes=100_000))
    try:
        response = await HttpClient(driver.address, token("user")).post("/scan", scan_body(modern_event))
        assert response.status == 413 and "SKYDRIVER_MAX_BODY_BYTES" in response.json()["error"]
    finally:
        await driver.stop()


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ({"event_id": 1, "is_real_event": "true"}, "run_id"),
        ({"run_id": "abc", "event_id": 1, "is_real_event": "true"}, "run_id"),
        ({"run_id": 1, "event_id": 1, "is_real_event": "perhaps"}, "is_real_event"),
        ({"run_id": 1, "event_id": 1, "is_real_event": "true", "extra": 1}, "extra"),
    ],
)
async def test_bad_find_arguments(user: HttpClient, query: dict[str, Any], argument: str) -> None:
    response = await user.get("/scans", query=query)
    assert response.status == 400 and f"argument '{argument}'" in response.json()["error"]


async def test_bad_reports_from_the_scanner(user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    cases = [
        ({"progress": {"summary": "x"}}, "progress"),
        ({"condor_cluster": {"collector": "c", "schedd": "s", "cluster_id": "7", "jobs": 1}}, "condor_cluster"),
        ({"event_metadata": {"run_id": 1}}, "event_metadata"),
        ({"complete": True}, "complete"),
    ]
    for body, argument in cases:
        response = await system.patch(f"/scan/manifest/{scan_id}", body)
        assert response.status == 400 and f"argument '{argument}'" in response.json()["error"], response
    result = {"nside-8": {"columns": ["index", "llh", "E_in", "E_tot"], "metadata": {"nside": 8}, "data": [[999, 1.0, 1.0, 1.0]]}}
    response = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": result, "is_final": True})
    assert response.status == 400 and "argument 'skyscan_result'" in response.json()["error"]
    response = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": {}, "is_final": "yes"})
    assert response.status == 400 and "argument 'is_final'" in response.json()["error"]
    assert (await user.get(f"/scan/result/{scan_id}")).json() == {}
    missing = await system.put(f"/scan/result/{'f' * 32}", {"skyscan_result": {}, "is_final": True})
    assert missing.status == 404


async def test_roles(driver: SkyDriver, modern_event: dict) -> None:
    user, system = HttpClient(driver.address, token("user")), HttpClient(driver.address, token("system"))
    outsider, anonymous = HttpClient(driver.address, token("outsider")), HttpClient(driver.address)
    forged = HttpClient(driver.address, token("user")[:-4] + "AAAA")
    body = scan_body(modern_event)
    for client in (outsider, anonymous, forged, system):
        assert (await client.post("/scan", body)).status == 403
    scan_id = (await user.post("/scan", body)).json()["scan_id"]
    assert (await system.get(f"/scan/manifest/{scan_id}")).status == 200
    assert (await user.patch(f"/scan/manifest/{scan_id}", {"scan_metadata": {}})).status == 403
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"scan_metadata": {}})).status == 200
    assert (await user.put(f"/scan/result/{scan_id}", {"skyscan_result": {}, "is_final": False})).status == 403
    assert (await system.delete(f"/scan/manifest/{scan_id}")).status == 403
    assert (await outsider.get(f"/scan/manifest/{scan_id}")).status == 403
    assert (await anonymous.get("/scans", query={"run_id": 1, "event_id": 1, "is_real_event": "true"})).status == 403


async def test_unknown_routes_and_methods_answer_json(user: HttpClient) -> None:
    missing = await user.get("/no/such/route")
    assert missing.status == 404 and missing.json()["error"] == "no such route: GET /no/such/route"
    wrong_method = await user.post("/scans", {})
    assert wrong_method.status == 405 and wrong_method.json()["code"] == 405
