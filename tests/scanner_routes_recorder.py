"""A stand-in for SkyDriver's scanner-facing routes that checks every request as SkyDriver does, on loopback.

Each PATCH body is validated with SkyDriver's own ``ManifestPatch`` model, each PUT with ``ResultPut`` and the
result's HEALPix checks, each scan id with SkyDriver's pattern, and the bearer token when one is expected; an
invalid request gets SkyDriver's 400 (or 401/404) and is listed in ``refusals``, so a client sending a body the real
service would refuse fails its test. Used where starting a whole SkyDriver would only slow a test of the client.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydantic

from skydriver import json_codec
from skydriver.models import SCAN_ID_PATTERN, ManifestPatch, ResultPut
from skydriver.results.validation import ResultValidationError, validate_skyscan_result

SCAN_ID = "0123456789abcdef0123456789abcdef"
_ROUTES = {"GET": "/scan/manifest/", "PATCH": "/scan/manifest/", "PUT": "/scan/result/"}


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class ValidatingSkyDriver:
    """Answers GET manifest with ``event``; ``statuses`` (popped per valid request) force an answer, 200 once empty."""

    def __init__(self, event: dict[str, Any] | None = None, token: str | None = None):
        self.event = event
        self.token = token
        self.requests: list[RecordedRequest] = []  # the accepted ones
        self.refusals: list[tuple[str, str, str]] = []  # (method, path, SkyDriver's reason)
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = recorder._check(self.command, self.path, dict(self.headers), raw)
                self._answer(status, answer)

            do_GET = do_PATCH = do_PUT = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()

    def _refuse(self, method: str, path: str, status: int, reason: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refusals.append((method, path, reason))
        return status, {"code": status, "error": reason}

    def _check(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        prefix = _ROUTES[method]
        scan_id = path.split("?")[0].removeprefix(prefix)
        if not path.startswith(prefix) or not SCAN_ID_PATTERN.match(scan_id):
            return self._refuse(method, path, 404, "not a scanner-facing route of a scan id")
        if self.token is not None and headers.get("Authorization") != f"Bearer {self.token}":
            return self._refuse(method, path, 401, "missing or wrong bearer token")
        body: Any = None
        if method != "GET":
            try:
                body, _ = json_codec.loads(raw)
                if method == "PATCH":
                    ManifestPatch.model_validate(body)
                else:
                    validate_skyscan_result(ResultPut.model_validate(body).skyscan_result)
            except (json_codec.JsonDecodeError, pydantic.ValidationError, ResultValidationError) as e:
                return self._refuse(method, path, 400, str(e))
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body))
            status = self.statuses.pop(0) if self.statuses else 200
        if method == "GET" and status == 200:
            return 200, {"scan_id": scan_id, "event_i3live_json_dict": self.event}
        return status, {"code": status} if status != 200 else {}

    def of(self, method: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def bodies(self, method: str = "PATCH") -> list[Any]:
        return [r.body for r in self.of(method)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
