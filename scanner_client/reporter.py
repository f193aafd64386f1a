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


def condor_cluster_body(cluster: CondorCluster, states: dict[str, int] | None = None) -> dict[str, Any]:
    """The manifest PATCH body; with ``states`` it replaces the matching cluster entry's job-state counts."""
    entry: dict[str, Any] = dataclasses.asdict(cluster)
    if states is not None:
        entry["states"] = dict(states)
    return {"condor_cluster": entry}
