"""The one client of SkyDriver's scanner-facing routes, on ``rest_tools``' ``RestClient`` as the Skymap Scanner uses.

``scanner_client`` PATCHes its clusters' job states with it; the reference scanner gets its event, PATCHes progress
and PUTs results with it. Connection errors, timeouts and 5xx answers are retried with doubling waits; a 4xx is
raised at once as ``SkyDriverRefused`` (sending the same request again cannot help).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import requests
from rest_tools.client import RestClient

LOGGER = logging.getLogger(__name__)

ADDRESS_ENV = "SKYSCAN_SKYDRIVER_ADDRESS"
SCAN_ID_ENV = "SKYSCAN_SKYDRIVER_SCAN_ID"
AUTH_ENV = "SKYSCAN_SKYDRIVER_AUTH"


class SkyDriverCallError(RuntimeError):
    """A call to SkyDriver did not succeed."""


class SkyDriverRefused(SkyDriverCallError):
    """SkyDriver answered 4xx; the message holds its reason."""

    def __init__(self, what: str, status: int, body: str):
        super().__init__(f"{what} answered {status}: {body[:2000]}")
        self.status = status


class SkyDriverUnreachable(SkyDriverCallError):
    """Every attempt failed on the connection, on a timeout or with a 5xx."""


class ScanAddressMissing(ValueError):
    """The environment does not say which SkyDriver and scan to talk to."""


class ScanRoutesClient:
    """One scan's manifest and result routes: ``/scan/manifest/SCAN_ID`` and ``/scan/result/SCAN_ID``."""

    def __init__(
        self, address: str, scan_id: str, token: str = "", *, timeout: float = 60.0, attempts: int = 6, first_wait: float = 0.5
    ):
        self.address = address.rstrip("/")
        self.scan_id = scan_id
        self._attempts = attempts
        self._first_wait = first_wait
        # the retries are ours (below), so that PATCH and PUT are retried like GET
        self._rest = RestClient(self.address, token=token or None, timeout=timeout, retries=0)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **options: Any) -> ScanRoutesClient:
        """From ``SKYSCAN_SKYDRIVER_ADDRESS``, ``SKYSCAN_SKYDRIVER_SCAN_ID`` and ``SKYSCAN_SKYDRIVER_AUTH``."""
        address, scan_id = environ.get(ADDRESS_ENV, "").strip(), environ.get(SCAN_ID_ENV, "").strip()
        missing = [name for name, value in ((ADDRESS_ENV, address), (SCAN_ID_ENV, scan_id)) if not value]
        if missing:
            raise ScanAddressMissing(f"set {' and '.join(missing)}: needed to reach SkyDriver")
        return cls(address, scan_id, environ.get(AUTH_ENV, "").strip(), **options)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        what = f"{method} {self.address}{path}"
        wait = self._first_wait
        for attempt in range(1, self._attempts + 1):
            try:
                return self._rest.request_seq(method, path, body)
            except requests.HTTPError as e:
                status, text = e.response.status_code, e.response.text
                if status < 500:
                    raise SkyDriverRefused(what, status, text) from None
                problem = f"{status} {text[:500]}"
            except requests.RequestException as e:  # connection refused or reset, timeout
                problem = f"{type(e).__name__}: {e}"
            if attempt < self._attempts:
                LOGGER.warning("%s failed (%s); attempt %d of %d in %.1fs", what, problem, attempt + 1, self._attempts, wait)
                time.sleep(wait)
                wait *= 2
        raise SkyDriverUnreachable(f"{what} failed {self._attempts} times, last: {problem}")

    def get_manifest(self) -> dict[str, Any]:
        return self._request("GET", f"/scan/manifest/{self.scan_id}")

    def patch_manifest(self, body: dict[str, Any]) -> None:
        self._request("PATCH", f"/scan/manifest/{self.scan_id}", body)

    def put_result(self, skyscan_result: dict[str, Any], is_final: bool) -> None:
        self._request("PUT", f"/scan/result/{self.scan_id}", {"skyscan_result": skyscan_result, "is_final": is_final})

    def close(self) -> None:
        self._rest.close()
