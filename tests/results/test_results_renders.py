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
from skydriver.results import renders
from skydriver.results.analysis import analyse
from skydriver.server import SkyDriver
from tests.conftest import make_settings, scan_body, token
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
