"""Launchers: how scans are run. ``SKYDRIVER_LAUNCHER`` picks one; ``none`` keeps scans waiting in the backlog."""

from __future__ import annotations

from ..config import Settings
from .base import (
    LaunchedScan,
    Launcher,
    LaunchError,
    LaunchPlan,
    Observation,
    ScanFailure,
    ScanRequest,
    ScanState,
    WorkerCluster,
)
from .scanner_command import scanner_server_args

__all__ = [
    "LaunchError", "LaunchPlan", "LaunchedScan", "Launcher", "Observation", "ScanFailure", "ScanRequest", "ScanState",
    "WorkerCluster",
    "make_launcher", "plan_for",
]  # fmt: skip


def make_launcher(settings: Settings) -> Launcher | None:
    """The configured launcher (imported only when chosen: the Kubernetes client is heavy)."""
    if settings.launcher == "kubernetes":
        from .kubernetes import KubernetesLauncher

        return KubernetesLauncher(settings)
    if settings.launcher == "local":
        from .local import LocalLauncher

        return LocalLauncher(settings)
    return None


def plan_for(launcher: Launcher | None, scan: ScanRequest) -> LaunchPlan:
    """What the manifest records at POST; with launching paused, only the scanner server's arguments are known."""
    if launcher is None:
        return LaunchPlan(scanner_server_args=scanner_server_args(scan), tms_args=[], env_vars={})
    return launcher.plan(scan)
