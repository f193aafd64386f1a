"""The processes of local scans (scanner server, `scanner_client` starters, workers), so that a test can check that a
scan's teardown stopped every one of them and that none outlives the SkyDriver that started it (scans survive a
SkyDriver restart by design: a test that stops its SkyDriver before a teardown leaves them running)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psutil


def scan_processes(data_dir: Path, scan_id: str = "") -> list[psutil.Process]:
    """Every live process working for this scan (for any scan of `data_dir` without `scan_id`), found by their
    command lines or working directory (a worker runs in the directory of its startup file, as an HTCondor job in
    its scratch)."""
    scan_dir = f"{data_dir / 'scans' / scan_id}".rstrip("/") + "/"
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        mentions = scan_dir[:-1] in " ".join(proc.info["cmdline"] or []) or f"{proc.info['cwd'] or ''}/".startswith(scan_dir)
        if mentions and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


async def assert_no_scan_process_left(data_dir: Path, timeout: float = 60.0) -> None:
    """After a test, with its SkyDriver still running: wait for teardowns still under way, then fail (killing them,
    so they do not outlive the run) if any scan process is left."""
    deadline = time.monotonic() + timeout
    while (left := scan_processes(data_dir)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    if left:
        text = describe(left)
        for proc in left:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        raise AssertionError(f"scan processes outlived the test ({timeout} s after it ended): {text}")


def describe(processes: list[psutil.Process]) -> str:
    texts = []
    for proc in processes:
        try:
            texts.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
        except psutil.Error:
            texts.append(f"{proc.pid}: (gone)")
    return "; ".join(texts)
