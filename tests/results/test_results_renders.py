"""Summaries and sky maps are made in worker processes: at most so many at once (then 503 + Retry-After), each output
of a result version made once however many clients ask for it."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skydriver.config import Settings
from skydriver.database import blobs
from skydriver.results import renders
from skydriver.results.analysis import analyse
from skydriver.server import SkyDriver
from tests.conftest import free_port, make_settings, scan_body, token
from tests.http_client import HttpClient
from tests.results.gated_render import make_when_released


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path) -> Settings:
    """One render worker and no queue (conftest's ``driver`` starts SkyDriver with these)."""
    return make_settings(mongo_uri, tmp_path, render_workers=1, render_queue=0)


@pytest.fixture
async def scan_with_result(driver: SkyDriver, modern_event: dict, production_file: Path) -> str:
    user, system = HttpClient(driver.address, token("user")), HttpClient(driver.address, token("system"))
    scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
    body = b'{"is_final":false,"skyscan_result":' + production_file.read_bytes() + b"}"
    assert (await system.request("PUT", f"/scan/result/{scan_id}", raw=body)).status == 200
    return scan_id


async def until(condition: Callable[[], bool], request: asyncio.Future[Any]) -> None:
    """Wait for a state the request leads SkyDriver to; fail at once if the request was answered first."""
    while not condition():
        assert not request.done(), request.result()
        await asyncio.sleep(0.01)


async def test_a_full_render_queue_answers_503_with_retry_after(
    driver: SkyDriver, scan_with_result: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "release"
    monkeypatch.setattr(renders, "make", functools.partial(make_when_released, str(gate)))
    user = HttpClient(driver.address, token("user"))
    held = asyncio.ensure_future(user.get(f"/scan/{scan_with_result}/skymap.png"))
    await until(lambda: driver.renders.pool.in_flight == 1, held)  # the one render process is busy, and no queue

    refused = await user.get(f"/scan/{scan_with_result}/result/summary")
    assert refused.status == 503, refused
    assert refused.headers["Retry-After"] == "5"
    assert "render workers are busy" in refused.json()["error"]

    gate.touch()
    drawn = await held
    assert drawn.status == 200 and drawn.body.startswith(b"\x89PNG")
    summary = await user.get(f"/scan/{scan_with_result}/result/summary")  # free again
    assert summary.status == 200 and summary.json()["best_fit"] is not None


async def test_one_render_for_many_clients_of_one_result_version(
    driver: SkyDriver, scan_with_result: str, production_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "release"
    monkeypatch.setattr(renders, "make", functools.partial(make_when_released, str(gate)))
    user = HttpClient(driver.address, token("user"))
    path = f"/scan/{scan_with_result}/result/summary"
    first = asyncio.ensure_future(user.get(path))
    await until(lambda: driver.renders.pool.in_flight == 1, first)
    # with the only process busy and no queue, these would be refused if they did not wait for the same job
    others = [asyncio.ensure_future(user.get(path)) for _ in range(3)]
    await until(lambda: driver.renders.joined == 3, asyncio.ensure_future(asyncio.wait(others, return_when=asyncio.FIRST_COMPLETED)))
    assert not any(task.done() for task in [first, *others])
    gate.touch()
    answers = await asyncio.gather(first, *others)
    assert {answer.status for answer in answers} == {200}
    expected = json.loads(analyse(production_file.read_bytes()).summary_json)
    assert all(answer.json() == expected for answer in answers)
    again = await user.get(path)  # kept: no new job
    assert again.status == 200 and again.json() == expected
    assert driver.renders.made == 1


@pytest.fixture
def results_in_gridfs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every result is kept in GridFS, as one over 12 MiB is (a million pixels at nside 2048: 40 MB)."""
    monkeypatch.setattr(blobs, "INLINE_MAX_BYTES", 1000)


async def test_a_result_in_gridfs_is_read_by_the_render_process_not_by_skydriver(
    results_in_gridfs: None, driver: SkyDriver, scan_with_result: str, production_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def not_here(*_: object) -> None:
        raise AssertionError("SkyDriver read the result's GridFS file")

    monkeypatch.setattr(blobs.BlobStore, "parts", not_here)
    user = HttpClient(driver.address, token("user"))
    summary = await user.get(f"/scan/{scan_with_result}/result/summary")
    assert summary.status == 200 and summary.json() == json.loads(analyse(production_file.read_bytes()).summary_json)
    drawn = await user.get(f"/scan/{scan_with_result}/skymap.png")
    assert drawn.status == 200 and drawn.body.startswith(b"\x89PNG")
    assert driver.renders.made == 2


async def test_a_result_replaced_before_the_render_process_reads_it_is_made_from_the_newer_one(
    results_in_gridfs: None, driver: SkyDriver, scan_with_result: str, production_result: dict, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate = tmp_path / "release"
    monkeypatch.setattr(renders, "make", functools.partial(make_when_released, str(gate)))
    user, system = HttpClient(driver.address, token("user")), HttpClient(driver.address, token("system"))
    asked = asyncio.ensure_future(user.get(f"/scan/{scan_with_result}/result/summary"))
    await until(lambda: driver.renders.pool.in_flight == 1, asked)  # the job holds the first result's file id
    production_result["nside-8"]["data"][100][1] = 0.0
    replaced = await system.put(f"/scan/result/{scan_with_result}", {"skyscan_result": production_result, "is_final": True})
    assert replaced.status == 200  # and the first result's GridFS file is deleted
    gate.touch()
    summary = await asked
    assert summary.status == 200 and summary.json()["best_fit"]["index"] == 100
    assert driver.renders.made == 1  # the job that found no file made nothing


async def test_a_render_process_that_cannot_reach_the_database_answers_503_for_that_request_only(
    results_in_gridfs: None, driver: SkyDriver, scan_with_result: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(driver.service.database.blobs, "_uri", f"mongodb://127.0.0.1:{free_port()}/")  # nothing listens
    user = HttpClient(driver.address, token("user"))
    refused = await user.get(f"/scan/{scan_with_result}/result/summary")
    assert refused.status == 503, refused
    assert "result" in refused.json()["error"] and refused.headers["Retry-After"]
    assert driver.service.database.health.available  # SkyDriver's own connection is fine: other requests go on
    assert (await user.get(f"/scan/{scan_with_result}/manifest")).status == 200

    monkeypatch.undo()
    assert (await user.get(f"/scan/{scan_with_result}/result/summary")).status == 200
