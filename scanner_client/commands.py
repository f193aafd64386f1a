"""The two things scanner_client does: start (submit, tell SkyDriver, watch) and stop (remove) a cluster."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .reporter import CondorCluster, condor_cluster_body
from .scan_routes import ScanRoutesClient, SkyDriverCallError
from .schedd import ScheddClient
from .startup_file import wait_for_startup_file
from .submit_description import ClientJobSpec, build_submit, needs_spool
from .watcher import watch_cluster

LOGGER = logging.getLogger(__name__)

Connect = Callable[[str, str], ScheddClient]

STOP_REASON = "Removed by SkyDriver: the scan is finished or was deleted"
UNREPORTED_REASON = "Removed by SkyDriver's scanner_client: the cluster could not be reported to SkyDriver"


def cluster_constraint(cluster_id: int) -> str:
    """Exactly the jobs of one cluster."""
    return f"ClusterId == {int(cluster_id)}"


def start(
    collector: str,
    schedd: str,
    n_jobs: int,
    spec: ClientJobSpec,
    *,
    connect: Connect,
    skydriver: ScanRoutesClient,
    startup_timeout: float,
    report_interval: float,
    stop_event: threading.Event,
) -> dict[str, int] | None:
    """Submit ``n_jobs`` clients once the startup file exists, report the cluster, then watch it.

    A cluster SkyDriver was never told about could never be torn down, so it is removed again when the
    first report fails.
    """
    if n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs} must be at least 1")
    description = build_submit(spec)  # refuses a bad memory size before waiting on anything
    wait_for_startup_file(spec.startup_json, startup_timeout, stop=stop_event)
    client = connect(collector, schedd)
    cluster = CondorCluster(collector, schedd, client.submit(description, n_jobs, needs_spool(spec)), n_jobs)
    try:
        skydriver.patch_manifest(condor_cluster_body(cluster))
    except SkyDriverCallError:
        client.remove(cluster_constraint(cluster.cluster_id), UNREPORTED_REASON)
        raise
    LOGGER.info("reported cluster %s to %s", cluster, skydriver.address)
    return watch_cluster(client, cluster, skydriver, report_interval, stop_event)


def stop(collector: str, schedd: str, cluster_id: int, *, connect: Connect) -> int:
    """Remove every job of the cluster; return how many the schedd removed."""
    return connect(collector, schedd).remove(cluster_constraint(cluster_id), STOP_REASON)
