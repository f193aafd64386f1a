"""Stand-ins for what cannot run here: an in-memory schedd (no HTCondor daemons); SkyDriver's routes, validating."""

from __future__ import annotations

import json
from collections.abc import Iterator

import htcondor2
import pytest

from scanner_client.schedd import Job, ScheddError
from tests.scanner_routes_recorder import ValidatingSkyDriver


class FakeSchedd:
    """Implements ``ScheddClient`` in memory; ``status_rounds`` are answered in order, the last one repeated (a bare
    status is a job without a hold reason)."""

    def __init__(self, collector: str, schedd: str, status_rounds: list[list[htcondor2.JobStatus | Job]] | None = None):
        self.collector = collector
        self.schedd = schedd
        self.status_rounds = list(status_rounds or [])
        self.fail_queries = 0  # this many jobs() calls raise first
        self.next_cluster_id = 4242
        self.submitted: list[tuple[htcondor2.Submit, int, bool]] = []
        self.removed: list[tuple[str, str]] = []
        self.queries = 0

    def submit(self, description: htcondor2.Submit, count: int, spool: bool) -> int:
        self.submitted.append((description, count, spool))
        return self.next_cluster_id

    def jobs(self, cluster_id: int, n_jobs: int) -> list[Job]:
        self.queries += 1
        if self.fail_queries:
            self.fail_queries -= 1
            raise ScheddError(f"querying ClusterId == {cluster_id} in schedd {self.schedd!r} failed: test")
        answer = self.status_rounds.pop(0) if len(self.status_rounds) > 1 else self.status_rounds[0]
        return [job if isinstance(job, Job) else Job(job) for job in answer]

    def remove(self, constraint: str, reason: str) -> int:
        self.removed.append((constraint, reason))
        return 1


@pytest.fixture
def skydriver() -> Iterator[ValidatingSkyDriver]:
    """SkyDriver's scanner-facing routes, refusing any body the real service would refuse."""
    server = ValidatingSkyDriver()
    yield server
    server.close()


@pytest.fixture
def startup_json(tmp_path):
    """A startup file like the scanner server writes to the shared volume."""
    path = tmp_path / "common-space" / "startup.json"
    path.parent.mkdir()
    startup = {
        "mq_basename": "to-clients-abc1",
        "baseline_GCD_file": "GeoCalibDetectorStatus.i3.gz",
        "GCDQp_packet": [],
    }
    path.write_text(json.dumps(startup))
    return path


@pytest.fixture
def fake_schedd() -> FakeSchedd:
    return FakeSchedd("glidein-cm.icecube.wisc.edu", "sub-2.icecube.wisc.edu")
