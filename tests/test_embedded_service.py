"""`python -m skydriver` as users run it: embedded database as a child process, durable across kills and restarts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from examples.sample_data import MODERN_EVENT
from tests.conftest import scan_body

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_skydriver(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "SKYDRIVER_AUTH": "off", "REST_PORT": str(port), "SKYDRIVER_DATA_DIR": str(data_dir),
        "SKYDRIVER_LAUNCHER": "none",
    }  # fmt: skip
    for name in ("MONGODB_URI", "MONGODB_HOST"):
        env.pop(name, None)
    log = open(data_dir.parent / f"skydriver-{port}-{time.time_ns()}.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "skydriver"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"SkyDriver exited with {process.returncode}; see {log.name}"
        try:
            requests.get(f"http://127.0.0.1:{port}/scans", timeout=2)
            return process
        except requests.ConnectionError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("SkyDriver did not start")


def database_children(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return [p for p in psutil.Process(process.pid).children() if "secantusd" in " ".join(p.cmdline())]


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
    database.wait(timeout=30)  # and the database child does not outlive it

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
