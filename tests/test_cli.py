"""The `skydriver` command against a real SkyDriver running real local scans (the same process users run)."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from rest_tools.utils.auth import Auth

from examples.sample_data import EVENTS_DIR, MODERN_EVENT
from skydriver.cli import build_parser
from skydriver.cli.scan_view import ScanView, describe_outcome
from skydriver.server import SkyDriver
from tests.conftest import AUTH_SECRET, scan_body, token
from tests.http_client import HttpClient
from tests.scan_api import wait_torn_down

pytestmark = pytest.mark.slow  # real processes end to end: `make test-fast` skips this file

REPOSITORY = Path(__file__).resolve().parent.parent
SCAN_ARGS = ["--reco-algo", "dummy", "--nsides", "8:0,16:4,32:4", "--cluster", "local:2"]


async def skydriver_cli(driver: SkyDriver, *args: str, role: str = "user", cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed command as a user would, in a subprocess (stdout piped: plain lines, no live bar)."""
    return await run_cli("--url", driver.address, "--token", token(role), *args, cwd=cwd)


def environment(**extra: str) -> dict[str, str]:
    """This checkout's code whatever the working directory (not another one installed in the environment), and no
    SKYDRIVER_ settings but those given."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("SKYDRIVER_")}
    return environ | {"PYTHONPATH": str(REPOSITORY)} | extra


async def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    environ = environment(**(env or {}))
    command = [sys.executable, "-m", "skydriver", *args]
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=300, cwd=cwd, env=environ)


def run_on_a_terminal(command: list[str], timeout: float) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal, as in a person's shell, where rich draws its live bar; (exit code, output)."""
    master, terminal = pty.openpty()
    env = environment(TERM="xterm-256color", COLUMNS="150", LINES="40")
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal, env=env)
    os.close(terminal)
    output, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1.0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the command exited and its terminal closed
                    break
                if not chunk:
                    break
                output += chunk
        return proc.wait(timeout=max(1.0, deadline - time.monotonic())), output.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


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
    plot = await skydriver_cli(local_driver, "plot", scan_id, "-o", str(tmp_path / "full-sky.png"))
    assert plot.returncode == 0 and (tmp_path / "full-sky.png").read_bytes()[:4] == b"\x89PNG"
    status = await skydriver_cli(local_driver, "status", scan_id, "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["status"]["scan_state"] == "SCAN_HAS_FINAL_RESULT"
    # sent with an Idempotency-Key: RestClient retries a POST whose answer was lost, and that retry must not scan twice
    stored = await local_driver.database.manifests.collection.find_one({"scan_id": scan_id})
    assert stored["idempotency_key"].startswith("skydriver-cli-")

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
    watched = await skydriver_cli(local_driver, "watch", scan_id)  # someone following it learns how it ended: exit 1
    assert watched.returncode == 1 and f"scan {scan_id} failed: ended without a final result" in watched.stderr


async def test_watch_attaches_to_someone_elses_running_scan_with_a_live_bar(local_driver: SkyDriver, modern_event: dict,
                                                                           tmp_path: Path) -> None:  # fmt: skip
    """On a terminal, `watch` draws rich's bar (state, pixels done of the estimate, rate, elapsed time, ETA)."""
    started = await HttpClient(local_driver.address, token("user")).post(
        "/scan", scan_body(modern_event, cluster={"local": 2}, reco_algo="dummy", nsides={"8": 0, "16": 4, "32": 4})
    )  # fmt: skip
    scan_id = started.json()["scan_id"]
    someone_else = Auth(AUTH_SECRET, algorithm="HS512").create_token(
        "test-someone-else", payload={"groups": ["/institutions/IceCube/UW-Madison"]}
    )  # fmt: skip
    command = [sys.executable, "-m", "skydriver", "--url", local_driver.address, "--token", someone_else,
               "watch", scan_id, "-o", str(tmp_path / "map.png")]  # fmt: skip
    code, output = await asyncio.to_thread(run_on_a_terminal, command, 240)

    assert code == 0, output[-3000:]
    assert "\x1b[" in output and "━" in output  # drawn and redrawn in place, not printed line by line
    output = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "scanning" in output and re.search(r"\d+/\d+ pixels \d+\.\d pixels/s", output) and "ETA" in output
    assert "best fit: RA" in output and f"{scan_id}  " not in output  # (the plain lines' form: not on a terminal)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    await wait_torn_down(HttpClient(local_driver.address, token("user")), scan_id, local_driver.settings.data_dir)


async def test_the_token_comes_from_the_flag_a_token_file_or_the_environment(local_driver: SkyDriver, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token("user") + "\n")
    url = {"SKYDRIVER_URL": local_driver.address}
    assert (await run_cli("ls", env=url | {"SKYDRIVER_TOKEN": token("user")})).returncode == 0
    assert (await run_cli("--token-file", str(token_file), "ls", env=url)).returncode == 0
    # a flag beats the environment, --token beats --token-file
    assert (await run_cli("--token-file", str(token_file), "ls", env=url | {"SKYDRIVER_TOKEN": token("outsider")})).returncode == 0
    refused = await run_cli("--token", token("outsider"), "--token-file", str(token_file), "ls", env=url)
    assert refused.returncode == 2 and "SkyDriver refused: 403" in refused.stderr
    no_token = await run_cli("ls", env=url)
    assert no_token.returncode == 2 and "SkyDriver refused: 403: authentication failed" in no_token.stderr


async def test_unreadable_files_are_usage_errors(tmp_path: Path) -> None:
    """Exit 2 with the reason, not a traceback (whose exit code 1 would read as "the scan failed")."""
    missing = await run_cli("scan", str(tmp_path / "nothing.json"), *SCAN_ARGS)
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "broken.json").write_text("{not json")
    broken = await run_cli("scan", str(tmp_path / "broken.json"), *SCAN_ARGS)
    assert broken.returncode == 2 and "is not JSON" in broken.stderr
    (tmp_path / "empty").write_text("\n")
    empty = await run_cli("--token-file", str(tmp_path / "empty"), "ls")
    assert empty.returncode == 2 and "is empty" in empty.stderr
    no_file = await run_cli("--token-file", str(tmp_path / "absent"), "ls")
    assert no_file.returncode == 2 and "cannot read" in no_file.stderr


async def test_scan_many_requests_a_scan_per_event_through_the_cli_client(driver: SkyDriver, tmp_path: Path) -> None:
    """examples/scan_many.py (SkyDriver without a launcher here: the scans wait in its backlog)."""
    events = [str(MODERN_EVENT), str(EVENTS_DIR / "hese_event_00.json"), str(tmp_path / "missing.json")]
    env = environment(SKYDRIVER_URL=driver.address, SKYDRIVER_TOKEN=token("user"))
    command = [sys.executable, str(REPOSITORY / "examples" / "scan_many.py"), *events]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and "missing.json: refused: cannot read" in done.stderr  # the others are still requested
    scan_ids = [line.rsplit(": ", 1)[1] for line in done.stdout.splitlines()]
    assert len(scan_ids) == 2 and done.stdout.startswith(f"{MODERN_EVENT}: ")
    backlog = (await HttpClient(driver.address, token("user")).get("/scans/backlog")).json()
    assert sorted(entry["scan_id"] for entry in backlog["scans"]) == sorted(scan_ids)


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
