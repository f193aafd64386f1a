"""GET /scan/SCAN_ID/events (server-sent events) and GET manifest ?wait=: following a scan without polling."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest

from skydriver.config import Settings
from skydriver.launchers import ScanFailure
from skydriver.reconcile import fail
from skydriver.rest.scan_events import KEEPALIVE_SECONDS, ScanEventsHandler
from skydriver.server import SkyDriver, start
from tests.conftest import scan_body, token
from tests.http_client import EventStream, HttpClient


def progress_report(done: int, predicted: int, finished: bool = False) -> dict[str, Any]:
    """A progress report shaped like the Skymap Scanner's (the reference scanner sends the same)."""
    stats: dict[str, Any] = {"start": {}, "runtime": {}}
    if finished:
        stats["finished"] = True
    return {
        "summary": "", "epilogue": "", "predictive_scanning_threshold": 1.0,
        "tallies": {"est. scan percent": f"{done}/{predicted} ({done / predicted:.4f})"},
        "processing_stats": stats, "last_updated": f"2026-11-28 04:00:{done % 60:02d}",
    }  # fmt: skip


async def new_scan(user: HttpClient, event: dict[str, Any]) -> str:
    response = await user.post("/scan", scan_body(event))
    assert response.status == 200, response
    return str(response.json()["scan_id"])


async def test_a_stream_reports_state_progress_result_and_end(driver: SkyDriver, user: HttpClient, system: HttpClient,
                                                              modern_event: dict, production_result_text: str) -> None:  # fmt: skip
    scan_id = await new_scan(user, modern_event)
    stream = EventStream(user, f"/scan/{scan_id}/events")

    kind, first_id, snapshot = await stream.next()
    assert (kind, snapshot["launch_status"], snapshot["pixels_done"], snapshot["result"]) == ("state", "waiting", 0, None)

    assert snapshot["scan_state"] == "PENDING__PRESTARTUP"

    assert (await system.patch(f"/scan/manifest/{scan_id}", {"progress": progress_report(12, 768)})).status == 200
    kind, _, snapshot = await stream.next()  # the first pixels move the scan to its next state
    assert (kind, snapshot["scan_state"]) == ("state", "IN_PROGRESS__PARTIAL_RESULT_GENERATED")
    kind, _, snapshot = await stream.next()
    assert (kind, snapshot["pixels_done"], snapshot["pixels_predicted"]) == ("progress", 12, 768)

    body = b'{"is_final": true, "skyscan_result": ' + production_result_text.encode() + b"}"
    assert (await system.put(f"/scan/result/{scan_id}", raw=body)).status == 200
    (kind, _, _), (other_kind, _, snapshot) = await stream.next(), await stream.next()  # one read may see either first
    assert {kind, other_kind} == {"result", "state"}
    assert snapshot["result"]["is_final"] is True and snapshot["scan_state"] == "SCAN_HAS_FINAL_RESULT"

    assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
    kind, _, snapshot = await stream.next()
    assert (kind, snapshot["is_deleted"], snapshot["scan_state"], snapshot["is_terminal"]) == ("state", True, "SCAN_HAS_FINAL_RESULT", True)
    assert (await stream.next())[0] == "end"
    assert await stream.next() is None  # the server closed the stream
    assert (await stream.response).code == 200 and first_id


async def test_resuming_with_last_event_id_skips_what_was_seen(driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    scan_id = await new_scan(user, modern_event)
    first = EventStream(user, f"/scan/{scan_id}/events")
    _, seen_id, _ = await first.next()

    resumed = EventStream(user, f"/scan/{scan_id}/events", headers={"Last-Event-ID": seen_id})
    await asyncio.sleep(0.5)  # let the resumed stream subscribe before the change
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"progress": progress_report(5, 100)})).status == 200
    kind, _, snapshot = await resumed.next()  # not the "state" event it had already seen: the new one
    assert (kind, snapshot["scan_state"]) == ("state", "IN_PROGRESS__PARTIAL_RESULT_GENERATED")
    assert (await resumed.next())[0] == "progress"
    assert [(await first.next())[0], (await first.next())[0]] == ["state", "progress"]
    assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
    for stream in (first, resumed):
        assert [(await stream.next())[0], (await stream.next())[0], await stream.next()] == ["state", "end", None]


async def test_a_quiet_stream_gets_a_keepalive_comment(driver: SkyDriver, user: HttpClient, modern_event: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    assert KEEPALIVE_SECONDS == 15  # what proxies are kept from closing a quiet stream with; shortened for the test
    monkeypatch.setattr(ScanEventsHandler, "keepalive_seconds", 0.3)
    stream = EventStream(user, f"/scan/{await new_scan(user, modern_event)}/events")
    assert (await stream.next())[0] == "state"
    with pytest.raises(TimeoutError):  # nothing changes: no event, only comments
        await asyncio.wait_for(stream.next(), 1.6)
    assert 2 <= stream.comments <= 6  # one each 0.3 s (fewer when the machine is busy)


async def test_a_stream_on_one_replica_follows_changes_made_through_another(settings: Settings, user: HttpClient, system: HttpClient,
                                                                           driver: SkyDriver, modern_event: dict) -> None:  # fmt: skip
    """Streams and ?wait are served from the database: a second SkyDriver on it sees what the first stored."""
    replica = await start(dataclasses.replace(settings, instance="replica-b"))
    try:
        on_replica = HttpClient(replica.address, user.token)
        scan_id = await new_scan(user, modern_event)
        stream = EventStream(on_replica, f"/scan/{scan_id}/events")
        assert (await stream.next())[0] == "state"
        assert (await system.patch(f"/scan/manifest/{scan_id}", {"progress": progress_report(9, 90)})).status == 200
        assert [(await stream.next())[0], (await stream.next())[0]] == ["state", "progress"]

        waiting = asyncio.ensure_future(on_replica.get(f"/scan/manifest/{scan_id}", query={"include_event": "false", "wait": "30"}))
        await asyncio.sleep(1.5)
        assert not waiting.done()
        assert (await system.patch(f"/scan/manifest/{scan_id}", {"progress": progress_report(18, 90)})).status == 200
        assert (await waiting).json()["progress"]["tallies"]["est. scan percent"].startswith("18/90")
        kind, _, snapshot = await stream.next()
        assert (kind, snapshot["pixels_done"]) == ("progress", 18)

        assert (await user.delete(f"/scan/manifest/{scan_id}")).status == 200
        assert [(await stream.next())[0], (await stream.next())[0], await stream.next()] == ["state", "end", None]
    finally:
        await replica.stop()


async def test_a_stopping_skydriver_ends_open_streams_cleanly(driver: SkyDriver, user: HttpClient, modern_event: dict) -> None:
    stream = EventStream(user, f"/scan/{await new_scan(user, modern_event)}/events")
    assert (await stream.next())[0] == "state"
    await driver.stop()
    assert await stream.next() is None
    assert (await stream.response).code == 200  # a finished response, not a cut connection


async def test_streams_refuse_unknown_scans_and_outsiders(driver: SkyDriver, user: HttpClient, modern_event: dict) -> None:
    unknown = EventStream(user, f"/scan/{'0' * 32}/events")
    assert await unknown.next() is None and (await unknown.response).code == 404
    scan_id = await new_scan(user, modern_event)
    outsider = EventStream(HttpClient(driver.address, token("outsider")), f"/scan/{scan_id}/events")
    assert await outsider.next() is None and (await outsider.response).code == 403
    bad = EventStream(user, "/scan/not-a-scan-id/events")
    assert await bad.next() is None and (await bad.response).code == 400


async def test_manifest_wait_answers_when_the_scan_changes(driver: SkyDriver, user: HttpClient, system: HttpClient, modern_event: dict) -> None:
    scan_id = await new_scan(user, modern_event)
    waiting = asyncio.ensure_future(user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false", "wait": "30"}))
    await asyncio.sleep(1.5)
    assert not waiting.done()  # nothing changed yet
    assert (await system.patch(f"/scan/manifest/{scan_id}", {"progress": progress_report(7, 70)})).status == 200
    response = await waiting
    assert response.status == 200
    assert response.json()["progress"]["tallies"]["est. scan percent"].startswith("7/70")

    unchanged = await user.get(f"/scan/manifest/{scan_id}", query={"include_event": "false", "wait": "0.2"})
    assert unchanged.status == 200 and unchanged.json()["scan_id"] == scan_id
    too_long = await user.get(f"/scan/manifest/{scan_id}", query={"wait": "61"})
    assert too_long.status == 400 and "wait" in json.loads(too_long.body)["error"]


async def test_a_failure_reaches_the_stream_with_its_cause(driver: SkyDriver, user: HttpClient, modern_event: dict) -> None:
    scan_id = await new_scan(user, modern_event)
    manifests = driver.database.manifests  # launched (reconcile fails running scans only), by no launcher here
    assert await manifests.claim_for_launch(scan_id, 1, "none") and await manifests.mark_launched(scan_id, 1, {})
    stream = EventStream(user, f"/scan/{scan_id}/events")
    kind, _, snapshot = await stream.next()
    assert (kind, snapshot["failure"]) == ("state", None)

    message = "every worker of the scan's 1 HTCondor cluster is held or removed (3 held, 0 removed)"
    await fail(driver.database, scan_id, ScanFailure("htcondor", "ALL_WORKERS_HELD", message))  # as reconcile does

    kind, _, snapshot = await stream.next()
    status = (await user.get(f"/scan/{scan_id}/status")).json()
    assert (kind, snapshot["scan_state"], snapshot["is_terminal"]) == ("state", "FAILED__WAITING_ON_SCANNER_SERVER_STARTUP", True)
    assert snapshot["failure"] == status["failure"]  # the status's failure, as the status route shows it
    assert (snapshot["failure"]["source"], snapshot["failure"]["code"], snapshot["failure"]["message"]) == (
        "htcondor", "ALL_WORKERS_HELD", message
    )
    while kind != "end":  # the teardown that follows a failure (already done, or a "state" event more)
        kind, _, snapshot = await stream.next()
    assert snapshot["complete"] is True and snapshot["failure"] == status["failure"]
