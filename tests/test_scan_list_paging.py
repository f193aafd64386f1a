"""GET /scans/list pages: every filter pages through every match exactly once, newest first; an event's scans are read
through the lookup index; a walk back through creation time widens its windows until the last scan missing."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from skydriver.database import Database
from skydriver.database.manifests import EPOCH, LISTED, ManifestStore, now
from skydriver.database.progress import WATCH
from skydriver.database.records import ScanRecord
from skydriver.database.state_key import FIELD, key_earlier_scans
from skydriver.models import ScanListArgs
from skydriver.scan_list import list_scans, state_matches
from skydriver.scan_status import Phase, is_terminal, scan_state
from tests.conftest import make_settings
from tests.test_scan_status import STALL_AFTER, T0, expected_cases, progress, stored_scan

FILTERS: list[dict[str, Any]] = [
    {}, {"state": ["FAILED"]}, {"state": ["IN_PROGRESS"]}, {"state": ["STALLED"]}, {"state": ["PENDING__PRESTARTUP", "ABORTED"]},
    {"state": ["SCAN_HAS_FINAL_RESULT"], "is_terminal": True}, {"is_terminal": False}, {"run_id": 1},
    {"run_id": 3, "state": ["STOPPED"]}, {"run_id": 2, "event_id": 4}, {"run_id": 2, "event_id": 4, "created_after": T0 - dt.timedelta(days=1)},
    {"event_id": 4}, {"priority": 5}, {"created_after": T0 - dt.timedelta(days=1)},
    {"created_before": T0 - dt.timedelta(days=1), "state": ["IN_PROGRESS"]}, {"include_deleted": True, "state": ["ABORTED"]},
    {"state": ["FAILED", "STOPPED", "STALLED"]}, {"is_terminal": True, "state": ["ABORTED", "FAILED"], "include_deleted": True},
    {"state": ["PENDING", "FAILED__PRESTARTUP"], "created_after": T0 - dt.timedelta(days=2)},
    {"state": ["STOPPED"], "priority": 5}, {"priority": 0}, {"priority": 5, "state": ["SCAN_HAS_FINAL_RESULT"]},
    {"priority": 0, "is_terminal": False}, {"priority": 5, "created_after": T0 - dt.timedelta(days=2)},
    {"priority": 0, "state": ["STALLED", "ABORTED"], "include_deleted": True, "created_before": T0 - dt.timedelta(hours=3)},
    {"state": ["STALLED", "SCAN_HAS_FINAL_RESULT"]}, {"state": ["STALLED__PARTIAL_RESULT_GENERATED", "FAILED"], "run_id": 3},
    {"state": ["STALLED"], "priority": 0, "created_after": T0 - dt.timedelta(days=3)},
]  # fmt: skip


def spread_scans(count: int, seed: int) -> list[dict[str, Any]]:
    """Scans in every state (half of the running ones stalled) over days, in bursts and gaps (windows double and shrink), with creation-time ties (the
    cursor's second key), three runs of unequal size, some deleted and some urgent."""
    rng = random.Random(seed)
    cases = expected_cases()
    created, docs = T0, []
    for n in range(count):
        if rng.random() > 0.3:  # else the same millisecond as the scan before
            created -= dt.timedelta(seconds=rng.choice([0.01, 1, 30, 600, 7200, 40000]))
        _, doc, _ = rng.choice(cases)
        doc = {**doc, "scan_id": uuid.UUID(int=rng.getrandbits(128)).hex, "created": created,
               "lookup": {"run_id": rng.choice([1, 2, 2, 3, 3, 3]), "event_id": n % 7, "is_real_event": True},
               "request": {"priority": rng.choice([0, 0, 0, 5])}}  # fmt: skip
        if doc["times"].get("last_progress") and rng.random() < 0.5:  # else stalled long ago
            doc["times"] = {**doc["times"], "last_progress": dt.datetime.now(dt.UTC)}
        if rng.random() < 0.1:
            doc.update(is_deleted=True, teardown_at=doc.get("teardown_at") or created)
        docs.append(doc)
    return docs


def matches(doc: dict[str, Any], args: ScanListArgs, t: dt.datetime) -> bool:
    """The filters' meaning, said once more without the database."""
    code = scan_state(ScanRecord.from_doc(doc), t, STALL_AFTER)[0]
    lookup = doc["lookup"]
    return (
        (args.include_deleted or not doc["is_deleted"]) and state_matches(code, args.state)
        and (args.is_terminal is None or is_terminal(code) == args.is_terminal)
        and args.run_id in (None, lookup["run_id"]) and args.event_id in (None, lookup["event_id"])
        and args.priority in (None, doc["request"]["priority"])
        and (args.created_after or doc["created"]) <= doc["created"] <= (args.created_before or doc["created"])
    )  # fmt: skip


@pytest.mark.parametrize("watched", [False, True], ids=["before-reconcile", "silences-watched"])
async def test_every_filter_pages_through_each_match_once_newest_first(
    database: Database, mongo_uri: str, tmp_path: Path, watched: bool
) -> None:
    """Half the scans stored as this version stores them, half by a version before the state key and keyed since;
    their progress in the manifest, as a version before the progress collection stored it. STALLED is read among the
    running scans until a reconcile pass has watched their silences, then through the watch."""
    scans = spread_scans(250, seed=11)
    for doc in scans[::2]:
        await database.manifests.insert(doc)
    await database.manifests.collection.insert_many([dict(doc) for doc in scans[1::2]])
    await database.db.migrations.delete_many({})
    assert await key_earlier_scans(database.db)
    if watched:
        await database.manifests.unfinished()
    assert database.manifests.silences_watched == watched
    settings = make_settings(mongo_uri, tmp_path, stall_after=STALL_AFTER)
    t = dt.datetime.now(dt.UTC)
    for query in FILTERS:
        args = ScanListArgs(**query, limit=20)
        newest_first = sorted(scans, key=lambda d: (d["created"], d["scan_id"]), reverse=True)
        expected = [doc["scan_id"] for doc in newest_first if matches(doc, args, t)]
        seen, cursor = [], None
        while True:
            page = await list_scans(database, args.model_copy(update={"cursor": cursor}), settings)
            seen += [s["scan_id"] for s in page["scans"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == expected and len(set(seen)) == len(seen), query
        assert expected, f"{query} matched nothing: a weak case"


class Finds(monitoring.CommandListener):
    """Counts the find commands a client sends, and keeps the last one's filter."""

    count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += event.command_name == "find"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_walk_back_to_the_epoch_doubles_its_window_to_the_last_one_missing(mongo_uri: str, database: Database) -> None:
    """Windows stay small only while they hold scans: the last scan missing costs a few dozen queries, not one per
    minute back to 1970."""
    finds = Finds()
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True, event_listeners=[finds])
    store = ManifestStore(client[database.db.name].manifests, client[database.db.name].progress)
    await store.insert({**stored_scan(Phase.PRESTARTUP), "scan_id": "only", "created": now() - dt.timedelta(hours=1)})
    try:
        assert [record.scan_id for record in await store.newest_first(EPOCH, now(), None, {}, 2)] == ["only"]
        assert finds.count < 60, finds.count
    finally:
        await client.close()


@pytest.mark.parametrize("selector", [{"lookup.run_id": 2, "lookup.event_id": 4}, {"lookup.run_id": 2}], ids=["event", "run"])
async def test_a_runs_or_an_events_scans_are_read_through_the_lookup_index(database: Database, selector: dict) -> None:
    collection = database.manifests.collection
    await collection.insert_many([dict(doc) for doc in spread_scans(50, seed=3)])
    cursor = collection.find(selector, LISTED).sort([("created", -1), ("scan_id", -1)])
    plan = str((await cursor.explain())["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in plan and "COLLSCAN" not in plan, plan


@pytest.mark.parametrize("key", [0, None], ids=["keyed", "unkeyed"])
@pytest.mark.parametrize("after", [False, True], ids=["window", "cursor"])
async def test_a_priority_is_read_through_its_index_one_group_at_a_time(database: Database, key: int | None, after: bool) -> None:
    """Each query of a priority's list (a window of creation time, or the millisecond of the cursor) walks the
    priority's index for one state key, scans without the key included."""
    collection = database.manifests.collection
    await collection.insert_many([dict(doc) for doc in spread_scans(50, seed=3)])
    created = {"created": T0, "scan_id": {"$lt": "f"}} if after else {"created": {"$gte": T0 - dt.timedelta(days=1), "$lte": T0}}
    cursor = collection.find({"request.priority": 5, FIELD: key, **created}, LISTED).sort([("created", -1), ("scan_id", -1)])
    plan = str((await cursor.explain())["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in plan and "COLLSCAN" not in plan and "request.priority" in plan, plan


@pytest.mark.parametrize("query", [{}, {"priority": 0}, {"state": ["PENDING"]}], ids=["all", "priority", "state"])
async def test_scans_created_ahead_of_this_clock_are_listed_first(
    database: Database, mongo_uri: str, tmp_path: Path, query: dict
) -> None:
    """Another replica's clock may run ahead (CLOCK_SKEW): its scans come first, the rest follow in order."""
    t = now()
    for n, offset in enumerate([dt.timedelta(hours=3), dt.timedelta(minutes=1), -dt.timedelta(minutes=1), -dt.timedelta(days=3)]):
        doc = {**stored_scan(Phase.PRESTARTUP), "scan_id": f"s{n}", "created": t + offset, "request": {"priority": 0}}
        await database.manifests.insert(doc)
    settings = make_settings(mongo_uri, tmp_path, stall_after=STALL_AFTER)
    seen, cursor = [], None
    while True:
        page = await list_scans(database, ScanListArgs(**query, limit=1, cursor=cursor), settings)
        seen += [scan["scan_id"] for scan in page["scans"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == ["s0", "s1", "s2", "s3"]


async def test_stalled_is_read_through_the_watched_silences_and_what_others_left_is_mended(
    database: Database, mongo_uri: str, tmp_path: Path
) -> None:
    """STALLED pages read the running scans silent for STALL_AFTER through the progress collection's watch, once a
    reconcile pass has watched every running scan: one whose last report an earlier version's replica recorded (no
    watch) is watched again by it; a report that came after a scan ended (a watch again) is unwatched by the list."""
    store, t = database.manifests, now()
    long_ago = t - dt.timedelta(seconds=2 * STALL_AFTER)
    failure = {"source": "scanner", "code": "X", "message": "x", "exit_code": 1, "log_tail": None}
    for n, name in enumerate(["reporting", "silent", "earlier-replica", "ended-late", "silent-2"]):
        created = t - dt.timedelta(minutes=n)
        await store.insert({**stored_scan(Phase.WAITING_ON_SCANNER_SERVER_STARTUP), "scan_id": name, "created": created, "request": {"priority": 0}})
        await store.patch(name, {"progress": progress(40)}, None, 4)
    for name in ("silent", "silent-2", "ended-late", "earlier-replica"):
        await store.progress.record(name, progress(40), long_ago)
    await store.progress.collection.update_one({"_id": "earlier-replica"}, {"$unset": {WATCH: ""}})  # as it records one
    assert await store.mark_failed("ended-late", failure, t)
    await store.progress.record("ended-late", progress(40), long_ago)  # its last report, after it failed
    settings = make_settings(mongo_uri, tmp_path, stall_after=STALL_AFTER)

    async def pages(**query: Any) -> list[str]:
        seen, cursor = [], None
        while True:
            page = await list_scans(database, ScanListArgs(**query, limit=1, cursor=cursor), settings)
            seen += [scan["scan_id"] for scan in page["scans"]]
            assert all(scan["status"]["scan_state"].startswith(tuple(query["state"])) for scan in page["scans"])
            if (cursor := page["next_cursor"]) is None:
                return seen

    assert not store.silences_watched and await pages(state=["STALLED"]) == ["silent", "earlier-replica", "silent-2"]
    await store.unfinished()  # the reconcile pass
    assert store.silences_watched
    assert set(await store.progress.silent(EPOCH, t)) == {"silent", "earlier-replica", "ended-late", "silent-2"}
    assert await pages(state=["STALLED"]) == ["silent", "earlier-replica", "silent-2"]
    assert set(await store.progress.silent(EPOCH, t)) == {"silent", "earlier-replica", "silent-2"}
    older = await pages(state=["STALLED__PARTIAL_RESULT_GENERATED"], created_before=t - dt.timedelta(minutes=2))
    assert older == ["earlier-replica", "silent-2"]
    assert await pages(state=["STALLED"], created_after=t - dt.timedelta(minutes=1)) == ["silent"]
    # beside another group's state, merged into its order; a running scan an earlier replica stored unkeyed since (read
    # by the walk too, as the scans without a key are when final results may match) is listed once
    await store.collection.update_one({"scan_id": "silent-2"}, {"$unset": {FIELD: ""}})
    assert await pages(state=["STALLED", "FAILED"]) == ["silent", "earlier-replica", "ended-late", "silent-2"]
    assert await pages(state=["STALLED", "SCAN_HAS_FINAL_RESULT"]) == ["silent", "earlier-replica", "silent-2"]
    assert await pages(state=["STALLED", "FAILED"], priority=0) == ["silent", "earlier-replica", "ended-late", "silent-2"]
