"""The launch lifecycle's transitions on a real database: each applies from the states it names only, once, and
says whether it did; two replicas applying one at the same time apply it once between them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from skydriver.database.manifests import ManifestStore, now
from skydriver.database.records import LaunchStatus as S

ATTEMPT = 1  # the backlog attempt that holds each stored launch in flight
FAILURE = {"source": "scanner", "code": "EXIT_CODE_1", "message": "the scanner server exited with code 1", "exit_code": 1}


@pytest.fixture
async def store(mongo_uri: str) -> AsyncIterator[ManifestStore]:
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True)
    collection = client[f"lifecycle_{uuid.uuid4().hex[:12]}"].manifests
    await collection.create_index("scan_id", unique=True)
    yield ManifestStore(collection, collection.database.progress)
    await client.drop_database(collection.database.name)
    await client.close()


def stored(status: S, **fields: Any) -> dict[str, Any]:
    launch = {"launcher": "local", "status": status, "reason": None, "attempts": ATTEMPT, "state": None}
    return {"scan_id": uuid.uuid4().hex, "is_deleted": False, "complete": False, "teardown_at": None, "failure": None,
            "times": {}, "launch": launch, **fields}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Transition:
    name: str
    apply: Callable[[ManifestStore, str], Awaitable[bool]]
    moves: dict[S, S]  # from -> to, for every state it applies from

    def __str__(self) -> str:
        return self.name


TRANSITIONS = [
    Transition(
        "claim_for_launch", lambda m, s: m.claim_for_launch(s, ATTEMPT + 1, "local"),
        {S.WAITING: S.LAUNCHING, S.LAUNCHING: S.LAUNCHING},  # launching: an earlier attempt's, taken over
    ),
    Transition("mark_launched", lambda m, s: m.mark_launched(s, ATTEMPT, {"pid": 7}), {S.LAUNCHING: S.LAUNCHED}),
    Transition("schedule_retry", lambda m, s: m.schedule_retry(s, ATTEMPT, "ApiException: 503"), {S.LAUNCHING: S.WAITING}),
    Transition("mark_launch_failed", lambda m, s: m.mark_launch_failed(s, ATTEMPT, "launch failed"), {S.LAUNCHING: S.FAILED}),
    Transition("mark_failed", lambda m, s: m.mark_failed(s, FAILURE, now()), {S.LAUNCHED: S.FAILED}),
    Transition("request_stop", lambda m, s: m.request_stop(s, "its processes vanished", now()), {S.LAUNCHED: S.LAUNCHED}),
    Transition("mark_stopping", lambda m, s: m.mark_stopping(s), {S.LAUNCHED: S.STOPPING}),
    Transition(
        "mark_stopped", lambda m, s: m.mark_stopped(s, "finished"),
        {S.WAITING: S.STOPPED, S.LAUNCHED: S.STOPPED, S.STOPPING: S.STOPPED, S.FAILED: S.FAILED},
    ),  # fmt: skip
    Transition("stop_before_launch", lambda m, s: m.stop_before_launch(s), {S.WAITING: S.STOPPED}),
]  # fmt: skip


@pytest.mark.parametrize("transition", TRANSITIONS, ids=str)
async def test_each_transition_applies_once_and_only_from_its_states(store: ManifestStore, transition: Transition) -> None:
    for status in S:
        doc = stored(status)
        await store.insert(doc)
        before = await store.get(doc["scan_id"])
        applied = await transition.apply(store, doc["scan_id"])
        after = await store.get(doc["scan_id"])
        assert applied is (status in transition.moves), (transition.name, status)
        if not applied:
            assert after == before, f"{transition.name} from {status} changed the scan"
            continue
        assert after.launch.status is transition.moves[status] and after != before
        assert await transition.apply(store, doc["scan_id"]) is False, f"{transition.name} applied twice from {status}"
        assert await store.get(doc["scan_id"]) == after


@pytest.mark.parametrize("transition", TRANSITIONS, ids=str)
async def test_two_replicas_applying_a_transition_at_once_apply_it_once(store: ManifestStore, transition: Transition) -> None:
    doc = stored(next(iter(transition.moves)))
    await store.insert(doc)
    assert sorted(await asyncio.gather(*(transition.apply(store, doc["scan_id"]) for _ in range(4)))) == [False] * 3 + [True]


async def test_a_later_backlog_attempt_takes_a_launch_over_and_the_earlier_one_moves_nothing(store: ManifestStore) -> None:
    """A runner whose lease ran out mid-launch (it hung, or its SkyDriver died) finds a later attempt in charge."""
    doc = stored(S.LAUNCHING)
    await store.insert(doc)
    scan_id = doc["scan_id"]
    assert await store.claim_for_launch(scan_id, ATTEMPT - 1, "local") is False  # an older attempt never takes it back
    assert await store.claim_for_launch(scan_id, ATTEMPT + 1, "local") is True
    for late in (store.record_launch_plan(scan_id, ATTEMPT, "--late", [], {}), store.mark_launched(scan_id, ATTEMPT, {}),
                 store.schedule_retry(scan_id, ATTEMPT, "late"), store.mark_launch_failed(scan_id, ATTEMPT, "late")):  # fmt: skip
        assert await late is False
    assert await store.record_launch_plan(scan_id, ATTEMPT + 1, "--nsides 8:0", ["start"], {}) is True
    assert await store.mark_launched(scan_id, ATTEMPT + 1, {"pid": 8}) is True
    launch = (await store.get(scan_id)).launch
    assert (launch.status, launch.attempts, launch.state) == (S.LAUNCHED, ATTEMPT + 1, {"pid": 8})


async def test_a_deleted_scan_is_never_claimed_for_launch(store: ManifestStore) -> None:
    doc = stored(S.WAITING, is_deleted=True)
    await store.insert(doc)
    assert await store.claim_for_launch(doc["scan_id"], ATTEMPT + 1, "local") is False


async def test_a_failed_launch_schedules_its_teardown_now_but_keeps_one_already_scheduled(store: ManifestStore) -> None:
    fresh, deleted = stored(S.LAUNCHING), stored(S.LAUNCHING, teardown_at=now() + dt.timedelta(seconds=90), is_deleted=True)
    for doc in (fresh, deleted):
        await store.insert(doc)
        assert await store.mark_launch_failed(doc["scan_id"], ATTEMPT, "launch failed after 5 attempt(s)") is True
    assert (await store.get(fresh["scan_id"])).teardown_at <= now()  # type: ignore[operator]
    assert (await store.get(deleted["scan_id"])).teardown_at == deleted["teardown_at"]  # its claimer's lease stands


async def test_a_scan_with_a_final_result_or_a_teardown_is_never_marked_failed(store: ManifestStore) -> None:
    for doc in (stored(S.LAUNCHED, times={"final_result": now()}), stored(S.LAUNCHED, teardown_at=now())):
        await store.insert(doc)
        assert await store.mark_failed(doc["scan_id"], FAILURE, now()) is False
        assert (await store.get(doc["scan_id"])).launch.status is S.LAUNCHED


async def test_a_failed_scan_keeps_its_status_and_reason_when_torn_down(store: ManifestStore) -> None:
    doc = stored(S.LAUNCHED)
    await store.insert(doc)
    assert await store.mark_failed(doc["scan_id"], FAILURE, now())
    assert await store.mark_stopping(doc["scan_id"]) is False
    assert await store.mark_stopped(doc["scan_id"], "finished")
    done = await store.get(doc["scan_id"])
    assert (done.launch.status, done.launch.reason, done.complete, done.teardown_at) == (S.FAILED, FAILURE["message"], True, None)
    assert done.launch.status.is_terminal and not S.STOPPING.is_terminal
