"""Checks of POST /scan arguments that depend on configuration: known clusters, runnable algorithms.

What a launcher can run is the launcher's own answer (``usable_clusters``, ``refusal_of_reco_algo``); with
launching paused (no launcher), every registered cluster and algorithm is accepted.
"""

from __future__ import annotations

from .config import Settings
from .errors import ArgumentError
from .launchers.base import Launcher, WorkerCluster
from .models import ScanCreate


def resolve_clusters(args: ScanCreate, settings: Settings, launcher: Launcher | None) -> tuple[WorkerCluster, ...]:
    """Cluster names -> collector/schedd, out of the registry's clusters the launcher can use."""
    usable = launcher.usable_clusters(settings.clusters) if launcher is not None else settings.clusters
    clusters = []
    for name, count in args.cluster_pairs():
        if name not in usable:
            raise ArgumentError("cluster", f"unknown cluster {name!r}; known clusters: {', '.join(sorted(usable))}")
        clusters.append(WorkerCluster(name, usable[name]["collector"], usable[name]["schedd"], count))
    return tuple(clusters)


def check_reco_algo(args: ScanCreate, launcher: Launcher | None) -> None:
    """Refuse an algorithm the launcher cannot run (the local reference scanner runs only its stand-in)."""
    if launcher is not None and (refusal := launcher.refusal_of_reco_algo(args.reco_algo)):
        raise ArgumentError("reco_algo", refusal)
