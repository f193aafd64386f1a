"""Results and events bigger than one MongoDB document (16 MB) are stored whole (in GridFS) and read back unchanged."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import orjson
import pytest

from examples.sample_data import PRODUCTION_RESULT
from skydriver.database import blobs
from skydriver.database.blobs import INLINE_MAX_BYTES
from skydriver.rest.uploads import LARGE_BODY_BYTES
from skydriver.server import SkyDriver
from tests.conftest import scan_body
from tests.http_client import HttpClient

NSIDE = 2048
MONGODB_DOCUMENT_LIMIT = 16 * 1024 * 1024
OVER_A_DOCUMENT = 480_000  # pixels: 17 MB, over what one MongoDB document holds (the benchmark PUTs 1M pixels, 40 MB)


def skyscan_result_bytes(response_body: bytes) -> bytes:
    """The raw ``skyscan_result`` text of a Result response (spliced in as stored, so it can be sliced out)."""
    start = response_body.index(b'"skyscan_result":') + len(b'"skyscan_result":')
    end = response_body.rindex(b"}")
    return response_body[start:end]


async def test_a_result_larger_than_a_mongodb_document_is_stored_whole(
    driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict
) -> None:
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = result_of_pixels(OVER_A_DOCUMENT)
    assert len(result) > MONGODB_DOCUMENT_LIMIT > INLINE_MAX_BYTES
    put = await system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + result + b',"is_final":true}')
    assert put.status == 200, put
    got = await user.get(f"/scan/result/{scan_id}")
    assert got.status == 200 and skyscan_result_bytes(got.body) == result
    assert orjson.loads(got.body)["is_final"] is True
    await driver.database.client.drop_database(driver.settings.mongodb_database)  # 17 MB the shared server need not keep


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


def nan_result_over_a_mebibyte() -> bytes:
    """A valid result of ~1.2 MB holding bare NaN tokens (as the Skymap Scanner's encoder writes them), compact."""
    real = json.loads(PRODUCTION_RESULT.read_text())
    finest = real["nside-512"]
    llh = [row[1] for row in finest["data"]]
    rows = [[pixel, math.nan if pixel % 7 == 0 else round(llh[pixel % len(llh)], 6), 17000.5, 20000.25] for pixel in range(30_000)]
    entry = {"columns": finest["columns"], "metadata": finest["metadata"], "data": rows}
    return json.dumps({"nside-512": entry}, separators=(",", ":")).encode()


async def test_a_small_get_is_answered_while_a_large_body_is_parsed(
    driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A body over 1 MiB is parsed and checked in a worker process: the event loop answers other requests meanwhile,
    and the result comes back byte for byte, NaN tokens and all."""
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = nan_result_over_a_mebibyte()
    assert len(result) > LARGE_BODY_BYTES
    pool, parse = driver.body_workers, driver.body_workers.run
    parsing, release = asyncio.Event(), asyncio.Event()

    async def held_parse(*args: Any) -> Any:
        parsing.set()
        await release.wait()  # the job is held until the test has had its answer: only an event loop left free gives it
        return await parse(*args)

    monkeypatch.setattr(pool, "run", held_parse)
    put = asyncio.ensure_future(system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + result + b',"is_final":false}'))
    await asyncio.wait([put, asyncio.ensure_future(parsing.wait())], return_when=asyncio.FIRST_COMPLETED)
    assert parsing.is_set(), f"the body was not handed to the worker pool: {put.result()}"
    manifest = await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false"})
    assert manifest.status == 200 and not put.done()
    release.set()
    assert (await put).status == 200
    got = await user.get(f"/scan/result/{scan_id}")
    assert got.status == 200 and skyscan_result_bytes(got.body) == result


async def test_bad_input_in_a_large_body_is_a_400_naming_it(driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    """Errors found in a worker process come back as the same 400s (a 64-bit overflow, a bad pixel)."""
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = nan_result_over_a_mebibyte()
    too_big = result.replace(b'"run_id":136766', b'"run_id":99999999999999999999', 1)
    answer = await system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + too_big + b',"is_final":false}')
    assert answer.status == 400 and "skyscan_result" in answer.json()["error"] and "64-bit" in answer.json()["error"], answer
    out_of_range = result.replace(b"[0,", b"[3145728,", 1)  # nside 512 has 3,145,728 pixels
    answer = await system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + out_of_range + b',"is_final":false}')
    assert answer.status == 400 and "pixel index 3145728 out of range" in answer.json()["error"], answer
    assert (await user.get(f"/scan/result/{scan_id}")).body == b"{}"


def result_of_pixels(pixels: int) -> bytes:
    """A valid compact nside-2048 result of ``pixels`` rows, the production scan's values (rounded) repeated."""
    real = json.loads(PRODUCTION_RESULT.read_text())
    finest = real["nside-512"]
    rows = [[round(value, 3) for value in row[1:]] for row in finest["data"]]
    data = [[pixel, *rows[pixel % len(rows)]] for pixel in range(pixels)]
    return orjson.dumps({f"nside-{NSIDE}": {"columns": finest["columns"], "metadata": {**finest["metadata"], "nside": NSIDE}, "data": data}})


@pytest.mark.parametrize(("pixels", "inline_max"), [(3000, INLINE_MAX_BYTES), (150_000, INLINE_MAX_BYTES), (150_000, 1000)],
                         ids=["small, inline: written at once", "5 MB inline: streamed", "5 MB in 2 GridFS chunks: streamed"])  # fmt: skip
async def test_get_result_answers_the_same_bytes_however_it_is_written(
    driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict, monkeypatch: pytest.MonkeyPatch,
    pixels: int, inline_max: int,
) -> None:  # fmt: skip
    """The response a large result is streamed as (its stored chunks written one by one) is byte for byte the one
    written at once, with the same headers: a Content-Length, not chunked encoding; errors as before."""
    monkeypatch.setattr(blobs, "INLINE_MAX_BYTES", inline_max)
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    result = result_of_pixels(pixels)
    assert (await user.get(f"/scan/result/{scan_id}")).body == b"{}"
    put = await system.request("PUT", f"/scan/result/{scan_id}", raw=b'{"skyscan_result":' + result + b',"is_final":false}')
    assert put.status == 200, put
    if inline_max < len(result):
        assert len(await driver.database.db["blobs.chunks"].distinct("n")) == 2  # 5 MB in 4 MiB chunks
    got = await user.get(f"/scan/result/{scan_id}")
    expected = b'{"scan_id":"' + scan_id.encode() + b'","is_deleted":false,"is_final":false,"skyscan_result":' + result + b"}"
    assert got.status == 200 and got.body == expected
    assert put.body == expected and put.headers["Content-Length"] == str(len(expected))  # the PUT's answer too
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Content-Length"] == str(len(expected)) and "Transfer-Encoding" not in got.headers
    assert (await user.delete(f"/scan/result/{scan_id}")).status == 200
    gone = await user.get(f"/scan/result/{scan_id}")
    assert gone.status == 404 and gone.headers["Content-Type"] == "application/json" and scan_id in gone.json()["error"]
    deleted = await user.get(f"/scan/result/{scan_id}", query={"include_deleted": "true"})
    assert deleted.body == expected.replace(b'"is_deleted":false', b'"is_deleted":true', 1)
