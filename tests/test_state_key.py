"""The stored state key: the group of every state code, raised by the lifecycle transitions (never by a progress
report), given once to the scans stored before it, and read by GET /scans/list through its index."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from skydriver.database import Database, open_database
from skydriver.database.manifests import LISTED, ManifestStore, now
from skydriver.database.progress import WATCH
from skydriver.database.records import ScanRecord
from skydriver.database.state_key import FIELD, StateKey, key_earlier_scans, state_key
from skydriver.models import ScanListArgs
from skydriver.scan_list import list_scans, stored_keys
from skydriver.scan_status import Phase, key_of, scan_state
from tests.conftest import make_settings
from tests.test_scan_status import STALL_AFTER, T0, at, expected_cases, progress, stored_scan


@pytest.fixture
async def database(mongo_uri: str, tmp_path: Path) -> AsyncIterator[Database]:
    opened = await open_database(make_settings(mongo_uri, tmp_path))
    yield opened
    await opened.close()


async def stored_key(store: ManifestStore, scan_id: str) -> int | None:
    doc = await store.collection.find_one({"scan_id": scan_id})
    assert doc is not None
    return doc.get(FIELD)


async def derived_key(store: ManifestStore, scan_id: str) -> StateKey:
    """The group of the state GET /scan/ID/status shows now."""
    return key_of(scan_state(await store.get(scan_id), now(), STALL_AFTER)[0])


@pytest.mark.parametrize(("code", "doc", "seconds"), expected_cases(), ids=[c[0] for c in expected_cases()])
def test_each_state_code_belongs_to_the_group_its_stored_fields_give(code: str, doc: dict[str, Any], seconds: float) -> None:
    assert state_key(ScanRecord.from_doc(doc)) == key_of(code) == key_of(code.split("__", 1)[0])


async def watched(store: ManifestStore, scan_id: str) -> bool:
    """Whether the scan's silence is watched (progress.py): while it runs, after a report."""
    return await store.progress.collection.find_one({"_id": scan_id, WATCH: {"$exists": True}}) is not None


async def test_each_transition_keeps_the_key_on_the_derived_group(database: Database) -> None:
    """... and the ones that end a scan stop watching its silence."""
    store = database.manifests

    async def new_scan() -> str:
        scan_id = uuid.uuid4().hex
        await store.insert({**stored_scan(Phase.PRESTARTUP), "scan_id": scan_id, "created": now()})
        assert await stored_key(store, scan_id) == StateKey.ACTIVE
        return scan_id

    async def launched() -> str:
        scan_id = await new_scan()
        assert await store.claim_for_launch(scan_id, 1, "local") and await store.mark_launched(scan_id, 1, {})
        await store.patch(scan_id, {"progress": progress(40)}, None, 4)
        return scan_id

    async def check(scan_id: str, expected: StateKey) -> None:
        assert await stored_key(store, scan_id) == await derived_key(store, scan_id) == expected
        reported = await store.progress.get(scan_id) is not None
        assert await watched(store, scan_id) == (reported and expected is StateKey.ACTIVE)

    scan_id = await new_scan()
    assert await store.claim_for_launch(scan_id, 1, "local") and await store.mark_launch_failed(scan_id, 1, "403 Forbidden")
    await check(scan_id, StateKey.FAILED)
    assert await store.mark_stopped(scan_id, "torn down")
    await check(scan_id, StateKey.FAILED)  # a failed scan stays failed through its teardown

    scan_id = await launched()
    await check(scan_id, StateKey.ACTIVE)
    failure = {"source": "scanner", "code": "EXIT_CODE_1", "message": "exited with 1", "exit_code": 1, "log_tail": None}
    assert await store.mark_failed(scan_id, failure, now())
    await check(scan_id, StateKey.FAILED)
    await store.mark_deleted(scan_id)
    await check(scan_id, StateKey.ABORTED)

    scan_id = await launched()
    assert await store.request_stop(scan_id, "its processes vanished", now())
    await check(scan_id, StateKey.STOPPED)
    assert await store.mark_stopping(scan_id) and await store.mark_stopped(scan_id, "its processes vanished")
    await check(scan_id, StateKey.STOPPED)

    scan_id = await launched()
    await store.record_final_result(scan_id, now())
    await check(scan_id, StateKey.FINAL)
    assert await store.schedule_teardown(scan_id, now())
    await store.mark_deleted(scan_id)  # a final result beats a later delete
    await check(scan_id, StateKey.FINAL)

    scan_id = await new_scan()
    await store.mark_deleted(scan_id)
    assert await store.stop_before_launch(scan_id)
    await check(scan_id, StateKey.ABORTED)


class Updates(monitoring.CommandListener):
    """Keeps every update command a client sends."""

    def __init__(self) -> None:
        self.commands: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "update":
            self.commands.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_progress_reports_never_write_the_key(mongo_uri: str, database: Database) -> None:
    updates = Updates()
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True, event_listeners=[updates])
    store = ManifestStore(client[database.db.name].manifests, client[database.db.name].progress)
    try:
        scan_id = uuid.uuid4().hex
        await store.insert({**stored_scan(Phase.WAITING_ON_SCANNER_SERVER_STARTUP), "scan_id": scan_id, "created": now()})
        cluster = {"collector": "c", "schedd": "s", "cluster_id": 1, "jobs": 10}
        await store.patch(scan_id, {"progress": progress(40), "event_metadata": {"run_id": 1, "event_id": 2}}, None, 4)
        await store.patch(scan_id, {"progress": progress(80)}, cluster, 4)
        await store.patch(scan_id, {"progress": progress(90)}, {**cluster, "jobs": 9}, 4)
        assert len(updates.commands) >= 3
        assert not [c for c in updates.commands if FIELD in str(c["updates"])], updates.commands
        assert await stored_key(store, scan_id) == StateKey.ACTIVE
    finally:
        await client.close()


def earlier(code: str, doc: dict[str, Any], n: int) -> dict[str, Any]:
    """A scan in the state ``code`` as a SkyDriver before the key stored it."""
    return {**doc, "scan_id": f"{n:04d}-{code}".lower(), "created": T0 - dt.timedelta(minutes=n)}


async def test_scans_stored_before_the_key_are_keyed_once_but_final_results(database: Database) -> None:
    store, db = database.manifests, database.db
    cases = expected_cases()
    docs = [earlier(code, doc, n) for n, (code, doc, _) in enumerate(cases * 3)]
    await store.collection.insert_many([dict(doc) for doc in docs])
    await db.migrations.delete_many({})  # as a database an earlier version made
    unfinal = [doc for doc in docs if not doc["times"].get("final_result")]
    assert await key_earlier_scans(db) == len(unfinal)
    for doc in docs:
        code = scan_state(ScanRecord.from_doc(doc), at(100), STALL_AFTER)[0]
        expected = None if key_of(code) is StateKey.FINAL else key_of(code)
        assert await stored_key(store, doc["scan_id"]) == expected, doc["scan_id"]
    assert await key_earlier_scans(db) is None  # once: the next start reads one marker


async def test_replicas_keying_at_once_beside_live_transitions_agree(database: Database) -> None:
    """Two replicas start together while a third deletes, fails and finishes scans: each key ends on its group."""
    store, db = database.manifests, database.db
    cases = [(code, doc) for code, doc, _ in expected_cases()]
    docs = [earlier(code, doc, n) for n, (code, doc) in enumerate(cases * 4)]
    await store.collection.insert_many([dict(doc) for doc in docs])
    await db.migrations.delete_many({})
    running = [doc["scan_id"] for doc in docs if doc["launch"]["status"] == "launched" and not doc["complete"]]
    failure = {"source": "scanner", "code": "EXIT_CODE_1", "message": "exited with 1", "exit_code": 1, "log_tail": None}

    async def live() -> None:
        for n, scan_id in enumerate(running):
            await asyncio.sleep(0)
            if n % 3 == 0:
                await store.mark_deleted(scan_id)
            elif n % 3 == 1:
                await store.mark_failed(scan_id, failure, now())
            else:
                await store.record_final_result(scan_id, now())

    await asyncio.gather(key_earlier_scans(db), key_earlier_scans(db), live())
    for doc in await store.collection.find({}, {**LISTED, FIELD: 1}).to_list():
        group = key_of(scan_state(ScanRecord.from_doc(doc), now(), STALL_AFTER)[0])
        assert doc.get(FIELD) == group or group is StateKey.FINAL, doc["scan_id"]
    assert running and await db.migrations.count_documents({}) == 1


async def test_lists_read_every_scan_until_earlier_scans_are_keyed(mongo_uri: str, tmp_path: Path) -> None:
    """Opened on scans an earlier version stored, a list is exact at once; rare states use the key once it is given."""
    settings = make_settings(mongo_uri, tmp_path, stall_after=STALL_AFTER)
    first = await open_database(settings)
    docs = [earlier(code, doc, n) for n, (code, doc, _) in enumerate(expected_cases() * 2)]
    await first.manifests.collection.insert_many([dict(doc) for doc in docs])
    await first.db.migrations.delete_many({})
    await first.close()
    database = await open_database(settings)
    try:
        assert not database.scans_keyed
        args = ScanListArgs(state=["FAILED", "STOPPED"], include_deleted=True)
        expected = sorted(d["scan_id"] for d in docs if d["scan_id"].split("-")[1].startswith(("failed", "stopped")))
        assert sorted(s["scan_id"] for s in (await list_scans(database, args, settings))["scans"]) == expected
        await database.key_earlier_scans()
        assert database.scans_keyed and stored_keys(args) == [StateKey.STOPPED, StateKey.FAILED]
        assert sorted(s["scan_id"] for s in (await list_scans(database, args, settings))["scans"]) == expected
    finally:
        await database.close()
    reopened = await open_database(settings)
    assert reopened.scans_keyed
    await reopened.close()


async def test_a_rare_state_is_read_through_the_key_index(database: Database) -> None:
    cursor = database.manifests.collection.find({FIELD: int(StateKey.FAILED), "created": {"$gte": T0, "$lte": T0}}, LISTED)
    plan = str((await cursor.sort([("created", -1), ("scan_id", -1)]).explain())["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in plan and "COLLSCAN" not in plan and FIELD in plan, plan


async def test_scans_an_earlier_replica_launched_after_the_keying_get_their_key_from_the_reconcile_read(
    database: Database, mongo_uri: str, tmp_path: Path
) -> None:
    """During a rolling upgrade an earlier version's replica still accepts and launches scans, unkeyed: the reconcile
    pass's read of the launched scans keys them, and running-state lists then show them."""
    store = database.manifests
    assert database.scans_keyed  # the keying was done (a new database)
    docs = [earlier(code, doc, n) for n, (code, doc, _) in enumerate(expected_cases())]
    await store.collection.insert_many([dict(doc) for doc in docs])
    launched = [doc["scan_id"] for doc in docs if doc["launch"]["status"] in ("launching", "launched") and not doc["complete"]]
    settings = make_settings(mongo_uri, tmp_path, stall_after=STALL_AFTER)
    args = ScanListArgs(state=["PENDING", "IN_PROGRESS", "STALLED"], include_deleted=True, limit=1000)

    async def listed() -> set[str]:
        return {scan["scan_id"] for scan in (await list_scans(database, args, settings))["scans"]}

    assert not await listed() & set(launched)
    assert {scan.scan_id for scan in await store.unfinished()} == set(launched)
    for scan_id in launched:
        assert await stored_key(store, scan_id) == await derived_key(store, scan_id)
    running = {scan_id for scan_id in launched if await derived_key(store, scan_id) is StateKey.ACTIVE}
    assert running and await listed() == running
