"""Watch a submitted cluster and report its job-state counts and hold reasons until it is finished or we are told to stop."""

from __future__ import annotations

import logging
import threading

from .job_states import count_hold_reasons, count_states, is_finished
from .reporter import CondorCluster, condor_cluster_body
from .scan_routes import ScanRoutesClient, SkyDriverCallError
from .schedd import ScheddClient, ScheddError

LOGGER = logging.getLogger(__name__)


def watch_cluster(
    schedd: ScheddClient,
    cluster: CondorCluster,
    skydriver: ScanRoutesClient,
    interval: float,
    stop: threading.Event,
) -> dict[str, int] | None:
    """Report every ``interval`` s; return the last counts seen (None if the schedd never answered).

    A failed query or report is logged and retried next round: a schedd or SkyDriver hiccup must not
    end the watch while clients still run.
    """
    counts: dict[str, int] | None = None
    while True:
        try:
            jobs = schedd.jobs(cluster.cluster_id, cluster.jobs)
        except ScheddError as e:
            LOGGER.warning("could not read cluster %s's job states: %s", cluster.cluster_id, e)
        else:
            counts, hold_reasons = count_states(jobs), count_hold_reasons(jobs)
            LOGGER.info("cluster %s: %s%s", cluster.cluster_id, counts, f", held: {hold_reasons}" if hold_reasons else "")
            try:
                skydriver.patch_manifest(condor_cluster_body(cluster, counts, hold_reasons))
            except SkyDriverCallError as e:
                LOGGER.warning("could not report cluster %s's job states: %s", cluster.cluster_id, e)
            if is_finished(counts):
                LOGGER.info("cluster %s is finished", cluster.cluster_id)
                return counts
        if stop.wait(interval):
            LOGGER.info("stopped watching cluster %s", cluster.cluster_id)
            return counts
