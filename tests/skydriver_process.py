"""SkyDriver as users run it (`python -m skydriver` on the embedded defaults), for tests that kill and restart it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests


def run_skydriver(data_dir: Path, port: int, **env_overrides: str) -> subprocess.Popen[bytes]:
    """Start SkyDriver with auth off and launching paused (unless overridden); return once it serves."""
    env = {
        **os.environ, "SKYDRIVER_AUTH": "off", "REST_PORT": str(port), "SKYDRIVER_DATA_DIR": str(data_dir),
        "SKYDRIVER_LAUNCHER": "none", **env_overrides,
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
    """The embedded database processes SkyDriver runs (not one it killed and has yet to reap)."""
    found = []
    for child in psutil.Process(process.pid).children():
        try:
            if "secantusd" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # exited, or a zombie
            pass
    return found


def stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    return process.wait(timeout=60)
