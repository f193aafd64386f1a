"""The Skymap Scanner server's command line and environment, shared by every launcher."""

from __future__ import annotations

import shlex

from scanner_client.nsides import progression_to_argv

from ..config import ScannerSettings
from .base import ScanRequest

COMMON_SPACE = "/common-space"


def scanner_server_argv(scan: ScanRequest, common_space: str = COMMON_SPACE) -> list[str]:
    """Arguments after ``python -m skymap_scanner.server``."""
    argv = [
        "--reco-algo", scan.reco_algo,
        "--cache-dir", common_space,
        "--client-startup-json", f"{common_space}/startup.json",
        "--nsides", *progression_to_argv(scan.nsides),
        "--real-event" if scan.is_real_event else "--simulated-event",
        "--predictive-scanning-threshold", str(scan.predictive_scanning_threshold),
    ]  # fmt: skip
    return argv


def scanner_server_args(scan: ScanRequest, common_space: str = COMMON_SPACE) -> str:
    """The manifest's ``scanner_server_args``: the server's full command as one shell-quoted string."""
    return shlex.join(["python", "-m", "skymap_scanner.server", *scanner_server_argv(scan, common_space)])


def scanner_env(scan: ScanRequest, scanner: ScannerSettings) -> dict[str, str]:
    """Plain (non-secret) ``SKYSCAN_*`` / ``EWMS_*`` variables the scanner server and its workers read."""
    env = {
        "SKYSCAN_SKYDRIVER_ADDRESS": scan.skydriver_address,
        "SKYSCAN_SKYDRIVER_SCAN_ID": scan.scan_id,
        "SKYSCAN_PROGRESS_INTERVAL_SEC": str(scanner.progress_interval),
        "SKYSCAN_RESULT_INTERVAL_SEC": str(scanner.result_interval),
    }
    if scan.max_reco_time:
        env["EWMS_PILOT_SUBPROC_TIMEOUT"] = str(scan.max_reco_time)
    return env


def secret_reference(secret: str) -> dict[str, dict[str, str]]:
    """How a secret appears in ``env_vars``: a reference to ``name/key``, never the value."""
    name, key = secret.split("/", 1)
    return {"secretKeyRef": {"name": name, "key": key}}
