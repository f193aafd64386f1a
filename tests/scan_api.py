"""A scan followed through SkyDriver's API, as the tests do it: POST it, then poll its manifest or its status until a
condition holds (failing with the last answer at the deadline)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import scan_body
from tests.http_client import HttpClient
from tests.local_scan_processes import describe, scan_processes

POLL_SECONDS = 0.3


async def post_scan(user: HttpClient, event: Any, **overrides: Any) -> dict[str, Any]:
    """POST /scan an alert's request (``overrides`` replace its arguments); the Manifest SkyDriver answered."""
    response = await user.post("/scan", scan_body(event, **overrides))
    assert response.status == 200, response
    return dict(response.json())


async def wait_for_manifest(
    client: HttpClient, scan_id: str, predicate: Callable[[dict[str, Any]], Any], timeout: float = 120.0
) -> dict[str, Any]:
    """The manifest (without its event; deleted scans too) once ``predicate`` holds. A scan torn down without
    reaching it fails at once: nothing will change any more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/scan/manifest/{scan_id}", query={"include_event": "false", "include_deleted": "true"})
        if response.status == 200 and predicate(manifest := response.json()):
            return dict(manifest)
        if response.status == 200 and manifest["complete"]:
            break
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"scan {scan_id}: manifest condition not reached in {timeout}s: {response.body[:2000]!r}")


async def wait_for_status(
    client: HttpClient, scan_id: str, predicate: Callable[[dict[str, Any]], Any], timeout: float = 90.0
) -> dict[str, Any]:
    """GET /scan/ID/status (deleted scans too) once ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await client.get(f"/scan/{scan_id}/status", query={"include_deleted": "true"})
        assert response.status == 200, response
        if predicate(status := response.json()):
            return dict(status)
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"scan {scan_id}: status condition not reached in {timeout}s; last: {response.body[:2000]!r}")


async def wait_torn_down(client: HttpClient, scan_id: str, data_dir: Path, timeout: float = 90.0) -> dict[str, Any]:
    """A local scan's status once its teardown is done (`complete`), after checking that none of its processes is left
    (under `data_dir`, its SkyDriver's)."""
    status = await wait_for_status(client, scan_id, lambda s: s["complete"], timeout)
    left = scan_processes(data_dir, scan_id)
    assert left == [], f"scan {scan_id} is torn down but these processes survive: {describe(left)}"
    return status
