"""Follow scans for progress streams and `?wait`: one database read per interval for every watched scan together.

Streams are served from what is in the database, not from in-process memory, so any SkyDriver replica can serve
any stream and a restarted one resumes them. A stream costs a subscription (a few hundred bytes); however many are
open, the watcher reads the watched scans' small fields in two indexed queries per interval.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .database import Database
from .database.records import ScanRecord
from .progress_tallies import pixel_counts, scanner_finished
from .scan_status import is_terminal, launch_failure, scan_state

LOGGER = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ScanSnapshot:
    """What a person following a scan sees change: its launch state, its progress, its result."""

    scan_id: str
    scan_state: str  # see scan_status
    is_terminal: bool
    launch_status: str
    reason: str | None
    complete: bool
    is_deleted: bool
    pixels_done: int
    pixels_predicted: int | None
    scanner_finished: bool
    progress_updated: str | None  # the scanner's own `last_updated` of its latest report
    result: dict[str, Any] | None  # {"is_final", "updated"} of the latest result, None before the first
    failure: dict[str, Any] | None  # the status's failure, once the scan failed (its time as ISO text)

    @property
    def event_id(self) -> str:
        """Names this exact state, so a client resuming with Last-Event-ID is not sent what it has already seen."""
        return hashlib.sha1(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def ended(self) -> bool:
        """Nothing will change any more: the scan's processes are stopped, or it was deleted."""
        return self.complete or self.is_deleted

    def _state(self) -> tuple[Any, ...]:
        """What a "state" event announces a change of."""
        return (self.scan_state, self.launch_status, self.reason, self.complete, self.is_deleted, self.failure)

    def changes_since(self, before: ScanSnapshot | None) -> list[str]:
        """The kinds of change, in the order a stream reports them: state, progress, result."""
        kinds = []
        if before is None or self._state() != before._state():
            kinds.append("state")
        if self.progress_updated and (before is None or self.progress_updated != before.progress_updated):
            kinds.append("progress")
        if self.result and (before is None or self.result != before.result):
            kinds.append("result")
        return kinds

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def snapshot_of(scan: ScanRecord, result: dict[str, Any] | None, now: dt.datetime, stall_after: float) -> ScanSnapshot:
    progress = scan.progress
    done, predicted = pixel_counts(progress)
    result_view = None
    if result is not None and not result.get("is_deleted"):
        updated = result.get("last_updated")
        result_view = {"is_final": bool(result["is_final"]), "updated": updated.isoformat() if isinstance(updated, dt.datetime) else None}
    code, _ = scan_state(scan, now, stall_after)
    failure = launch_failure(scan)
    if failure is not None and isinstance(at := failure.get("at"), dt.datetime):
        failure = {**failure, "at": at.isoformat()}
    return ScanSnapshot(
        scan_id=scan.scan_id, scan_state=code, is_terminal=is_terminal(code), launch_status=scan.launch.status, reason=scan.launch.reason,
        complete=scan.complete, is_deleted=scan.is_deleted, pixels_done=done,
        pixels_predicted=predicted, scanner_finished=scanner_finished(progress),
        progress_updated=(progress or {}).get("last_updated"), result=result_view, failure=failure,
    )  # fmt: skip


class _Subscription:
    """One stream's view: the latest snapshot the watcher saw, and a flag raised when it changes."""

    __slots__ = ("latest", "changed", "closed")

    def __init__(self) -> None:
        self.latest: ScanSnapshot | None = None
        self.changed = asyncio.Event()
        self.closed = False

    async def next(self, timeout: float) -> ScanSnapshot | None:
        """The latest snapshot once it changed, or None after `timeout` seconds without a change."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return None
        self.changed.clear()
        return self.latest


class ScanWatcher:
    def __init__(self, database: Database, stall_after: float, interval: float = 1.0):
        self.database = database
        self.stall_after = stall_after
        self.interval = interval
        self._subscribers: dict[str, set[_Subscription]] = {}
        self._wake = asyncio.Event()

    async def snapshots(self, scan_ids: list[str]) -> dict[str, ScanSnapshot]:
        manifests, results = await asyncio.gather(
            self.database.manifests.watched_fields(scan_ids), self.database.results.versions(scan_ids)
        )
        by_id, now = {doc["scan_id"]: doc for doc in results}, dt.datetime.now(dt.UTC)
        return {scan.scan_id: snapshot_of(scan, by_id.get(scan.scan_id), now, self.stall_after) for scan in manifests}

    @asynccontextmanager
    async def subscribe(self, scan_id: str) -> AsyncIterator[_Subscription]:
        subscription = _Subscription()
        self._subscribers.setdefault(scan_id, set()).add(subscription)
        self._wake.set()
        try:
            yield subscription
        finally:
            watchers = self._subscribers[scan_id]
            watchers.discard(subscription)
            if not watchers:
                del self._subscribers[scan_id]

    def close(self) -> None:
        """At shutdown: wake every stream so it ends its response instead of being cut off."""
        for subscriptions in self._subscribers.values():
            for subscription in subscriptions:
                subscription.closed = True
                subscription.changed.set()

    async def run_forever(self) -> None:
        """Read every watched scan once per interval and wake the streams whose scan changed."""
        while True:
            if not self._subscribers:
                self._wake.clear()
                await self._wake.wait()
            await self.database.health.wait_until_available()  # paused while the database is down
            try:
                await self._poll_once()
            except Exception:
                LOGGER.exception("reading watched scans failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def _poll_once(self) -> None:
        # only subscriptions that held their first snapshot before this read began: for a newer one, this read may
        # be older than the snapshot it was given, and would announce a change backwards
        ready = {scan_id: [s for s in subs if s.latest is not None] for scan_id, subs in self._subscribers.items()}
        current = await self.snapshots(list(ready))
        for scan_id, snapshot in current.items():
            for subscription in ready[scan_id]:
                if snapshot != subscription.latest:
                    subscription.latest = snapshot
                    subscription.changed.set()
