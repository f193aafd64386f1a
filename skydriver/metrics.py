"""Prometheus metrics, with prometheus_client: requests by route template (never by raw path, so scan ids never
become label values), scans by state and the backlog (read from the database when scraped), and what the scanner
reports. No label ever holds a token, a user name or a scan id."""

from __future__ import annotations

import collections
import datetime as dt
import math
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .database import Database
from .scan_status import STATE_CODES, scan_state

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
SCAN_STEP_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
# seconds between counts of the ended scans: they only grow, and counting them costs the embedded database a read of
# each (a scrape counting them took 1.8 s of its CPU at 100k stored scans); MongoDB counts them from its indexes
ENDED_RECOUNT = 300.0


class Metrics:
    """One registry per SkyDriver (tests run several in one process)."""

    def __init__(self, ended_recount: float = ENDED_RECOUNT) -> None:
        self.ended_recount = ended_recount
        self._ended_counted_at = -math.inf  # time.monotonic() of the last count of the ended scans
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("skydriver_http_requests", "HTTP requests answered", ["route", "method", "status_class"], registry=r)
        self.request_seconds = Histogram(
            "skydriver_http_request_duration_seconds", "time to answer a request", ["route", "method"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.scans = Gauge(
            "skydriver_scans", "scans not yet ended (launch status waiting to stopping) by scan state, deleted ones included",
            ["state"], registry=r,
        )  # fmt: skip
        self.scans_ended = Gauge(
            "skydriver_scans_ended", "ended scans (launch status stopped or failed), by launch status", ["launch_status"],
            registry=r,
        )  # fmt: skip
        self.backlog_depth = Gauge("skydriver_backlog_depth", "scans waiting to be launched", registry=r)
        self.backlog_oldest_age = Gauge(
            "skydriver_backlog_oldest_age_seconds", "how long the longest-waiting scan has waited (0: none waits)", registry=r
        )
        self.progress_reports = Counter("skydriver_progress_reports", "progress reports received from scanners", registry=r)
        self.result_bytes = Counter("skydriver_result_bytes", "bytes of results received from scanners", registry=r)
        self.results = Counter("skydriver_results", "results received from scanners", ["kind"], registry=r)
        self.launches = Counter("skydriver_launches", "launch attempts by outcome (launched, retry, failed)", ["outcome"], registry=r)
        self.launch_seconds = Histogram(
            "skydriver_launch_latency_seconds", "from POST to launched", buckets=SCAN_STEP_BUCKETS, registry=r
        )
        self.teardowns = Counter("skydriver_teardowns", "teardowns by outcome (done, postponed)", ["outcome"], registry=r)
        self.teardown_seconds = Histogram(
            "skydriver_teardown_latency_seconds", "from the final result to torn down", buckets=SCAN_STEP_BUCKETS, registry=r
        )
        self.database_restarts = Gauge(
            "skydriver_embedded_database_restarts", "restarts of the embedded database since SkyDriver started", registry=r
        )
        self.reconcile_runs = Counter("skydriver_reconcile_runs", "polls of every running scan", registry=r)
        self.reconcile_seconds = Histogram(
            "skydriver_reconcile_duration_seconds", "time one poll of every running scan took", buckets=LATENCY_BUCKETS, registry=r
        )
        self.reconcile_found = Counter(
            "skydriver_reconcile_found", "what reconcile polls saw, per scan (running, gone, failed, ...)", ["state"], registry=r
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, f"{status // 100}xx").inc()
        self.request_seconds.labels(route, method).observe(seconds)

    async def scrape(self, database: Database, stall_after: float) -> bytes:
        """The text exposition, after reading the gauges that live in the database.

        Only the scans not yet ended are read and their states derived (a scrape costs what the backlog and the
        running scans hold, whatever the number stored); ended ones are counted by launch status every ENDED_RECOUNT.
        """
        not_ended = await database.manifests.not_ended()
        now = dt.datetime.now(dt.UTC)
        states = collections.Counter(scan_state(scan, now, stall_after)[0] for scan in not_ended)
        for code in STATE_CODES:  # every code, so a state no scan is in any more reads 0, not its last count
            self.scans.labels(code).set(states.get(code, 0))
        if time.monotonic() - self._ended_counted_at >= self.ended_recount:
            for status, count in (await database.manifests.count_ended(len(not_ended))).items():
                self.scans_ended.labels(status).set(count)
            self._ended_counted_at = time.monotonic()
        self.database_restarts.set(database.health.restarts_total)
        self.backlog_depth.set(await database.backlog.count())
        oldest = await database.backlog.oldest_created()
        self.backlog_oldest_age.set((dt.datetime.now(dt.UTC) - _aware(oldest)).total_seconds() if oldest else 0)
        return generate_latest(self.registry)


def _aware(when: dt.datetime) -> dt.datetime:
    """PyMongo returns naive UTC datetimes unless asked otherwise."""
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def seconds_since(when: dt.datetime | None) -> float | None:
    """For latency histograms: how long ago a stored time was (None when it was not stored)."""
    return None if when is None else (dt.datetime.now(dt.UTC) - _aware(when)).total_seconds()
