"""Shared test fixtures: one real MongoDB-wire server (SecantusDB) for the session, SkyDriver instances on it.

Each SkyDriver gets its own database name on the shared server, so tests are isolated without paying a server
start each.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rest_tools.utils.auth import Auth

from examples.sample_data import MODERN_EVENT, PRODUCTION_RESULT, alert_scan_request
from skydriver.config import Settings
from skydriver.database import Database, open_database
from skydriver.embedded_db import EmbeddedDatabase
from skydriver.server import SkyDriver, start, worker_pools
from skydriver.workers import WorkerPool
from tests.http_client import HttpClient
from tests.local_scan_processes import assert_no_scan_process_left

AUTH_SECRET = "skydriver-test-secret-" + "0123456789abcdef" * 4  # HS512 wants >= 64 bytes


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real SecantusDB server for the whole session (or MONGODB_URI, to run the suite against a real MongoDB)."""
    if uri := os.environ.get("TEST_MONGODB_URI"):
        yield uri
        return
    server = EmbeddedDatabase(tmp_path_factory.mktemp("secantus"))
    uri = asyncio.run(server.start())
    yield uri
    server.stop()


def make_settings(mongo_uri: str, data_dir: Path, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings as from an environment (``env`` adds variables), on the shared server, with a fresh database name."""
    environ = {
        "SKYDRIVER_AUTH": "on",
        "AUTH_SECRET": AUTH_SECRET,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": f"test_{uuid.uuid4().hex[:12]}",
        "REST_PORT": "0",
        "SKYDRIVER_DATA_DIR": str(data_dir),
        "SKYDRIVER_LAUNCHER": "none",
        **(env or {}),
    }
    # replace() would silently drop a name that is not a field (the settings ignore unknown names): refuse it here
    unknown = set(overrides) - {field.name for field in dataclasses.fields(Settings)}
    assert not unknown, f"not settings fields: {unknown} (grouped settings go in `env`)"
    return dataclasses.replace(Settings.from_env(environ), **overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(role: str) -> str:
    """A real signed token: role "user" (IceCube group), "system" (scanner), or "outsider" (no role)."""
    payload = {
        "user": {"groups": ["/institutions/IceCube/UW-Madison"]},
        "system": {"skydriver_role": "system"},
        "outsider": {"groups": ["/institutions/SomewhereElse"]},
    }[role]
    return Auth(AUTH_SECRET, algorithm="HS512").create_token(f"test-{role}", payload=payload)


class SharedWorkers:
    """The body and render worker pools of the session's SkyDrivers, one per pool size (``start(..., workers=)``).

    A job leaves nothing behind in its process, and starting a render process costs ~2.5 s of CPU (it imports healpy,
    matplotlib and astropy): one set of processes serves every test instead of new ones for each.
    """

    def __init__(self) -> None:
        self.pools: dict[tuple[Any, ...], WorkerPool] = {}

    def __call__(self, settings: Settings) -> tuple[WorkerPool, WorkerPool]:
        body, render = (self.pools.setdefault((p.name, p.processes, p.queue, p.preload), p) for p in worker_pools(settings))
        return body, render

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """After a SkyDriver stopped: the jobs its last requests left running end before another test counts on them."""
        deadline = time.monotonic() + timeout
        while busy := [pool.name for pool in self.pools.values() if pool.in_flight]:
            assert time.monotonic() < deadline, f"{busy} worker jobs still running {timeout:.0f} s after their SkyDriver stopped"
            await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def shared_workers() -> Iterator[SharedWorkers]:
    workers = SharedWorkers()
    yield workers
    for pool in workers.pools.values():
        pool.close()


@pytest.fixture
def local_settings(mongo_uri: str, tmp_path: Path) -> Settings:
    """The local launcher with real processes, on a port known before start, with intervals of a test's seconds."""
    return make_settings(
        mongo_uri, tmp_path, {"SKYSCAN_PROGRESS_INTERVAL_SEC": "1", "SKYSCAN_RESULT_INTERVAL_SEC": "2"},
        launcher="local", rest_port=free_port(), launch_interval=0.0, wait_before_teardown=1.0, reconcile_interval=1.0,
        launch_retry_backoff=1.0,
    )  # fmt: skip


@pytest.fixture
async def local_driver(local_settings: Settings, shared_workers: SharedWorkers) -> AsyncIterator[SkyDriver]:
    """A SkyDriver running local scans; after the test, while it still runs, the teardowns under way finish and no
    scan process may be left (stopped first, scans would survive it, as they survive a restart by design)."""
    running = await start(local_settings, workers=shared_workers(local_settings))
    try:
        yield running
        await assert_no_scan_process_left(local_settings.data_dir)
    finally:
        await running.stop()
        await shared_workers.wait_idle()


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path) -> Settings:
    return make_settings(mongo_uri, tmp_path)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The database alone (indexes made, no HTTP server, no loops): what the service core is tested on directly."""
    opened = await open_database(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def driver(settings: Settings, shared_workers: SharedWorkers) -> AsyncIterator[SkyDriver]:
    running = await start(settings, workers=shared_workers(settings))
    yield running
    await running.stop()
    await shared_workers.wait_idle()


@pytest.fixture
def user(driver: SkyDriver) -> HttpClient:
    return HttpClient(driver.address, token("user"))


@pytest.fixture
def system(driver: SkyDriver) -> HttpClient:
    return HttpClient(driver.address, token("system"))


@pytest.fixture(scope="session")
def modern_event() -> dict[str, Any]:
    return json.loads(MODERN_EVENT.read_text())


@pytest.fixture(scope="session")
def production_result_text() -> str:
    return PRODUCTION_RESULT.read_text()


scan_body = alert_scan_request  # (the name the tests use)


async def assert_refused_at_post(driver: SkyDriver, response: Any, argument: str, reason: str) -> None:
    """A POST /scan answered 400 naming the argument and the reason, and nothing was stored."""
    assert response.status == 400, response
    error = response.json()["error"]
    assert f"argument '{argument}'" in error and reason in error, error
    assert await driver.database.manifests.collection.count_documents({}) == 0
    assert await driver.database.backlog.count() == 0
