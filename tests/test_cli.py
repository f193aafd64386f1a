"""The `skydriver` command against a real SkyDriver running real local scans (the same process users run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from examples.sample_data import MODERN_EVENT
from skydriver.cli import build_parser
from skydriver.cli.scan_view import ScanView, describe_outcome
from skydriver.server import SkyDriver
from tests.conftest import token
from tests.http_client import HttpClient
from tests.local_scan_processes import wait_torn_down

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

SCAN_ARGS = ["--reco-algo", "dummy", "--nsides", "8:0,16:4,32:4", "--cluster", "local:2"]


async def skydriver_cli(driver: SkyDriver, *args: str, role: str = "user", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as a user would, in a subprocess (stdout piped: plain lines, no live bar)."""
    import asyncio

    command = [sys.executable, "-m", "skydriver", "--url", driver.address, "--token", token(role), *args]
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=300, cwd=cwd)


async def test_scan_wait_follows_a_real_scan_to_its_sky_map(local_driver: SkyDriver, tmp_path: Path) -> None:
    done = await skydriver_cli(local_driver, "scan", str(MODERN_EVENT), *SCAN_ARGS, "--wait", "-o", "map.png", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    scan_id = done.stdout.splitlines()[0]
    assert len(scan_id) == 32
    assert "best fit: RA" in done.stderr and f"{scan_id}  " in done.stderr  # progress as plain lines when piped
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    listed = await skydriver_cli(local_driver, "ls", "--run", "138632", "--event", "31747601")
    assert listed.returncode == 0 and listed.stdout.startswith(f"{scan_id}  SCAN_HAS_FINAL_RESULT")
    by_state = await skydriver_cli(local_driver, "ls", "--state", "SCAN_HAS_FINAL_RESULT", "--state", "FAILED")
    assert by_state.returncode == 0 and scan_id in by_state.stdout
    active = await skydriver_cli(local_driver, "ls", "--active")
    assert active.returncode == 0 and scan_id not in active.stdout

    watched = await skydriver_cli(local_driver, "watch", scan_id)  # attaching to a scan that already ended
    assert watched.returncode == 0 and "best fit" in watched.stderr

    logs = await skydriver_cli(local_driver, "logs", scan_id, "--tail", "5")
    assert logs.returncode == 0 and 1 <= len(logs.stdout.splitlines()) <= 5

    rescanned = await skydriver_cli(local_driver, "rescan", scan_id, "--priority", "7")
    new_id = rescanned.stdout.strip()
    assert rescanned.returncode == 0 and len(new_id) == 32 and new_id != scan_id
    assert f"rescanned as {new_id}" in rescanned.stderr
    assert (await skydriver_cli(local_driver, "cancel", new_id)).returncode == 0

    result = await skydriver_cli(local_driver, "result", scan_id, "-o", str(tmp_path / "result.json"))
    assert result.returncode == 0 and "result (final)" in result.stderr
    assert '"is_final": true' in (tmp_path / "result.json").read_text()

    # `--wait` ends at the final result, before the teardown: both scans' processes are stopped before SkyDriver is
    user = HttpClient(local_driver.address, token("user"))
    for torn_down in (scan_id, new_id):
        await wait_torn_down(user, torn_down, local_driver.settings.data_dir)


async def test_a_refused_request_prints_the_servers_reason_and_exits_2(local_driver: SkyDriver) -> None:
    refused = await skydriver_cli(local_driver, "scan", str(MODERN_EVENT), "--reco-algo", "dummy",
                                  "--nsides", "8:0,12:4", "--cluster", "local:2")  # fmt: skip
    assert refused.returncode == 2
    assert "SkyDriver refused: 400" in refused.stderr and "nsides" in refused.stderr
    assert refused.stdout == ""

    unknown = await skydriver_cli(local_driver, "status", "0" * 32)
    assert unknown.returncode == 2 and "404" in unknown.stderr

    forbidden = await skydriver_cli(local_driver, "cancel", "0" * 32, role="outsider")
    assert forbidden.returncode == 2 and "403" in forbidden.stderr


async def test_cancel_stops_a_scan_and_status_says_so(local_driver: SkyDriver) -> None:
    started = await skydriver_cli(local_driver, "scan", str(MODERN_EVENT), *SCAN_ARGS)
    scan_id = started.stdout.strip()
    assert started.returncode == 0 and len(scan_id) == 32

    cancelled = await skydriver_cli(local_driver, "cancel", scan_id)
    assert cancelled.returncode == 0 and f"scan {scan_id}:" in cancelled.stderr
    gone = await skydriver_cli(local_driver, "status", scan_id)
    assert gone.returncode == 2 and "404" in gone.stderr  # a cancelled scan is deleted
    status = await wait_torn_down(HttpClient(local_driver.address, token("user")), scan_id, local_driver.settings.data_dir)
    assert status["scan_state"].startswith("ABORTED__")


def test_unreachable_server_and_bad_usage_exit_2(tmp_path: Path) -> None:
    unreachable = subprocess.run([sys.executable, "-m", "skydriver", "--url", "http://127.0.0.1:9", "status", "x"],
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
    assert unreachable.returncode == 2 and "cannot reach SkyDriver" in unreachable.stderr
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["scan", str(MODERN_EVENT), "--reco-algo", "x", "--nsides", "8", "--cluster", "a:1"])
    assert usage.value.code == 2


def test_outcome_is_read_from_the_final_result_not_from_teardown() -> None:
    manifest = {"scan_id": "a" * 32, "complete": True, "progress": None,
                "launch": {"status": "stopped", "reason": "the scanner server failed"}}  # fmt: skip
    view = ScanView.from_manifest(manifest)
    assert view.ended
    assert describe_outcome(view, {}) == (False, "ended without a final result (stopped: the scanner server failed)")
    assert describe_outcome(view, {"is_final": True})[0]
    failed = ScanView.from_manifest(manifest | {"complete": False, "launch": {"status": "failed", "reason": "quota"}})
    assert failed.ended and describe_outcome(failed, {}) == (False, "launch failed: quota")
