"""The scanner's calls to SkyDriver: get the manifest, patch it, put results. Retries transient failures briefly.

Connection errors, timeouts and 5xx answers are retried with doubling waits; a 4xx answer is logged with its body and
raised as ``SkyDriverRefused`` for the caller to judge (fatal only where the scan cannot go on without the call).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

LOGGER = logging.getLogger(__name__)


class SkyDriverRefused(Exception):
    """SkyDriver answered 4xx; retrying the same request cannot help."""

    def __init__(self, method: str, path: str, status: int, body: str):
        super().__init__(f"{method} {path} -> {status}: {body[:2000]}")
        self.status = status


class SkyDriverUnreachable(Exception):
    """Every attempt failed on the connection or with a 5xx."""


class SkyDriverAPI:
    def __init__(self, address: str, scan_id: str, token: str, attempts: int = 6, first_wait: float = 0.5):
        self.address = address.rstrip("/")
        self.scan_id = scan_id
        self._attempts = attempts
        self._first_wait = first_wait
        self._session = requests.Session()
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        wait = self._first_wait
        for attempt in range(1, self._attempts + 1):
            problem: str
            try:
                response = self._session.request(method, self.address + path, json=body, timeout=60)
            except (requests.ConnectionError, requests.Timeout) as e:
                problem = f"{type(e).__name__}: {e}"
            else:
                if response.status_code < 400:
                    return response.json() if response.content else {}
                if response.status_code < 500:
                    LOGGER.error("SkyDriver refused %s %s: %d %s", method, path, response.status_code, response.text[:2000])
                    raise SkyDriverRefused(method, path, response.status_code, response.text)
                problem = f"{response.status_code} {response.text[:500]}"
            if attempt < self._attempts:
                LOGGER.warning("%s %s failed (%s); retry %d in %.1fs", method, path, problem, attempt, wait)
                time.sleep(wait)
                wait *= 2
        raise SkyDriverUnreachable(f"{method} {path} failed {self._attempts} times, last: {problem}")

    def get_manifest(self) -> dict[str, Any]:
        return self._request("GET", f"/scan/manifest/{self.scan_id}")

    def patch_manifest(self, body: dict[str, Any]) -> None:
        self._request("PATCH", f"/scan/manifest/{self.scan_id}", body)

    def put_result(self, skyscan_result: dict[str, Any], is_final: bool) -> None:
        self._request("PUT", f"/scan/result/{self.scan_id}", {"skyscan_result": skyscan_result, "is_final": is_final})
