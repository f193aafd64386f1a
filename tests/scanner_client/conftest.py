"""Stand-ins for what cannot run here: an in-memory schedd (no HTCondor daemons) and a recording SkyDriver."""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import htcondor2
import pytest

from scanner_client.schedd import ScheddError


class FakeSchedd:
    """Implements ``ScheddClient`` in memory; ``status_rounds`` are answered in order, the last one repeated."""

    def __init__(self, collector: str, schedd: str, status_rounds: list[list[htcondor2.JobStatus]] | None = None):
        self.collector = collector
        self.schedd = schedd
        self.status_rounds = list(status_rounds or [])
        self.fail_queries = 0  # this many job_statuses calls raise first
        self.next_cluster_id = 4242
        self.submitted: list[tuple[htcondor2.Submit, int, bool]] = []
        self.removed: list[tuple[str, str]] = []
        self.queries = 0

    def submit(self, description: htcondor2.Submit, count: int, spool: bool) -> int:
        self.submitted.append((description, count, spool))
        return self.next_cluster_id

    def job_statuses(self, cluster_id: int, n_jobs: int) -> list[htcondor2.JobStatus]:
        self.queries += 1
        if self.fail_queries:
            self.fail_queries -= 1
            raise ScheddError(f"querying ClusterId == {cluster_id} in schedd {self.schedd!r} failed: test")
        return self.status_rounds.pop(0) if len(self.status_rounds) > 1 else self.status_rounds[0]

    def remove(self, constraint: str, reason: str) -> int:
        self.removed.append((constraint, reason))
        return 1


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class RecordingSkyDriver:
    """A real HTTP server on loopback that records every request and answers with queued status codes."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.statuses: list[int] = []  # popped per request; 200 once empty
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PATCH(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append(RecordedRequest("PATCH", self.path, dict(self.headers), json.loads(raw)))
                status = recorder.statuses.pop(0) if recorder.statuses else 200
                payload = json.dumps({"ok": status == 200}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def skydriver() -> Iterator[RecordingSkyDriver]:
    server = RecordingSkyDriver()
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
