"""Command line: ``python -m scanner_client --collector C --schedd S [--local-jobs DIR] {start ...|stop ...}``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from . import commands
from .idtoken import install_idtoken_from_env
from .local_schedd import LocalSchedd
from .memory_size import MemorySizeError, request_memory_mb
from .scan_routes import ScanAddressMissing, ScanRoutesClient, SkyDriverCallError
from .schedd import HTCondorSchedd, ScheddError
from .startup_file import StartupFileTimeout
from .submit_description import ClientJobSpec

LOGGER = logging.getLogger("scanner_client")

STARTUP_TIMEOUT_ENV = "SCANNER_CLIENT_STARTUP_TIMEOUT_SEC"
REPORT_INTERVAL_ENV = "SCANNER_CLIENT_REPORT_INTERVAL_SEC"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be more than 0")
    return value


def _memory(text: str) -> str:
    try:
        request_memory_mb(text)
    except MemorySizeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scanner-client", description=__doc__)
    parser.add_argument("--collector", required=True, help="HTCondor collector that knows the schedd")
    parser.add_argument("--schedd", required=True, help="HTCondor schedd name")
    parser.add_argument(
        "--local-jobs", type=Path, default=None,
        help="run the jobs as child processes of this machine, recorded in this directory, instead of on HTCondor "
        "(SkyDriver's local launcher)",
    )  # fmt: skip
    parser.add_argument(
        "--local-client-module", default="skymap_scanner.client",
        help="with --local-jobs: the Python module each job runs (default skymap_scanner.client)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)

    start = sub.add_parser("start", help="submit Skymap Scanner clients, report and watch the cluster")
    start.add_argument("--n-jobs", type=_positive_int, required=True, help="number of client jobs")
    start.add_argument("--memory", type=_memory, required=True, help="memory per job, e.g. 8GB")
    start.add_argument("--singularity-image", help="the clients' singularity image (CVMFS path); not with --local-jobs")
    start.add_argument("--client-startup-json", type=Path, required=True, help="startup file the server writes")
    start.add_argument("--logs-directory", type=Path, default=None, help="keep (spool) the jobs' output/error/log here")
    start.add_argument(
        "--startup-timeout", type=_positive_float, default=os.environ.get(STARTUP_TIMEOUT_ENV, "1800"),
        help=f"seconds to wait for the startup file (env {STARTUP_TIMEOUT_ENV}, default 1800)",
    )  # fmt: skip
    start.add_argument(
        "--report-interval", type=_positive_float, default=os.environ.get(REPORT_INTERVAL_ENV, "60"),
        help=f"seconds between job-state reports (env {REPORT_INTERVAL_ENV}, default 60)",
    )  # fmt: skip

    stop = sub.add_parser("stop", help="remove a cluster")
    stop.add_argument("--cluster-id", type=int, required=True, help="the cluster to remove")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; exits 2 (argparse's way) on a bad one."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "start" and args.local_jobs is None and args.singularity_image is None:
        parser.error("--singularity-image is required to run the clients on HTCondor")
    return args


def run(args: argparse.Namespace, connect: commands.Connect, stop_event: threading.Event) -> None:
    """Carry out the parsed command."""
    if args.command == "stop":
        commands.stop(args.collector, args.schedd, args.cluster_id, connect=connect)
        return
    skydriver = ScanRoutesClient.from_env()
    try:
        commands.start(
            args.collector,
            args.schedd,
            args.n_jobs,
            ClientJobSpec(args.singularity_image, args.memory, args.client_startup_json, args.logs_directory),
            connect=connect,
            skydriver=skydriver,
            startup_timeout=args.startup_timeout,
            report_interval=args.report_interval,
            stop_event=stop_event,
        )
    finally:
        skydriver.close()


def _connect_with_token(collector: str, schedd: str) -> HTCondorSchedd:
    install_idtoken_from_env()
    return HTCondorSchedd.connect(collector, schedd)


def _connector(args: argparse.Namespace) -> commands.Connect:
    """HTCondor (with the IDTOKEN from the environment), or this machine's processes with ``--local-jobs``."""
    if args.local_jobs is None:
        return _connect_with_token
    return lambda collector, schedd: LocalSchedd(collector, schedd, args.local_jobs, args.local_client_module)


def main(argv: Sequence[str] | None = None, connect: commands.Connect | None = None) -> int:
    """Entry point of ``scanner-client``; returns the exit status (1 with a one-line reason on failure)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    stop_event = threading.Event()
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # Kubernetes stops the Job's containers with SIGTERM: end the watch cleanly
        previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    try:
        run(args, connect or _connector(args), stop_event)
    except (StartupFileTimeout, ScheddError, SkyDriverCallError, ScanAddressMissing, ValueError) as e:
        LOGGER.error("%s failed: %s", args.command, e)
        return 1
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
