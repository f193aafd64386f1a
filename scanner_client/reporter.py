"""Tell SkyDriver about the cluster: the PATCHes to ``/scan/manifest/SCAN_ID``."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

LOGGER = logging.getLogger(__name__)

ADDRESS_ENV = "SKYSCAN_SKYDRIVER_ADDRESS"
SCAN_ID_ENV = "SKYSCAN_SKYDRIVER_SCAN_ID"
AUTH_ENV = "SKYSCAN_SKYDRIVER_AUTH"


class ReporterConfigError(ValueError):
    """The environment does not say where to report."""


class ReportError(RuntimeError):
    """SkyDriver did not accept a report (after the retries)."""


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


class ManifestReporter:
    """PATCHes one scan's manifest, with timeouts and a few retries."""

    def __init__(
        self,
        skydriver_address: str,
        scan_id: str,
        auth_token: str = "",
        timeout: tuple[float, float] = (5.0, 30.0),
        retries: int = 2,
        backoff: float = 1.0,
    ):
        self.url = f"{skydriver_address.rstrip('/')}/scan/manifest/{scan_id}"
        self._timeout = timeout
        self._session = requests.Session()
        if auth_token:
            self._session.headers["Authorization"] = f"Bearer {auth_token}"
        retry = Retry(
            total=retries,
            backoff_factor=backoff,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"PATCH"}),  # safe to repeat: SkyDriver replaces the cluster's entry
            raise_on_status=False,
        )
        self._session.mount("http://", HTTPAdapter(max_retries=retry))
        self._session.mount("https://", HTTPAdapter(max_retries=retry))

    @classmethod
    def from_env(cls) -> ManifestReporter:
        """From ``SKYSCAN_SKYDRIVER_ADDRESS``, ``SKYSCAN_SKYDRIVER_SCAN_ID`` and ``SKYSCAN_SKYDRIVER_AUTH``."""
        address = os.environ.get(ADDRESS_ENV, "").strip()
        scan_id = os.environ.get(SCAN_ID_ENV, "").strip()
        missing = [name for name, value in ((ADDRESS_ENV, address), (SCAN_ID_ENV, scan_id)) if not value]
        if missing:
            raise ReporterConfigError(f"set {' and '.join(missing)}: needed to report the cluster to SkyDriver")
        return cls(address, scan_id, os.environ.get(AUTH_ENV, "").strip())

    def patch(self, body: dict[str, Any]) -> None:
        """Send ``body``; raise ``ReportError`` when SkyDriver cannot be reached or refuses it."""
        try:
            response = self._session.patch(self.url, json=body, timeout=self._timeout)
        except requests.RequestException as e:
            raise ReportError(f"PATCH {self.url} failed: {type(e).__name__}: {e}") from e
        if not response.ok:
            raise ReportError(f"PATCH {self.url} answered {response.status_code}: {response.text[:500]}")

    def close(self) -> None:
        self._session.close()
