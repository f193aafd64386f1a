"""The manifests collection: one small document per scan (its event lives in ``events``).

Every change is one atomic update, so concurrent PATCHes from the scanner and the worker starters lose nothing.
Updates are ``update_one`` followed by a read rather than ``find_one_and_update``: the same atomicity, and on the
embedded database 3-4x the throughput (its findAndModify slows down as the collection grows; measured in
benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from ..errors import ClusterLimitReached, IdempotencyKeyTaken, ScanNotFound
from .batched import find_in
from .progress import PROGRESS_TIMES, PROGRESS_WHOLE, WATCH, ProgressStore, merged
from .records import LaunchStatus, ScanRecord
from .state_key import FIELD, StateKey, raise_to, state_key

if TYPE_CHECKING:
    from .backlog import LeaseOwner  # backlog imports this module

INTERNAL = {"_id": 0}
STATE = {  # what a scan state is derived from (scan_status), but the launch and the progress
    "_id": 0, "scan_id": 1, "is_deleted": 1, "complete": 1, "created": 1, "teardown_at": 1, "times": 1, "failure": 1,
    "event_metadata.run_id": 1,
}  # fmt: skip
WATCHED = {  # what progress streams follow (and the progress document; progress in a manifest of an earlier version)
    **STATE, "launch.status": 1, "launch.reason": 1, "launch.launcher": 1, "launch.state": 1,
    "progress.tallies": 1, "progress.last_updated": 1, "progress.processing_stats.finished": 1,
}  # fmt: skip
NOT_ENDED = tuple(status for status in LaunchStatus if not status.is_terminal)
# launched and not yet torn down (complete is checked after reading: one indexed field in the filter)
UNFINISHED = {"launch.status": {"$in": [LaunchStatus.LAUNCHING, LaunchStatus.LAUNCHED]}}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # lower bound of every scheduled teardown_at
END_OF_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # and its upper bound
LIST_FIRST_WINDOW = dt.timedelta(minutes=1)


RECONCILED = {  # what reconcile judges a running scan by and the launcher finds it with (never the progress report)
    **STATE, "launch": 1, "condor_clusters": 1,
}  # fmt: skip
LISTED = {  # GET /scans/list: what the status and the request summary need (never the event, nor the launch plan)
    **STATE, "launch": 1, "progress": 1, "lookup": 1, "request": 1, "docker_tag": 1,
}  # fmt: skip


def duplicated_fields(exc: DuplicateKeyError) -> set[str]:
    """The fields of the unique index a write collided with, as the server reports them (``keyPattern``)."""
    return set((exc.details or {}).get("keyPattern") or {})


def now() -> dt.datetime:
    """The current time as the database stores it (milliseconds), so an answer built before a write equals a read."""
    t = dt.datetime.now(dt.UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def scans_of_event(run_id: int, event_id: int, is_real_event: bool, include_deleted: bool) -> dict[str, Any]:
    """GET /scans' filter: only fields of the lookup index, so that both MongoDB and the embedded database use it."""
    selector: dict[str, Any] = {"lookup.run_id": run_id, "lookup.event_id": event_id, "lookup.is_real_event": is_real_event}
    if not include_deleted:
        selector["is_deleted"] = False
    return selector


def _status_in(*statuses: LaunchStatus) -> dict[str, Any]:
    """The launch statuses a transition moves from."""
    return {"launch.status": statuses[0] if len(statuses) == 1 else {"$in": list(statuses)}}


def _launching(attempt: int) -> dict[str, Any]:
    """A launch in flight, of this backlog attempt: a runner whose lease another took over moves nothing."""
    return {"launch.status": LaunchStatus.LAUNCHING, "launch.attempts": attempt}


def newest(records: list[ScanRecord], after: tuple[dt.datetime, str] | None) -> list[ScanRecord]:
    """GET /scans/list's order, newest first (ties by scan_id), from after the ``after`` key."""
    ordered = sorted(records, key=lambda record: (record.created, record.scan_id), reverse=True)
    return ordered if after is None else [record for record in ordered if (record.created, record.scan_id) < after]


def list_selectors(lookup: dict[str, Any], keys: Sequence[StateKey], unkeyed: bool, priority: int | None) -> list[dict[str, Any]]:
    """GET /scans/list's queries, one per indexed group (newest_first): equalities that lead an index, so that a range
    of creation time beside them reads only that window's scans of the group."""
    if lookup:
        return [lookup]  # (an event of any run: its scans are few)
    if priority is not None:
        wanted = {"request.priority": priority}
        return [{**wanted, FIELD: int(key)} for key in keys] + ([{**wanted, FIELD: None}] if unkeyed else [])
    return [{}] if unkeyed else [{FIELD: int(key)} for key in keys]


def due_teardowns(t: dt.datetime) -> dict[str, Any]:
    """Scans whose teardown is due at ``t`` (completed scans have no ``teardown_at``)."""
    return {"teardown_at": {"$gte": EPOCH, "$lte": t}}


def scheduled_teardowns(t: dt.datetime) -> dict[str, Any]:
    """Scans whose teardown is scheduled after ``t``: being torn down (claimed) or waiting for it."""
    return {"teardown_at": {"$gt": t, "$lte": END_OF_TIME}}


class ManifestStore:
    """The manifests, each read with its progress document merged in (``progress.py``): one read of each collection
    per scan, or per batch of scans."""

    def __init__(self, collection: AsyncCollection, progress: AsyncCollection):
        self.collection = collection
        self.progress = ProgressStore(progress)
        self.silences_watched = False  # every running scan's silence is watched (after unfinished's first pass)

    async def insert(self, doc: dict[str, Any], session: AsyncClientSession | None = None) -> None:
        """Insert a new scan; IdempotencyKeyTaken when another scan already holds its Idempotency-Key."""
        try:
            await self.collection.insert_one({**doc, FIELD: int(state_key(ScanRecord.from_doc(doc)))}, session=session)
        except DuplicateKeyError as exc:
            if duplicated_fields(exc) == {"idempotency_key"}:
                raise IdempotencyKeyTaken(doc["idempotency_key"]) from exc
            raise

    async def get(self, scan_id: str, include_deleted: bool = True) -> ScanRecord:
        # select on scan_id alone and check the flag here: the embedded database's planner leaves the unique index
        # for a collection scan when another field joins the filter
        doc = await self._read(scan_id)
        if doc is None or (doc["is_deleted"] and not include_deleted):
            raise ScanNotFound(scan_id)
        return ScanRecord.from_doc(doc)

    async def _read(self, scan_id: str) -> dict[str, Any] | None:
        """The manifest document with its progress, in one query (GET manifest's hot path: measured faster than two
        concurrent reads, and than the manifest alone when it held the report as a nested document)."""
        pipeline = [
            {"$match": {"scan_id": scan_id}}, {"$limit": 1},
            {"$lookup": {"from": self.progress.collection.name, "localField": "scan_id", "foreignField": "_id", "as": "reported"}},
            {"$project": {"_id": 0, "reported._id": 0}},
        ]  # fmt: skip
        for doc in await (await self.collection.aggregate(pipeline)).to_list():
            reported = doc.pop("reported")
            return merged(doc, reported[0] if reported else None)
        return None

    async def _with_progress(self, docs: list[dict[str, Any]], projection: dict[str, Any]) -> list[ScanRecord]:
        """Records of manifest documents, their progress documents read in one query."""
        reported = await self.progress.of([doc["scan_id"] for doc in docs], projection)
        return [ScanRecord.from_doc(merged(doc, reported.get(doc["scan_id"]))) for doc in docs]

    async def get_by_idempotency_key(self, key: str) -> ScanRecord | None:
        doc = await self.collection.find_one({"idempotency_key": key}, INTERNAL)
        return None if doc is None else ScanRecord.from_doc(merged(doc, await self.progress.get(doc["scan_id"])))

    async def find_scan_ids(self, run_id: int, event_id: int, is_real_event: bool, include_deleted: bool) -> list[str]:
        cursor = self.collection.find(scans_of_event(run_id, event_id, is_real_event, include_deleted), {"_id": 0, "scan_id": 1})
        cursor = cursor.sort("created", 1)
        return [doc["scan_id"] async for doc in cursor]

    async def _set(self, scan_id: str, condition: dict[str, Any], fields: dict[str, Any], key: StateKey | None = None) -> bool:
        """``$set`` fields atomically where ``condition`` also holds, raising the state key to ``key``'s group when
        the fields put the scan there; whether it did (the transitions' compare-and-set)."""
        update = {"$set": {**fields, "last_updated": now()}, **(raise_to(key) if key is not None else {})}
        return await self._updated({"scan_id": scan_id, **condition}, update)

    async def _ended(self, scan_id: str, applied: bool) -> bool:
        """After a transition that may be the first to end a running scan: if it applied, stop watching its silence
        (progress.py). The transitions after those (the teardown's) need not: the scan is unwatched already."""
        if applied:
            await self.progress.unwatch(scan_id)
        return applied

    async def _updated(self, selector: dict[str, Any], update: dict[str, Any], **kwargs: Any) -> bool:
        return (await self.collection.update_one(selector, update, **kwargs)).matched_count > 0

    async def patch(
        self, scan_id: str, fields: dict[str, Any], cluster: dict[str, Any] | None, max_clusters: int
    ) -> ScanRecord:
        """Apply a scanner/starter report in one atomic update per step.

        The progress report goes to the progress collection; the manifest is rewritten only for what the report
        changes in it (the Skymap Scanner repeats its event and scan metadata in every progress report).
        A cluster report is matched on (collector, schedd, cluster_id): the first report appends it, later ones
        replace its ``jobs``/``states``. The guarded ``$push`` makes concurrent first reports append it only once,
        and only while the scan holds fewer than ``max_clusters`` (else ClusterLimitReached).
        """
        fields = dict(fields)
        firsts: dict[str, Any] = {}
        if (progress := fields.pop("progress", None)) is not None:
            t = now()
            recording = asyncio.ensure_future(self.progress.record(scan_id, progress, t))  # both at once (one task)
            try:
                doc = await self.collection.find_one({"scan_id": scan_id}, INTERNAL)
            finally:
                await recording  # its error (the database's, as find_one's) is the one raised
            if doc is None:
                await self.progress.forget(scan_id)  # the upsert made one for an unknown scan
                raise ScanNotFound(scan_id)
            if not (doc.get("times") or {}).get("first_progress"):  # the scan state's timestamp, written once
                firsts = {"$min": {"times.first_progress": t}}
            elif cluster is None and all(doc.get(k) == v for k, v in fields.items()):
                return ScanRecord.from_doc(merged(doc, {"progress": progress, "last_progress": t}))
        fields["last_updated"] = now()
        if cluster is None:
            return await self._update_or_raise({"scan_id": scan_id}, {"$set": fields, **firsts})
        key = {k: cluster[k] for k in ("collector", "schedd", "cluster_id")}
        for _ in range(3):
            if await self._updated(
                {"scan_id": scan_id, "condor_clusters": {"$elemMatch": key}},
                {"$set": {**fields, **{f"condor_clusters.$[c].{k}": v for k, v in cluster.items() if k not in key}}, **firsts},
                array_filters=[{f"c.{k}": v for k, v in key.items()}],
            ) or await self._updated(
                {"scan_id": scan_id, "condor_clusters": {"$not": {"$elemMatch": key}},
                 f"condor_clusters.{max_clusters - 1}": {"$exists": False}},
                {"$set": fields, "$push": {"condor_clusters": cluster}, **firsts},
            ):  # fmt: skip
                return await self.get(scan_id)
            # raises ScanNotFound; else the scan is full, or a concurrent first report won the race: go again
            if len((await self.get(scan_id)).condor_clusters) >= max_clusters:
                raise ClusterLimitReached(max_clusters)
        raise RuntimeError(f"scan {scan_id}: could not record cluster {key}")

    async def _update_or_raise(self, selector: dict[str, Any], update: dict[str, Any]) -> ScanRecord:
        if not await self._updated(selector, update):
            raise ScanNotFound(selector["scan_id"])
        return await self.get(selector["scan_id"])

    async def record_final_result(self, scan_id: str, at: dt.datetime) -> None:
        """The time the final result was first stored (the scan state's SCAN_HAS_FINAL_RESULT)."""
        await self.collection.update_one({"scan_id": scan_id}, {"$min": {"times.final_result": at}, **raise_to(StateKey.FINAL)})
        await self._ended(scan_id, True)

    # ----------------------------------------------------------------------------------------------------------------
    # the launch lifecycle (LaunchStatus): each transition is a compare-and-set on the state it moves from, so two
    # replicas, or a SkyDriver restarted mid-step, never apply one twice; each returns whether it applied. Those that
    # end a scan raise its state key (state_key.py) in the same update; nothing else writes it (progress never does)

    async def claim_for_launch(self, scan_id: str, attempt: int, launcher: str) -> bool:
        """waiting -> launching for the backlog's ``attempt`` (its lease's number, which fences the later steps of
        the launch); launching again for a later attempt when the runner that held it died. Never for a deleted scan:
        a concurrent DELETE takes waiting -> stopped instead (``stop_before_launch``)."""
        earlier = {"launch.status": LaunchStatus.LAUNCHING, "launch.attempts": {"$lt": attempt}}
        return await self._set(
            scan_id, {"is_deleted": False, "$or": [_status_in(LaunchStatus.WAITING), earlier]},
            {"launch.status": LaunchStatus.LAUNCHING, "launch.attempts": attempt, "launch.launcher": launcher},
            StateKey.ACTIVE,  # (keys a scan an earlier version's replica accepted during an upgrade)
        )  # fmt: skip

    async def record_launch_plan(
        self, scan_id: str, attempt: int, scanner_server_args: str, tms_args: list[str], env_vars: dict[str, Any]
    ) -> bool:
        """What launch ``attempt`` starts (the manifest's provenance)."""
        fields = {"scanner_server_args": scanner_server_args, "tms_args": tms_args, "env_vars": env_vars}
        return await self._set(scan_id, _launching(attempt), fields)

    async def mark_launched(self, scan_id: str, attempt: int, state: dict[str, Any]) -> bool:
        """launching -> launched, with what the launcher's ``start`` returned."""
        return await self._set(
            scan_id, _launching(attempt),
            {"launch.status": LaunchStatus.LAUNCHED, "launch.state": state, "launch.reason": None, "times.launched": now()},
        )  # fmt: skip

    async def schedule_retry(self, scan_id: str, attempt: int, reason: str) -> bool:
        """launching -> waiting after a failed attempt (the backlog entry says when to try again)."""
        return await self._set(scan_id, _launching(attempt), {"launch.status": LaunchStatus.WAITING, "launch.reason": reason})

    async def mark_launch_failed(self, scan_id: str, attempt: int, reason: str) -> bool:
        """launching -> failed for good; the teardown is scheduled now (whatever part started is removed)."""
        fields, failed = {"launch.status": LaunchStatus.FAILED, "launch.reason": reason}, StateKey.FAILED
        # with the teardown in the same update when none is scheduled; else (a DELETE's) it is left as it is
        return await self._ended(scan_id, await self._set(
            scan_id, {**_launching(attempt), "teardown_at": None}, {**fields, "teardown_at": now()}, failed
        )) or await self._set(scan_id, _launching(attempt), fields, failed)  # fmt: skip

    async def mark_failed(self, scan_id: str, failure: dict[str, Any], teardown_at: dt.datetime) -> bool:
        """launched -> failed: record why a running scan failed and schedule its teardown, unless it has a final
        result, a failure or a teardown already (two reconcile loops never record two failures)."""
        t = now()
        return await self._ended(scan_id, await self._updated(
            {"scan_id": scan_id, **_status_in(LaunchStatus.LAUNCHED), "complete": False, "failure": None,
             "times.final_result": None, "teardown_at": None},
            {"$set": {"failure": {**failure, "at": t}, "launch.status": LaunchStatus.FAILED, "launch.reason": failure["message"],
                      "teardown_at": teardown_at, "last_updated": t}, **raise_to(StateKey.FAILED)},
        ))  # fmt: skip

    async def request_stop(self, scan_id: str, reason: str, at: dt.datetime) -> bool:
        """A launched scan is to be torn down at ``at`` for ``reason`` (its processes vanished), unless a teardown is
        scheduled or done already."""
        condition = {**_status_in(LaunchStatus.LAUNCHED), "complete": False, "teardown_at": None}
        stopped = await self._set(scan_id, condition, {"launch.reason": reason, "teardown_at": at}, StateKey.STOPPED)
        return await self._ended(scan_id, stopped)

    async def schedule_teardown(self, scan_id: str, at: dt.datetime) -> bool:
        """After a final result: tear down at ``at`` unless a teardown is already scheduled or done."""
        update = {"$set": {"teardown_at": at}, **raise_to(StateKey.STOPPED)}
        applied = await self._updated({"scan_id": scan_id, "complete": False, "teardown_at": None}, update)
        return await self._ended(scan_id, applied)

    async def postpone_teardown(self, scan_id: str, until: dt.datetime) -> bool:
        """A teardown that cannot be done now (a launch in flight, a failed stop) is due again at ``until``, for
        any SkyDriver to claim."""
        return await self._set(scan_id, {"complete": False}, {"teardown_at": until, "teardown_lease": None}, StateKey.STOPPED)

    async def mark_stopping(self, scan_id: str) -> bool:
        """launched -> stopping, as the teardown begins to stop its processes (a failed scan stays failed)."""
        return await self._set(scan_id, _status_in(LaunchStatus.LAUNCHED), {"launch.status": LaunchStatus.STOPPING})

    async def mark_stopped(self, scan_id: str, reason: str) -> bool:
        """Torn down: complete, off the teardown index; waiting/launched/stopping -> stopped with ``reason``, and a
        failed scan keeps its status and reason. A launch in flight is never marked stopped."""
        done = {"complete": True, "teardown_at": None, "times.ended": now()}
        running = _status_in(LaunchStatus.WAITING, LaunchStatus.LAUNCHED, LaunchStatus.STOPPING)
        stopped = {**done, "launch.status": LaunchStatus.STOPPED, "launch.reason": reason}
        return await self._set(scan_id, {"complete": False, **running}, stopped, StateKey.STOPPED) or (
            await self._set(scan_id, {"complete": False, **_status_in(LaunchStatus.FAILED)}, done)
        )

    async def stop_before_launch(self, scan_id: str) -> bool:
        """waiting -> stopped and complete, for a scan deleted in the backlog: nothing to tear down."""
        return await self._set(
            scan_id, _status_in(LaunchStatus.WAITING),
            {"launch.status": LaunchStatus.STOPPED, "launch.reason": "deleted before launch", "complete": True, "times.ended": now()},
            StateKey.STOPPED,
        )  # fmt: skip

    async def clear_teardown(self, scan_id: str) -> bool:
        """Take a completed scan's leftover schedule off the teardown index."""
        return await self._set(scan_id, {"complete": True}, {"teardown_at": None})

    async def mark_deleted(self, scan_id: str) -> ScanRecord:
        """Mark deleted and, unless already done or scheduled, schedule its teardown for now. Idempotent."""
        await self.schedule_teardown(scan_id, now())  # (else one was scheduled or done: the scan ended before)
        return await self._update_or_raise(
            {"scan_id": scan_id}, {"$set": {"is_deleted": True, "last_updated": now()}, **raise_to(StateKey.ABORTED)}
        )

    async def record_rescan(self, scan_id: str, rescan_id: str) -> bool:
        """The latest rescan of this scan (``replaced_by``)."""
        return await self._set(scan_id, {}, {"replaced_by": rescan_id})

    async def claim_due_teardown(self, owner: LeaseOwner, lease: dt.timedelta) -> dict[str, Any] | None:
        """Take one scan whose teardown is due, for ``lease``: two SkyDriver replicas never tear down the same one.

        The claim moves ``teardown_at`` to the lease's end (a claimer that dies leaves it due again then) with a
        compare-and-set on the value it read, and names ``owner`` in ``teardown_lease``, so that a later boot of the
        same instance gives it back at once (``release_earlier_teardowns``). The query is a closed range on the
        indexed field alone: the embedded database reads the whole collection for an open range (nulls sort first)
        or for any extra field.
        """
        t = now()
        due = self.collection.find(due_teardowns(t), {"_id": 0, "scan_id": 1, "teardown_at": 1})
        async for candidate in due.sort("teardown_at", 1).limit(5):
            seen = {"scan_id": candidate["scan_id"], "teardown_at": candidate["teardown_at"]}
            claim = {"teardown_at": t + lease, "teardown_lease": {"instance": owner.instance, "boot": owner.boot}}
            if await self._updated(seen, {"$set": claim}):
                return await self.collection.find_one({"scan_id": candidate["scan_id"]}, INTERNAL)
        return None

    async def release_earlier_teardowns(self, owner: LeaseOwner) -> list[str]:
        """Make due now the teardowns an earlier boot of ``owner``'s instance had claimed (it died mid-teardown):
        called once per boot, so the restarted instance takes them back at once instead of after their lease.

        Every scheduled teardown is read (a closed range on the indexed field, as in ``claim_due_teardown``: scans
        being torn down or waiting WAIT_BEFORE_TEARDOWN, a few) and the owner is checked here.
        """
        t = now()
        scheduled = self.collection.find(scheduled_teardowns(t), {"_id": 0, "scan_id": 1, "teardown_at": 1, "teardown_lease": 1})
        released = []
        async for doc in scheduled:
            held = doc.get("teardown_lease") or {}
            if held.get("instance") != owner.instance or held.get("boot", owner.boot) >= owner.boot:
                continue
            seen = {"scan_id": doc["scan_id"], "teardown_at": doc["teardown_at"]}
            if await self._updated(seen, {"$set": {"teardown_at": t, "teardown_lease": None}}):
                released.append(doc["scan_id"])
        return released

    async def unfinished(self) -> list[ScanRecord]:
        """Scans launched and not yet torn down (for reconciliation after a restart, and each reconcile pass).

        It also mends what replicas of earlier versions leave during a rolling upgrade, so that lists stay exact:
        a scan one accepted and launched after the scans stored before the state key were keyed has no key until it
        ends, and each progress report one records drops the watch on the scan's silence (progress.py). Those read
        here get their key (``$max``: a transition racing this one keeps the higher group) and their watch back; a
        scan is STALLED only STALL_AFTER after its last report, longer than a reconcile interval, so by then it is
        watched again. After the first pass ``silences_watched`` holds.
        """
        # one indexed field in the filter (see claim_due_teardown); the rest is checked here
        docs = [doc async for doc in self.collection.find(UNFINISHED, {**RECONCILED, FIELD: 1}) if not doc["complete"]]
        reported = await self.progress.of([doc["scan_id"] for doc in docs], {**PROGRESS_TIMES, WATCH: 1})
        records = []
        for doc in docs:
            record = ScanRecord.from_doc(merged(doc, seen := reported.get(doc["scan_id"])))
            if (key := state_key(record)) is StateKey.ACTIVE and record.times.last_progress and WATCH not in (seen or {}):
                await self.progress.watch(record.scan_id, record.times.last_progress)
            if FIELD not in doc:
                await self.collection.update_one({"scan_id": record.scan_id}, raise_to(key))
            records.append(record)
        self.silences_watched = True
        return records

    async def silent_running(self, before: dt.datetime) -> list[ScanRecord]:
        """The running scans whose last progress report came before ``before`` (the candidates to be STALLED), read
        through the progress collection's watch: only the watched scans silent since then, never every running scan.
        A watched scan found ended (a report that came after its end set the watch again) is unwatched here."""
        watched = await self.progress.silent(EPOCH, before)
        docs = await find_in(self.collection, "scan_id", list(watched), LISTED)
        running = []
        for record in await self._with_progress(docs, PROGRESS_WHOLE):
            if state_key(record) is StateKey.ACTIVE:
                running.append(record)
            else:
                await self.progress.unwatch(record.scan_id, watched[record.scan_id])
        return running

    async def newest_first(
        self, created_from: dt.datetime, created_to: dt.datetime, after: tuple[dt.datetime, str] | None,
        lookup: dict[str, Any], n: int, keys: Sequence[StateKey] = tuple(StateKey), unkeyed: bool = True,
        priority: int | None = None,
    ) -> list[ScanRecord]:  # fmt: skip
        """Up to ``n`` manifests created within [from, to], newest first (ties by scan_id), after the ``after`` key:
        of a run/event (``lookup``), or else of a ``priority``, of the scans stored with one of the state ``keys`` and,
        when ``unkeyed``, of those without a key (then, without a priority, every scan). Each group is read with one
        query through the (state_key, created, scan_id) or (request.priority, state_key, created, scan_id) index and
        merged here: the embedded database reads no index for an ``$in`` beside a range.

        A run's or one event's scans are read whole through the lookup index (equalities alone: the embedded
        database's planner leaves a compound index for a collection scan when a range joins them; 77 s at 100k) and
        ordered here. Else read in windows of creation time walking back (a minute, doubling while they hold few
        scans, quadrupling while they hold none): the embedded database reads and sorts every document a range matches
        before applying the limit (even through the index), so one query over the whole range would read every scan
        (28 s at 100k); a window costs about the scans it holds, an empty one ~2 ms. (A burst of thousands of scans
        right after a long quiet gap still meets a wide window.) MongoDB serves each window from the index directly.
        """
        narrowed = {f"lookup.{k}": v for k, v in lookup.items()}
        if "run_id" in lookup:  # a run's scans (an event's fewer still) through the lookup index's prefix
            return newest([doc for doc in await self._sorted(narrowed, 0) if created_from <= doc.created <= created_to], after)[:n]
        selectors = list_selectors(narrowed, keys, unkeyed, priority)
        found: list[ScanRecord] = []
        upper, window = created_to, LIST_FIRST_WINDOW
        if after is not None:  # first the scans created in the same millisecond as the last one listed, then older ones
            found = await self._newest_of(selectors, {"created": after[0], "scan_id": {"$lt": after[1]}}, n)
            upper = after[0] - dt.timedelta(milliseconds=1)
        present = now()
        while len(found) < n and upper >= created_from:
            # what lies ahead of this clock (another replica's scans, CLOCK_SKEW) is one window: it holds few scans
            ahead = upper > present
            lower = max(created_from, present if ahead else upper - window)
            batch = await self._newest_of(selectors, {"created": {"$gte": lower, "$lte": upper}}, n - len(found))
            if not ahead and 2 * len(batch) < n - len(found):  # (not len < (n - found) // 2: never true when one is missing)
                window *= 2 if batch else 4  # (empty: a rare group's windows, a dozen back to 1970 at 6 queries each)
            found += batch
            upper = lower - dt.timedelta(milliseconds=1)  # creation times are stored in milliseconds
        return found

    async def _newest_of(self, selectors: list[dict[str, Any]], created: dict[str, Any], n: int) -> list[ScanRecord]:
        """The newest ``n`` of the scans any selector matches within ``created`` (the selectors' queries sent at once),
        with their progress."""
        found = await asyncio.gather(*(self._newest_docs({**selector, **created}, n) for selector in selectors))
        docs = [doc for docs in found for doc in docs]
        if len(selectors) > 1:
            docs = sorted(docs, key=lambda doc: (doc["created"], doc["scan_id"]), reverse=True)[:n]
        return await self._with_progress(docs, PROGRESS_WHOLE)

    async def _newest_docs(self, selector: dict[str, Any], n: int) -> list[dict[str, Any]]:
        return await self.collection.find(selector, LISTED).sort([("created", -1), ("scan_id", -1)]).limit(n).to_list()

    async def _sorted(self, selector: dict[str, Any], n: int) -> list[ScanRecord]:
        return await self._with_progress(await self._newest_docs(selector, n), PROGRESS_WHOLE)

    async def watched_fields(self, scan_ids: list[str]) -> list[ScanRecord]:
        """What progress streams follow, for many scans in one indexed read (never the event or the cluster list)."""
        docs, reported = await asyncio.gather(
            find_in(self.collection, "scan_id", scan_ids, WATCHED), self.progress.of(scan_ids, PROGRESS_WHOLE)
        )
        return [ScanRecord.from_doc(merged(doc, reported.get(doc["scan_id"]))) for doc in docs]

    async def not_ended(self) -> list[ScanRecord]:
        """Scans whose launch status may still change (in the backlog, launching, running, stopping), with what their
        scan state is derived from: for metrics, which must not read the ended scans (nearly all, and ever more)."""
        cursor = self.collection.find({"launch.status": {"$in": list(NOT_ENDED)}}, WATCHED)
        return await self._with_progress(await cursor.to_list(), PROGRESS_WHOLE)

    async def count_ended(self, not_ended: int) -> dict[LaunchStatus, int]:
        """Ended scans by launch status, given how many have not ended: failed ones are few and counted through the
        index; stopped ones are the rest of the collection's size (collection metadata), as counting them costs a read
        of each on the embedded database (5-6 s at 10k scans). Scans changing status meanwhile may shift a few."""
        failed, total = await asyncio.gather(
            self.collection.count_documents({"launch.status": LaunchStatus.FAILED}), self.collection.estimated_document_count()
        )
        return {LaunchStatus.STOPPED: max(0, total - not_ended - failed), LaunchStatus.FAILED: failed}
