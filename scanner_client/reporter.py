"""What SkyDriver is told about a cluster: the ``condor_cluster`` body of the manifest PATCHes."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class CondorCluster:
    """How SkyDriver identifies a cluster: (collector, schedd, cluster_id), plus its job count."""

    collector: str
    schedd: str
    cluster_id: int
    jobs: int


def condor_cluster_body(
    cluster: CondorCluster, states: dict[str, int] | None = None, hold_reasons: dict[str, int] | None = None
) -> dict[str, Any]:
    """The manifest PATCH body; with ``states`` (and ``hold_reasons``, held jobs per reason) it replaces the matching
    cluster entry's job-state counts (and hold reasons: an empty one clears them)."""
    entry: dict[str, Any] = dataclasses.asdict(cluster)
    if states is not None:
        entry["states"] = dict(states)
    if hold_reasons is not None:
        entry["hold_reasons"] = dict(hold_reasons)
    return {"condor_cluster": entry}
