"""Results and events bigger than one MongoDB document (16 MB) are stored whole (in GridFS) and read back unchanged."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from examples.sample_data import PRODUCTION_RESULT
from skydriver.database import blobs
from skydriver.database.blobs import INLINE_MAX_BYTES
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient

NSIDE = 2048
PIXELS = 1_000_000


def million_pixel_result() -> bytes:
    """A valid nside-2048 result of 1M pixels (~27 MB), its rows the real production scan's values (rounded) repeated."""
    real = json.loads(PRODUCTION_RESULT.read_text())
    finest = real[max(real, key=lambda key: int(key.removeprefix("nside-")))]
    rows = [[round(value, 3) for value in row[1:]] for row in finest["data"]]
    data = [[pixel, *rows[pixel % len(rows)]] for pixel in range(PIXELS)]
    metadata = {**finest["metadata"], "nside": NSIDE}
    return orjson.dumps({f"nside-{NSIDE}": {"columns": finest["columns"], "metadata": metadata, "data": data}})


def skyscan_result_bytes(response_body: bytes) -> bytes:
    """The raw ``skyscan_result`` text of a Result response (spliced in as stored, so it can be sliced out)."""
    start = response_body.index(b'"skyscan_result":') + len(b'"skyscan_result":')
    end = response_body.rindex(b"}")
    return response_body[start:end]


async def test_a_million_pixel_result_is_stored_whole(
    driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict
) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = million_pixel_result()
    assert len(result) > INLINE_MAX_BYTES
    put = await system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + result + b',"is_final":true}')
    assert put.status == 200, put
    got = await user.get(f"/scan/result/{scan_id}")
    assert got.status == 200 and skyscan_result_bytes(got.body) == result
    assert orjson.loads(got.body)["is_final"] is True
    await driver.database.client.drop_database(driver.settings.mongodb_database)  # 40 MB the shared server need not keep


async def test_replaced_results_leave_no_file_behind(
    driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each result is a GridFS file here; a replaced partial's file is deleted, and so is a refused late partial's."""
    monkeypatch.setattr(blobs, "INLINE_MAX_BYTES", 1000)
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    real = json.loads(PRODUCTION_RESULT.read_text())
    files = driver.database.db["blobs.files"]
    event_files = await files.count_documents({})  # the event is one too
    for number, is_final in enumerate((False, False, True, False)):
        result = {**real, "nside-8": {**real["nside-8"], "data": real["nside-8"]["data"][: 100 + number]}}
        put = await system.put(f"/scan/result/{scan_id}", {"skyscan_result": result, "is_final": is_final})
        assert put.status == 200, put
        assert await files.count_documents({}) == event_files + 1
    got = (await user.get(f"/scan/result/{scan_id}")).json()
    assert got["is_final"] is True and len(got["skyscan_result"]["nside-8"]["data"]) == 102


async def test_a_twenty_megabyte_event_is_stored_whole(user: HttpClient, modern_event: dict) -> None:
    event: dict[str, Any] = {**modern_event, "padding": "x" * (20 * 1024 * 1024)}
    created = await user.post("/scan", scan_body(event))
    assert created.status == 200, created
    scan_id = created.json()["scan_id"]
    manifest = await user.get(f"/scan/manifest/{scan_id}")
    assert manifest.status == 200 and manifest.json()["event_i3live_json_dict"] == event
