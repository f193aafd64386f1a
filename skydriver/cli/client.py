"""SkyDriver's REST API as the command line calls it, over `rest_tools.client.RestClient` like IceCube's own tools."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import requests
from rest_tools.client import RestClient


class RequestRefused(Exception):
    """SkyDriver answered with an error; the message is the server's own JSON `error` text."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message




def _refused(exc: requests.HTTPError) -> RequestRefused:
    response = exc.response
    try:
        message = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:500] or response.reason
    return RequestRefused(response.status_code, message)


class SkyDriverClient:
    """One method per route the command line uses; errors become `RequestRefused` with the server's message."""

    def __init__(self, url: str, token: str | None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.rest = RestClient(self.url, token=token, timeout=timeout, retries=2)

    def _call(self, method: str, path: str, args: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
        try:
            return self.rest.request_seq(method, path, args, headers)
        except requests.HTTPError as exc:
            raise _refused(exc) from None

    def request_scan(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        """POST /scan with an Idempotency-Key: RestClient retries a POST whose answer was lost (read errors, 502-504),
        and the retry must return the scan the first try created, not start a second one."""
        return self._call("POST", "/scan", body, {"Idempotency-Key": idempotency_key or f"skydriver-cli-{uuid.uuid4().hex}"})

    # include_deleted: a scan being followed may be cancelled meanwhile, and how it ended is still worth telling

    def manifest(self, scan_id: str, include_deleted: bool = False) -> dict[str, Any]:
        return self._call("GET", f"/scan/manifest/{scan_id}", {"include_event": "false", "include_deleted": json.dumps(include_deleted)})

    def result(self, scan_id: str, include_deleted: bool = False) -> dict[str, Any]:
        return self._call("GET", f"/scan/result/{scan_id}", {"include_deleted": json.dumps(include_deleted)})

    def summary(self, scan_id: str, include_deleted: bool = False) -> dict[str, Any]:
        return self._call("GET", f"/scan/{scan_id}/result/summary", {"include_deleted": json.dumps(include_deleted)})

    def list_scans(self, filters: dict[str, Any]) -> dict[str, Any]:
        """One page of GET /scans/list (newest first); `filters` as the route takes them."""
        return self._call("GET", "/scans/list", filters)

    def cancel(self, scan_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/scan/manifest/{scan_id}")

    def logs(self, scan_id: str, container: str, tail: int) -> dict[str, Any]:
        return self._call("GET", f"/scan/{scan_id}/logs", {"container": container, "tail": tail})

    def rescan(self, scan_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/scan/{scan_id}/actions/rescan", overrides)

    def skymap_png(self, scan_id: str, zoom: bool, include_deleted: bool = False) -> bytes:
        """The PNG bytes: RestClient decodes JSON only, so this one route goes through its session directly."""
        self.rest.open(sync=True)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self.rest.session.get(
            f"{self.url}/scan/{scan_id}/skymap.png", params={"zoom": json.dumps(zoom), "include_deleted": json.dumps(include_deleted)}, headers=headers,
            timeout=self.rest.timeout,
        )  # fmt: skip
        try:
            response.raise_for_status()
        except requests.HTTPError as exc:
            raise _refused(exc) from None
        return response.content

    def events(self, scan_id: str, last_event_id: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The scan's progress stream (server-sent events) as (event, id, snapshot), until the server ends it (deleted
        scans too: a cancel ends the stream with the scan's last state)."""
        self.rest.open(sync=True)
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        # read timeout above the server's 15 s keepalive: a silent connection is a dead one
        with self.rest.session.get(f"{self.url}/scan/{scan_id}/events?include_deleted=true", headers=headers, stream=True, timeout=(10, 45)) as response:
            try:
                response.raise_for_status()
            except requests.HTTPError as exc:
                raise _refused(exc) from None
            fields: dict[str, str] = {}
            for line in response.iter_lines(decode_unicode=True):
                if line:
                    if not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                elif fields:
                    yield fields["event"], fields["id"], json.loads(fields["data"])
                    fields = {}
