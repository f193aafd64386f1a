"""A tiny recording stand-in for SkyDriver's scanner-facing routes, and the real data's paths."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from examples.sample_data import EVENTS_DIR as EVENTS
from examples.sample_data import MODERN_EVENT
from examples.sample_data import RESULTS_DIR as RESULTS

REPO = Path(__file__).resolve().parents[2]


class RecordingSkyDriver:
    """Answers GET manifest with the event and every PATCH/PUT with 200, recording (method, path, body, auth)."""

    def __init__(self, event: dict[str, Any]):
        self.event = event
        self.calls: list[tuple[str, str, Any, str | None]] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length)) if length else None
                with recorder._lock:
                    recorder.calls.append((self.command, self.path, body, self.headers.get("Authorization")))

            def do_GET(self) -> None:
                self._record()
                self._answer({"event_i3live_json_dict": recorder.event})

            def do_PATCH(self) -> None:
                self._record()
                self._answer({})

            def do_PUT(self) -> None:
                self._record()
                self._answer({})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, method: str) -> list[tuple[str, Any]]:
        with self._lock:
            return [(path, body) for m, path, body, _ in self.calls if m == method]


@pytest.fixture
def skydriver() -> Iterator[RecordingSkyDriver]:
    recorder = RecordingSkyDriver(json.loads(MODERN_EVENT.read_text()))
    thread = threading.Thread(target=recorder.server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()
