"""Checks of POST /scan arguments that depend on configuration: known clusters, docker tags, runnable algorithms."""

from __future__ import annotations

from .config import Settings
from .errors import ArgumentError
from .launchers.base import WorkerCluster
from .models import ScanCreate

LOCAL_CLUSTER = "local"
LOCAL_RECO_ALGOS = ("dummy",)


def resolve_clusters(args: ScanCreate, settings: Settings) -> tuple[WorkerCluster, ...]:
    """Cluster names -> collector/schedd through the registry; which names are allowed depends on the launcher."""
    known = sorted(settings.clusters)
    if settings.launcher == "local":
        known = [LOCAL_CLUSTER]
    elif settings.launcher == "kubernetes":
        known = [n for n in known if n != LOCAL_CLUSTER]
    clusters = []
    for name, count in args.cluster_pairs():
        if name not in known:
            raise ArgumentError("cluster", f"unknown cluster {name!r}; known clusters: {', '.join(known)}")
        entry = settings.clusters.get(name, {"collector": "localhost", "schedd": "localhost"})
        clusters.append(WorkerCluster(name, entry["collector"], entry["schedd"], count))
    return tuple(clusters)


def check_reco_algo(args: ScanCreate, settings: Settings) -> None:
    """The local launcher runs the reference scanner, whose stand-in reco must never carry a real algorithm's name."""
    if settings.launcher == "local" and args.reco_algo not in LOCAL_RECO_ALGOS:
        raise ArgumentError(
            "reco_algo",
            f"{args.reco_algo!r} needs the production Skymap Scanner (SKYDRIVER_LAUNCHER=kubernetes); the local "
            f"reference scanner runs only: {', '.join(LOCAL_RECO_ALGOS)}",
        )
