"""Bad input gets a 4xx naming the argument and the reason, and nothing is written; auth roles with real tokens."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from skydriver.server import SkyDriver
from tests.conftest import assert_refused_at_post, scan_body, token
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
    await assert_refused_at_post(driver, await user.post("/scan", scan_body(modern_event, **overrides)), argument, reason)


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


# ---------------------------------------------------------------------------------------------------------------------
# every input that once gave a 500 (issue 10): now a 4xx naming the argument

BIG = 2**63  # one past the largest integer MongoDB holds


DEEP = "<deep>"  # stands for a deeply nested object in a body (too deep for the test's own JSON encoder)


def nested_text(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def body_text(body: dict[str, Any], depth: int = 0) -> bytes:
    """``body`` as JSON, each DEEP string replaced by an object ``depth`` levels deep."""
    return json.dumps(body).replace(json.dumps(DEEP), nested_text(depth)).encode()


@pytest.mark.parametrize(
    ("overrides", "argument", "reason"),
    [
        ({"priority": BIG}, "priority", "64-bit range"),
        ({"priority": -BIG - 1}, "priority", "64-bit range"),
        ({"cluster": {"sub-2": BIG}}, "cluster", "64-bit range"),
        ({"cluster": [["sub-2", 2**64]]}, "cluster", "64-bit range"),
        ({"nsides": {"8": BIG}}, "nsides", "64-bit range"),
        ({"max_reco_time": 10**30}, "max_reco_time", "64-bit range"),
        ({"cluster": [["sub-2", 1]] * 65}, "cluster", "at most 64"),
        ({"cluster": [[DEEP, 1]]}, "cluster", "not a [name, number of workers] pair"),
        ({"event_i3live_json": DEEP}, "event_i3live_json", "nested more than 64 levels"),
        ({"event_i3live_json": nested_text(900)}, "event_i3live_json", "nested more than 64 levels"),
        ({"event_i3live_json": nested_text(5000)}, "event_i3live_json", "nested too deeply"),
        ({"event_i3live_json": '{"run": 18446744073709551616}'}, "event_i3live_json", "64-bit range"),
        ({"event_i3live_json": {"value": {"data": {"run_id": BIG, "event_id": 1}}}}, "event_i3live_json", "64-bit range"),
    ],
)
async def test_values_mongodb_cannot_hold_are_400(
    driver: SkyDriver, user: HttpClient, modern_event: dict, overrides: dict[str, Any], argument: str, reason: str
) -> None:
    await assert_refused_at_post(driver, await user.request("POST", "/scan", raw=body_text(scan_body(modern_event, **overrides), 900)), argument, reason)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"docker_tag": "\xff\xfe"}', "not valid JSON"),
        (b'{"event_i3live_json": {"x": "\\ud800"}}', "lone UTF-16 surrogate"),
        (b'{"event_i3live_json": {"x": "\\udc00", "y": NaN}}', "lone UTF-16 surrogate"),
    ],
)
async def test_undecodable_bodies_are_400(driver: SkyDriver, user: HttpClient, raw: bytes, reason: str) -> None:
    response = await user.request("POST", "/scan", raw=raw)
    assert response.status == 400 and reason in response.json()["error"], response


async def test_lone_surrogate_in_an_event_given_as_text_is_400(user: HttpClient, modern_event: dict) -> None:
    body = json.dumps(scan_body(modern_event, event_i3live_json='{"x": "\\ud800"}'))
    response = await user.request("POST", "/scan", raw=body.encode())
    assert response.status == 400 and "lone UTF-16 surrogate" in response.json()["error"], response


@pytest.mark.parametrize("name", ["run_id", "event_id"])
async def test_find_arguments_beyond_64_bits_are_400(user: HttpClient, name: str) -> None:
    query = {"run_id": 1, "event_id": 1, "is_real_event": "true", name: str(BIG)}
    response = await user.get("/scans", query=query)
    assert response.status == 400 and f"argument '{name}'" in response.json()["error"], response
    as_body = await user.get("/scans", body={**query, name: BIG})  # rest_tools clients send arguments as a body
    assert as_body.status == 400 and f"argument '{name}'" in as_body.json()["error"], as_body


CLUSTER = {"collector": "c", "schedd": "s", "cluster_id": 1, "jobs": 1}


@pytest.mark.parametrize(
    ("patch", "argument", "reason"),
    [
        ({"scan_metadata": {"n": BIG}}, "scan_metadata", "64-bit range"),
        ({"scan_metadata": DEEP}, "scan_metadata", "nested more than 64 levels"),
        ({"scan_metadata": {"a\u0000b": 1}}, "scan_metadata", "NUL character"),
        ({"scan_metadata": {"x": {"$set": 1}}}, "scan_metadata", "starts with '$'"),
        ({"scan_metadata": {"blob": "x" * (2 * 1024 * 1024)}}, "scan_metadata", "the limit is 1048576"),
        ({"progress": {"tallies": {"a\u0000": 1}}}, "progress", "NUL character"),
        ({"progress": {"tallies": {"n": -BIG - 1}}}, "progress", "64-bit range"),
        ({"event_metadata": {"run_id": 1, "event_id": 1, "event_type": "x", "mjd": 1.0, "is_real_event": True, "$x": 1}},
         "event_metadata", "starts with '$'"),  # fmt: skip
        ({"condor_cluster": {"collector": "c", "schedd": "s", "cluster_id": 1, "jobs": BIG}}, "condor_cluster", "64-bit range"),
        ({"condor_cluster": {"collector": "c" * 5000, "schedd": "s", "cluster_id": 1, "jobs": 1}}, "condor_cluster", "at most 1024"),
        ({"condor_cluster": {**CLUSTER, "hold_reasons": {"r" * 301: 1}}}, "condor_cluster", "hold_reasons.rrr"),
        ({"condor_cluster": {**CLUSTER, "hold_reasons": {"r" * 301: 1}}}, "condor_cluster", "at most 300 characters"),
        ({"condor_cluster": {**CLUSTER, "hold_reasons": {f"r{i}": 1 for i in range(9)}}}, "condor_cluster", "at most 8 items"),
        ({"condor_cluster": {**CLUSTER, "hold_reasons": {"$where": 1}}}, "condor_cluster", "hold_reasons: key '$where' starts with '$'"),
        ({"condor_cluster": {**CLUSTER, "hold_reasons": {"memory": -1}}}, "condor_cluster", "hold_reasons.memory: Input should be greater"),
    ],
)
async def test_reports_mongodb_cannot_hold_are_400(
    user: HttpClient, system: HttpClient, modern_event: dict, patch: dict[str, Any], argument: str, reason: str
) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    response = await system.request("PATCH", f"/scan/manifest/{scan_id}", raw=body_text(patch, 1000))
    assert response.status == 400, response
    error = response.json()["error"]
    assert f"argument '{argument}'" in error and reason in error, error
    manifest = (await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false"})).json()
    assert manifest["scan_metadata"] is None and manifest["progress"] is None and manifest["condor_clusters"] == []


async def test_dotted_keys_are_stored_as_sent(user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    """The Skymap Scanner's progress tallies have "est. scan percent": dots in free-form keys are kept."""
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    metadata = {"a.b": {"c.d": [1, {"e.f": "g"}]}}
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"scan_metadata": metadata})).status == 200
    assert (await user.get(f"/scan/manifest/{scan_id}")).json()["scan_metadata"] == metadata


async def test_result_integers_beyond_64_bits_are_400_not_floats(user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = {"nside-8": {"columns": ["index", "llh", "E_in", "E_tot"], "data": [[1, 1.5, 2**64, 3.0]],
                          "metadata": {"nside": 8, "run_id": 1, "event_id": 2, "mjd": 1.0, "event_type": "x"}}}  # fmt: skip
    response = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": result, "is_final": False})
    assert response.status == 400 and "argument 'skyscan_result'" in response.json()["error"], response
    deep = {"nside-8": {**result["nside-8"], "data": [], "metadata": {**result["nside-8"]["metadata"], "x": DEEP}}}
    response = await system.request("PUT", f"/scan/result/{scan_id}", raw=body_text({"skyscan_result": deep, "is_final": False}, 300))
    assert response.status == 400 and "nested more than 64 levels" in response.json()["error"], response
    assert (await user.get(f"/scan/result/{scan_id}")).json() == {}


async def test_idempotency_compares_the_parsed_request(driver: SkyDriver, user: HttpClient, modern_event: dict) -> None:
    body = scan_body(modern_event, priority=0)
    headers = {"Idempotency-Key": "alert-42"}
    first = await user.request("POST", "/scan", raw=json.dumps(body).encode(), headers=headers)
    reordered = dict(reversed(list(scan_body(modern_event, event_i3live_json=json.dumps(modern_event)).items())))
    again = await user.request("POST", "/scan", raw=json.dumps(reordered, indent=3).encode(), headers=headers)
    assert first.status == again.status == 200, again
    assert again.json()["scan_id"] == first.json()["scan_id"]
    other = await user.request("POST", "/scan", raw=json.dumps({**body, "priority": 1}).encode(), headers=headers)
    assert other.status == 409, other
    assert await driver.database.manifests.collection.count_documents({}) == 1


# ---------------------------------------------------------------------------------------------------------------------
# the HTTP layer: a request is refused from its headers, before its body is read


async def raw_exchange(driver: SkyDriver, head: str, body: bytes = b"", read_timeout: float = 30) -> tuple[int, dict, bytes]:
    """Send a request head (and some body) over a plain socket; read the response: status, headers, body."""
    host, port = driver.address.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()
    head_bytes, _, payload = response.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, payload


def request_head(method: str, path: str, headers: dict[str, str]) -> str:
    return f"{method} {path} HTTP/1.1\r\nHost: test\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"


@pytest.mark.parametrize("auth", [None, "Bearer not-a-token", f"Bearer {token('system')}"])
async def test_a_body_without_the_role_is_never_read(driver: SkyDriver, auth: str | None) -> None:
    """403 answered from the headers while the client has sent none of its 50 MB (the server closes the connection)."""
    headers = {"Content-Type": "application/json", "Content-Length": str(50 * 1024 * 1024), "Connection": "close"}
    if auth:
        headers["Authorization"] = auth
    status, _, payload = await raw_exchange(driver, request_head("POST", "/scan", headers))
    assert status == 403 and json.loads(payload)["code"] == 403


async def test_chunked_upload_over_the_limit_is_a_json_413(mongo_uri: str, tmp_path: Any) -> None:
    from skydriver.server import start
    from tests.conftest import make_settings

    driver = await start(make_settings(mongo_uri, tmp_path, max_body_bytes=100_000))
    try:
        headers = {"Authorization": f"Bearer {token('user')}", "Transfer-Encoding": "chunked"}
        chunk = b"x" * 30_000
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4))  # 120 kB; the end is never sent
        status, _, payload = await raw_exchange(driver, request_head("POST", "/scan", headers), body)
        assert status == 413 and "SKYDRIVER_MAX_BODY_BYTES" in json.loads(payload)["error"]
    finally:
        await driver.stop()


async def test_overlong_url_and_headers_get_414_and_431(driver: SkyDriver, user: HttpClient) -> None:
    long_path = await user.get("/scan/" + "a" * 100_000)
    assert long_path.status == 414 and long_path.json()["code"] == 414
    big_headers = await user.get("/scans", headers={f"X-Filler-{i}": "y" * 1000 for i in range(100)})
    assert big_headers.status == 431 and big_headers.json()["code"] == 431


async def test_large_uploads_per_role_are_limited(mongo_uri: str, tmp_path: Any, modern_event: dict) -> None:
    """With one slot, a second large body from the same role waits its turn (503 + Retry-After); small ones do not."""
    from skydriver.server import start
    from tests.conftest import make_settings

    driver = await start(make_settings(mongo_uri, tmp_path, large_uploads_per_role=1))
    try:
        host, port = driver.address.removeprefix("http://").split(":")
        big = json.dumps(scan_body(modern_event, reco_algo="x" * 2_000_000)).encode()
        headers = {"Authorization": f"Bearer {token('user')}", "Content-Length": str(len(big)), "Connection": "close"}
        head = request_head("POST", "/scan", headers)
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(head.encode() + big[:1000])  # takes the slot and keeps it: the body is unfinished
        await writer.drain()
        while (refused := await raw_exchange(driver, head))[0] != 503:
            await asyncio.sleep(0.05)  # the first request's headers had not arrived yet
        status, refused_headers, payload = refused
        assert refused_headers["Retry-After"] and "SKYDRIVER_LARGE_UPLOADS_PER_ROLE" in json.loads(payload)["error"]
        user = HttpClient(driver.address, token("user"))
        assert (await user.post("/scan", scan_body(modern_event))).status == 200  # small bodies take no slot
        writer.write(big[1000:])
        await writer.drain()
        assert b" 400 " in await reader.readline()  # the first one, finished, is answered (its reco_algo is too long)
        writer.close()
        second = await user.post("/scan", body=None, raw=big)
        assert second.status == 400, second  # the slot was given back
    finally:
        await driver.stop()


async def test_idle_connections_are_closed(mongo_uri: str, tmp_path: Any) -> None:
    from skydriver.server import start
    from tests.conftest import make_settings

    driver = await start(make_settings(mongo_uri, tmp_path, idle_timeout=1.0))
    try:
        host, port = driver.address.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /scans HTTP/1.1\r\nHost: t")  # a slow client that never finishes its headers
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 30) == b""  # closed by the server
        writer.close()
    finally:
        await driver.stop()


async def test_cluster_reports_per_scan_are_capped(
    user: HttpClient, system: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest must stay one document: past the cap a new cluster is a 400, known ones still update."""
    monkeypatch.setattr("skydriver.scans.MAX_CONDOR_CLUSTERS", 3)
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]

    def report(cluster_id: int, jobs: int) -> dict[str, Any]:
        return {"condor_cluster": {"collector": "c", "schedd": "s", "cluster_id": cluster_id, "jobs": jobs}}

    for cluster_id in range(3):
        assert (await system.patch(f"/scan/manifest/{scan_id}", report(cluster_id, 10))).status == 200
    refused = await system.patch(f"/scan/manifest/{scan_id}", report(3, 10))
    assert refused.status == 400 and "argument 'condor_cluster': the scan already holds 3 clusters" in refused.json()["error"]
    updated = await system.patch(f"/scan/manifest/{scan_id}", report(0, 99))
    assert updated.status == 200 and [c["jobs"] for c in updated.json()["condor_clusters"]] == [99, 10, 10]
