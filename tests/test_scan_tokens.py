"""Scan tokens: the `system` token SkyDriver mints for one scan's processes reaches that scan only, while operators'
unscoped `system` tokens keep reaching every scan; forged, expired or scan-less scan tokens are refused."""

from __future__ import annotations

import dataclasses
import json
import time

import jwt
from rest_tools.utils.auth import Auth

from skydriver.auth import SCAN_CLAIM, SCAN_TOKEN_ISSUER, scan_token
from skydriver.config import Settings, secret_variables
from skydriver.server import SkyDriver, start
from tests.conftest import AUTH_SECRET, scan_body, token
from tests.http_client import HttpClient
from tests.test_api_bad_input import raw_exchange, request_head

PROGRESS = {"scan_metadata": {"reported": "by its scanner"}}
RESULT = {"skyscan_result": {}, "is_final": False}


async def two_scans(driver: SkyDriver, modern_event: dict) -> tuple[str, str]:
    user = HttpClient(driver.address, token("user"))
    first, second = [(await user.post("/scan", scan_body(modern_event))).json()["scan_id"] for _ in range(2)]
    return first, second


async def test_a_scan_token_reaches_its_own_scan_only(driver: SkyDriver, modern_event: dict) -> None:
    mine, other = await two_scans(driver, modern_event)
    scanner = HttpClient(driver.address, scan_token(driver.settings, mine))
    assert jwt.decode(scanner.token or "", options={"verify_signature": False})[SCAN_CLAIM] == mine

    assert (await scanner.patch(f"/scan/manifest/{mine}", PROGRESS)).status == 200
    assert (await scanner.put(f"/scan/result/{mine}", RESULT)).status == 200
    assert (await scanner.get(f"/scan/manifest/{mine}")).status == 200
    for method, path, body in [("PATCH", f"/scan/manifest/{other}", PROGRESS), ("PUT", f"/scan/result/{other}", RESULT),
                               ("GET", f"/scan/manifest/{other}", None), ("GET", f"/scan/{other}/status", None)]:  # fmt: skip
        refused = await scanner.request(method, path, body)
        assert refused.status == 403, (method, path, refused)
        assert refused.json()["error"] == f"this token is scoped to scan {mine}: it cannot act on scan {other}"
    assert (await scanner.get(f"/scan/manifest/{other}", query={"include_event": "false"})).status == 403
    assert (await HttpClient(driver.address, token("user")).get(f"/scan/manifest/{other}")).json()["scan_metadata"] is None

    # a scan token is `system` and nothing more: user routes stay closed to it
    assert (await scanner.post("/scan", scan_body(modern_event))).status == 403
    assert (await scanner.delete(f"/scan/manifest/{mine}")).status == 403
    assert (await scanner.get("/scans/list")).status == 403


async def test_operators_unscoped_system_tokens_still_reach_every_scan(driver: SkyDriver, modern_event: dict) -> None:
    operator = HttpClient(driver.address, token("system"))
    for scan_id in await two_scans(driver, modern_event):
        assert (await operator.patch(f"/scan/manifest/{scan_id}", PROGRESS)).status == 200
        assert (await operator.get(f"/scan/{scan_id}/status")).status == 200


async def test_forged_expired_and_scanless_scan_tokens_are_refused(driver: SkyDriver, modern_event: dict) -> None:
    scan_id, _ = await two_scans(driver, modern_event)
    claims = {"skydriver_role": "system", SCAN_CLAIM: scan_id}
    now = time.time()
    forged = Auth("not-" + AUTH_SECRET, issuer=SCAN_TOKEN_ISSUER, algorithm="HS512").create_token("skyscan", payload=dict(claims))
    expired = jwt.encode({**claims, "iss": SCAN_TOKEN_ISSUER, "sub": "skyscan", "iat": now - 7200, "exp": now - 3600},
                         AUTH_SECRET, algorithm="HS512")  # fmt: skip
    scanless = Auth(AUTH_SECRET, issuer=SCAN_TOKEN_ISSUER, algorithm="HS512").create_token("skyscan", payload={"skydriver_role": "system"})
    for bad in (forged, expired, scanless, scan_token(driver.settings, scan_id)[:-4] + "AAAA"):
        response = await HttpClient(driver.address, bad).patch(f"/scan/manifest/{scan_id}", PROGRESS)
        assert response.status == 403, response


async def test_scan_tokens_have_their_own_key_beside_the_user_tokens_auth(driver: SkyDriver, modern_event: dict) -> None:
    """With SCAN_TOKEN_SECRET set (as beside OpenID Connect), scan tokens are checked with it alone."""
    separate = await start(dataclasses.replace(driver.settings, scan_token_secret="scan-key-" + "9" * 64, rest_port=0))
    try:
        scan_id, _ = await two_scans(separate, modern_event)
        good = HttpClient(separate.address, scan_token(separate.settings, scan_id))
        assert (await good.patch(f"/scan/manifest/{scan_id}", PROGRESS)).status == 200
        with_the_user_key = HttpClient(separate.address, scan_token(driver.settings, scan_id))  # signed with AUTH_SECRET
        assert (await with_the_user_key.patch(f"/scan/manifest/{scan_id}", PROGRESS)).status == 403
        assert (await HttpClient(separate.address, token("system")).patch(f"/scan/manifest/{scan_id}", PROGRESS)).status == 200
    finally:
        await separate.stop()


async def test_another_scans_body_is_never_read(driver: SkyDriver, modern_event: dict) -> None:
    """The scope is checked from the headers: 403 while none of the 50 MB body was sent."""
    mine, other = await two_scans(driver, modern_event)
    headers = {"Authorization": f"Bearer {scan_token(driver.settings, mine)}", "Content-Type": "application/json",
               "Content-Length": str(50 * 1024 * 1024), "Connection": "close"}  # fmt: skip
    status, _, payload = await raw_exchange(driver, request_head("PUT", f"/scan/result/{other}", headers))
    assert status == 403 and "scoped to scan" in json.loads(payload)["error"]


def test_no_scan_token_without_auth_and_skydrivers_secrets_are_known_by_name(settings: Settings) -> None:
    assert scan_token(dataclasses.replace(settings, auth_enabled=False, rest_host="127.0.0.1"), "0" * 32) == ""
    assert {"AUTH_SECRET", "SCAN_TOKEN_SECRET", "MONGODB_PASSWORD", "MONGODB_URI", "METRICS_TOKEN"} <= secret_variables()
