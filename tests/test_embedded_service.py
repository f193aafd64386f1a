"""`python -m skydriver` as users run it: embedded database as a child process, durable across kills and restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from examples.sample_data import MODERN_EVENT
from skydriver.serve import NO_DATABASE
from tests.conftest import free_port, scan_body
from tests.skydriver_process import database_children, run_skydriver, stop

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file


def ended(process: psutil.Process) -> bool:
    """Exited: gone, or a zombie until whoever adopted the orphan reaps it."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_ended(process: psutil.Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ended(process):
        assert time.monotonic() < deadline, f"pid {process.pid} still runs {timeout:.0f} s on"
        time.sleep(0.05)


def test_embedded_database_survives_kill_and_restart(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    url = f"http://127.0.0.1:{port}"
    first = run_skydriver(data_dir, port)
    (database,) = database_children(first)
    assert (data_dir / "db").is_dir()
    body = scan_body(MODERN_EVENT.read_text())
    scan_ids = [requests.post(f"{url}/scan", json=body, timeout=30).json()["scan_id"] for _ in range(3)]

    first.send_signal(signal.SIGKILL)  # no clean shutdown: what answered 200 must still be there
    first.wait()
    wait_ended(database)  # and the database child does not outlive it

    second = run_skydriver(data_dir, port)
    try:
        found = requests.get(f"{url}/scans", params={"run_id": 138632, "event_id": 31747601, "is_real_event": "true"}, timeout=30)
        assert found.json()["scan_ids"] == scan_ids
        manifest = requests.get(f"{url}/scan/manifest/{scan_ids[0]}", timeout=30).json()
        assert manifest["launch"]["status"] == "waiting"  # still in the backlog, launching paused
        (database,) = database_children(second)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    database.wait(timeout=30)
    assert not database.is_running()


ORPHAN_DATABASE = """
import asyncio, os, signal, sys
from pathlib import Path
import skydriver.embedded_db as embedded_db
embedded_db._die_with_parent = lambda parent: (lambda: None)  # as where the kernel has no PR_SET_PDEATHSIG
database = embedded_db.EmbeddedDatabase(Path(sys.argv[1]))
asyncio.run(database.start())
print(database.process.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_database_orphaned_by_a_crash_is_stopped_at_the_next_start_and_a_live_one_is_left_alone(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    crashed = subprocess.run([sys.executable, "-c", ORPHAN_DATABASE, str(data_dir)], capture_output=True, timeout=120)
    orphan = psutil.Process(int(crashed.stdout))
    assert orphan.is_running() and (data_dir / "secantusdb.pid").exists()

    driver = run_skydriver(data_dir, port)
    try:
        assert ended(orphan)
        response = requests.post(f"http://127.0.0.1:{port}/scan", json=scan_body(MODERN_EVENT.read_text()), timeout=30)
        assert response.status_code == 200

        # but a data directory in use by a live SkyDriver is not taken over
        env = {**os.environ, "SKYDRIVER_AUTH": "off", "REST_PORT": str(free_port()), "SKYDRIVER_DATA_DIR": str(data_dir)}
        env.pop("MONGODB_URI", None)
        second = subprocess.run([sys.executable, "-m", "skydriver"], env=env, capture_output=True, timeout=120)
        assert second.returncode == NO_DATABASE
        assert f"in use by another SkyDriver (pid {driver.pid})" in second.stderr.decode()
        assert database_children(driver)[0].is_running()
    finally:
        assert stop(driver) == 0
    assert not (data_dir / "secantusdb.pid").exists()  # a clean stop leaves nothing to clean up
