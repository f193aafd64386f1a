"""The local stand-in for ``scanner_client start``: runs N reference-scanner workers and reports them as a cluster.

``python -m skydriver.reference_scanner.starter --n-workers N --client-startup-json PATH [--logs-directory D]``
waits (bounded) for the server's startup file, starts the workers, PATCHes ``condor_cluster`` (collector and schedd
``localhost``, ``cluster_id`` = this process's pid, ``jobs`` = N) once, then its worker state counts at an interval,
as HTCondor job states. Exits when every worker has exited; on SIGTERM/SIGINT it terminates its workers first, so
stopping the starter (or its process group) removes the whole cluster.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from .skydriver_api import SkyDriverAPI, SkyDriverRefused, SkyDriverUnreachable

LOGGER = logging.getLogger("skydriver.reference_scanner.starter")


def worker_states(workers: list[subprocess.Popen[bytes]]) -> dict[str, int]:
    """HTCondor's view of local processes: alive = running, exit code = completed, killed by a signal = removed."""
    codes = [w.poll() for w in workers]
    return {
        "idle": 0,
        "running": sum(1 for c in codes if c is None),
        "held": 0,
        "completed": sum(1 for c in codes if c is not None and c >= 0),
        "removed": sum(1 for c in codes if c is not None and c < 0),
    }


def wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            sys.exit(f"no startup file at {path} after {timeout:.0f}s: is the scanner server running?")
        time.sleep(0.2)


def start_workers(n: int, startup_json: Path, logs: Path | None) -> list[subprocess.Popen[bytes]]:
    workers = []
    for i in range(n):
        log = open(logs / f"worker-{i}.log", "ab") if logs else subprocess.DEVNULL
        command = [sys.executable, "-m", "skydriver.reference_scanner.client", "--client-startup-json", str(startup_json)]
        workers.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
        if logs:
            log.close()  # type: ignore[union-attr]
    return workers


class Cluster:
    def __init__(self, api: SkyDriverAPI | None, n_workers: int):
        self._api = api
        self.identity: dict[str, Any] = {"collector": "localhost", "schedd": "localhost", "cluster_id": os.getpid(), "jobs": n_workers}

    def report(self, states: dict[str, int] | None = None) -> None:
        body = {"condor_cluster": self.identity | ({"states": states} if states is not None else {})}
        if self._api is None:
            LOGGER.info("no SkyDriver address: %s", body)
            return
        try:
            self._api.patch_manifest(body)
        except (SkyDriverRefused, SkyDriverUnreachable) as e:
            LOGGER.error("could not report the cluster: %s", e)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-workers", type=int, required=True)
    parser.add_argument("--client-startup-json", type=Path, required=True)
    parser.add_argument("--logs-directory", type=Path)
    parser.add_argument("--startup-timeout", type=float, default=600.0, help="seconds to wait for the startup file")
    parser.add_argument("--report-interval", type=float, help="seconds between state reports (default: SKYSCAN_PROGRESS_INTERVAL_SEC or 30)")
    args = parser.parse_args(argv)
    if args.n_workers < 1:
        parser.exit(2, "--n-workers must be >= 1\n")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(levelname)s %(message)s")
    interval = args.report_interval or float(os.environ.get("SKYSCAN_PROGRESS_INTERVAL_SEC") or 30)

    address = os.environ.get("SKYSCAN_SKYDRIVER_ADDRESS", "").strip()
    scan_id = os.environ.get("SKYSCAN_SKYDRIVER_SCAN_ID", "").strip()
    token = os.environ.get("SKYSCAN_SKYDRIVER_AUTH", "").strip()
    cluster = Cluster(SkyDriverAPI(address, scan_id, token) if address and scan_id else None, args.n_workers)

    workers: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        LOGGER.info("signal %d: terminating %d workers", signum, len(workers))
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(timeout=10)
            except subprocess.TimeoutExpired:
                w.kill()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    wait_for_file(args.client_startup_json, args.startup_timeout)
    if args.logs_directory:
        args.logs_directory.mkdir(parents=True, exist_ok=True)
    workers.extend(start_workers(args.n_workers, args.client_startup_json, args.logs_directory))
    LOGGER.info("started %d workers: %s", len(workers), [w.pid for w in workers])
    cluster.report()

    last_states: dict[str, int] | None = None
    next_report = 0.0
    while True:
        states = worker_states(workers)
        if states != last_states or time.monotonic() >= next_report:
            cluster.report(states)
            last_states, next_report = states, time.monotonic() + interval
        if states["running"] == 0:
            break
        time.sleep(min(1.0, interval))
    LOGGER.info("all workers exited: %s", last_states)


if __name__ == "__main__":
    main()
