"""A lost database: clean 503s with Retry-After at once, background work paused, recovery without a restart."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.sample_data import MODERN_EVENT
from skydriver.embedded_db import EmbeddedDatabase
from skydriver.server import start
from tests.conftest import free_port, make_settings, scan_body, token
from tests.http_client import HttpClient, Response
from tests.skydriver_process import database_children, run_skydriver, stop


def assert_unavailable(status: int, headers: Any, body: Any) -> None:
    assert status == 503, body
    assert headers["Retry-After"] == "5"
    assert body == {"code": 503, "error": "the database is unavailable; SkyDriver is reconnecting: retry in 5s"}


async def until_served(request: Any, timeout: float = 60.0) -> Response:
    deadline = time.monotonic() + timeout
    while True:
        response = await request()
        if response.status != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


@pytest.fixture
async def configured_mongodb(tmp_path: Path) -> AsyncIterator[EmbeddedDatabase]:
    """A database SkyDriver is only given the URI of, as a production MongoDB; the test stops and restarts it."""
    server = EmbeddedDatabase(tmp_path / "mongodb", port=free_port())
    await server.start()
    yield server
    server.stop()


async def test_a_lost_configured_database_is_answered_with_503_and_recovered_from_when_it_is_back(
    configured_mongodb: EmbeddedDatabase, tmp_path: Path, modern_event: dict
) -> None:
    driver = await start(make_settings(configured_mongodb.uri, tmp_path / "data"))
    try:
        user = HttpClient(driver.address, token("user"))
        scan_id = (await user.post("/scan", scan_body(modern_event))).json()["scan_id"]
        assert configured_mongodb.process is not None
        configured_mongodb.process.send_signal(signal.SIGKILL)
        configured_mongodb.process.wait()

        refused = [
            await user.get(f"/scan/manifest/{scan_id}"),
            await user.post("/scan", scan_body(modern_event)),
            await user.get("/scans", query={"run_id": 138632, "event_id": 31747601, "is_real_event": "true"}),
            await user.delete(f"/scan/manifest/{scan_id}"),
        ]
        for response in refused:
            assert_unavailable(response.status, response.headers, response.json())
        assert not driver.database.health.available
        assert not any(task.done() for task in driver.background)  # the loops wait, they do not die

        await configured_mongodb.start()  # the operator brings it back, same port and files
        manifest = await until_served(lambda: user.get(f"/scan/manifest/{scan_id}"))
        assert manifest.status == 200 and manifest.json()["is_deleted"] is False
        assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
        # the teardown loop resumed: it completes the deleted scan
        deadline = time.monotonic() + 30
        while not (await user.get(f"/scan/manifest/{scan_id}", query={"include_deleted": "true"})).json()["complete"]:
            assert time.monotonic() < deadline, "the teardown loop did not resume"
            await asyncio.sleep(0.2)
    finally:
        await driver.stop()


class Load:
    """Alert pipelines POSTing scans in threads, recording what was acknowledged and what was refused."""

    def __init__(self, url: str, threads: int = 3):
        self.url = url
        self.body = scan_body(MODERN_EVENT.read_text())
        self.acknowledged: list[str] = []
        self.refused: list[requests.Response] = []
        self.other: list[requests.Response | Exception] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._post_until_stopped) for _ in range(threads)]

    def _post_until_stopped(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            try:
                response = session.post(f"{self.url}/scan", json=self.body, timeout=60)
            except requests.RequestException as exc:
                self.other.append(exc)
                continue
            if response.status_code == 200:
                self.acknowledged.append(response.json()["scan_id"])
            elif response.status_code == 503:
                self.refused.append(response)
                time.sleep(0.2)
            else:
                self.other.append(response)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def wait(self, condition: Any, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"acknowledged {len(self.acknowledged)}, refused {len(self.refused)}, other {self.other[:3]}"
            time.sleep(0.1)


@pytest.mark.slow
def test_embedded_database_killed_under_load_is_restarted_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    driver = run_skydriver(data_dir, port)
    try:
        (first_database,) = database_children(driver)
        with Load(url) as load:
            load.wait(lambda: len(load.acknowledged) >= 5)
            first_database.kill()
            # restarted by SkyDriver itself; requests meanwhile got 503s, or waited for it if it was quick enough
            load.wait(lambda: [p for p in database_children(driver) if p.pid != first_database.pid])
            acknowledged_after_restart = len(load.acknowledged)
            load.wait(lambda: len(load.acknowledged) >= acknowledged_after_restart + 5)
        assert load.other == []
        for response in load.refused:
            assert_unavailable(response.status_code, response.headers, response.json())
        (second_database,) = database_children(driver)

        found = requests.get(f"{url}/scans", params={"run_id": 138632, "event_id": 31747601, "is_real_event": "true"}, timeout=30)
        assert set(load.acknowledged) <= set(found.json()["scan_ids"])
        for scan_id in load.acknowledged:
            assert requests.get(f"{url}/scan/manifest/{scan_id}", params={"include_event": "false"}, timeout=30).status_code == 200
        assert "skydriver_embedded_database_restarts 1.0" in requests.get(f"{url}/metrics", timeout=30).text

        second_database.kill()  # and SIGTERM while the database is down still stops SkyDriver cleanly
    finally:
        assert stop(driver) == 0
